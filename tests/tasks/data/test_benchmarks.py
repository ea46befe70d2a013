"""Pinned benchmarks: validated once, frozen under the home, never silently replaced."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tasks.data.benchmarks import pin_benchmark, pinned_benchmarks, read_benchmark, remove_benchmark
from tasks.data.files import BadRowsError


def write_pairs(path: Path, n: int, start: int = 0) -> Path:
    rows = [
        {"chosen": f"\n\nHuman: q{i}\n\nAssistant: good {i}", "rejected": f"\n\nHuman: q{i}\n\nAssistant: bad {i}"}
        for i in range(start, start + n)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_a_pinned_benchmark_is_frozen_and_listed(tmp_path):
    source = write_pairs(tmp_path / "held.jsonl", 30)
    pinned = pin_benchmark(tmp_path / "home", str(source))
    assert pinned.name == "held" and pinned.n_pairs == 30
    source.write_text("")  # the source may change or vanish: the frozen pairs stay
    assert [b.name for b in pinned_benchmarks(tmp_path / "home")] == ["held"]
    frozen = read_benchmark(pinned)
    assert isinstance(frozen, pd.DataFrame) and len(frozen) == 30
    assert frozen["chosen"].iloc[0].endswith("good 0")


def test_pinning_the_same_pairs_again_is_a_no_op_and_other_pairs_are_refused(tmp_path):
    home = tmp_path / "home"
    first = pin_benchmark(home, str(write_pairs(tmp_path / "a.jsonl", 30)), name="tests")
    assert pin_benchmark(home, str(write_pairs(tmp_path / "b.jsonl", 30)), name="tests") == first
    with pytest.raises(ValueError, match="already pinned with other pairs.*rewardflow benchmark remove tests"):
        pin_benchmark(home, str(write_pairs(tmp_path / "c.jsonl", 30, start=100)), name="tests")
    assert remove_benchmark(home, "tests") and pinned_benchmarks(home) == []


@pytest.mark.parametrize(("name", "n", "message"), [("bad name!", 30, "benchmark name"), ("ok", 5, "at least 20")])
def test_bad_names_and_tiny_files_are_refused_before_anything_is_written(tmp_path, name, n, message):
    with pytest.raises(ValueError, match=message):
        pin_benchmark(tmp_path / "home", str(write_pairs(tmp_path / "p.jsonl", n)), name=name)
    assert pinned_benchmarks(tmp_path / "home") == []


def test_a_benchmark_with_a_bad_row_is_refused_naming_the_row(tmp_path):
    source = write_pairs(tmp_path / "p.jsonl", 30)
    source.write_text(source.read_text() + '{"chosen": "same", "rejected": "same"}\n')
    with pytest.raises(BadRowsError, match="p.jsonl:31"):
        pin_benchmark(tmp_path / "home", str(source))
    assert not (tmp_path / "home" / "benchmarks").exists() or pinned_benchmarks(tmp_path / "home") == []


def test_a_benchmark_unpinned_while_a_run_holds_it_is_named_with_the_way_back(tmp_path):
    home = tmp_path / "home"
    source = write_pairs(tmp_path / "bench.jsonl", 40)
    held = pin_benchmark(home, str(source), "bench")  # what a run scored its challenger on
    assert remove_benchmark(home, "bench")
    with pytest.raises(
        FileNotFoundError, match=r"benchmark 'bench'.*rewardflow benchmark add .*bench\.jsonl --name bench"
    ):
        read_benchmark(held)
