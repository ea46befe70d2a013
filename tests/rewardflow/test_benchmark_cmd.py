"""`rewardflow benchmark`: pin, list and remove the fixed evaluation files of a home."""

from __future__ import annotations

import json

from rewardflow import cli
from tests.tasks.data.test_benchmarks import write_pairs


def test_add_list_remove_round_trip(tmp_path, capsys):
    home = str(tmp_path / "home")
    source = write_pairs(tmp_path / "tests.jsonl", 24)
    assert cli.main(["benchmark", "add", str(source), "--home", home]) == 0
    assert "Pinned benchmark 'tests': 24 pairs" in capsys.readouterr().out

    assert cli.main(["benchmark", "list", "--home", home, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["benchmarks"]
    assert [(b["name"], b["n_pairs"]) for b in listed] == [("tests", 24)]

    assert cli.main(["benchmark", "remove", "tests", "--home", home]) == 0
    assert "Removed benchmark 'tests'" in capsys.readouterr().out
    assert cli.main(["benchmark", "list", "--home", home]) == 0
    assert "0 pinned benchmark(s)" in capsys.readouterr().out


def test_a_taken_name_fails_in_one_line_naming_the_fix(tmp_path, capsys):
    home = str(tmp_path / "home")
    first = write_pairs(tmp_path / "a.jsonl", 24)
    assert cli.main(["benchmark", "add", str(first), "--name", "x", "--home", home]) == 0
    other = write_pairs(tmp_path / "b.jsonl", 24, start=50)
    assert cli.main(["benchmark", "add", str(other), "--name", "x", "--home", home]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("rewardflow benchmark: benchmark 'x' is already pinned with other pairs")
    assert "no benchmark was pinned or removed" in last
