"""rewardflow/validate_cmd.py: counts as a table or one JSON object; non-zero only for nothing good or no file."""

from __future__ import annotations

import json

from rewardflow.validate_cmd import main


def run_json(argv, capsys) -> tuple[int, dict, str]:
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_json_counts_add_up(bad_corpus, capsys):
    code, out, _ = run_json(bad_corpus.files, capsys)
    assert code == 0
    assert (out["read"], out["good"], out["quarantined"]) == (
        bad_corpus.read,
        len(bad_corpus.good),
        len(bad_corpus.bad),
    )
    assert out["by_rule"]["margin_finite"] == 4 and out["by_rule"]["utf8"] == 2
    assert out["quarantine_file"] is None


def test_quarantine_dir_gets_the_bad_rows(bad_corpus, tmp_path, capsys):
    code, out, _ = run_json([str(bad_corpus.folder), "--quarantine", str(tmp_path / "q")], capsys)
    assert code == 0
    lines = open(out["quarantine_file"], encoding="utf-8").read().splitlines()
    assert len(lines) == out["quarantined"] == len(bad_corpus.bad)


def test_max_row_bytes_flag(tmp_path, write_pairs, capsys):
    path = write_pairs(tmp_path / "p.jsonl", [{"chosen": "a" * 100, "rejected": "b"}, {"chosen": "c", "rejected": "d"}])
    code, out, err = run_json([str(path), "--max-row-bytes", "50"], capsys)
    assert code == 0 and out["by_rule"] == {"row_size": 1} and out["good"] == 1
    assert "warning" not in err  # 1 of 2 good is not under the default 0.5


def test_nothing_good_exits_1(tmp_path, write_pairs, capsys):
    path = write_pairs(tmp_path / "bad.jsonl", [{"chosen": "same", "rejected": "same"}])
    code, out, err = run_json([str(path)], capsys)
    assert code == 1 and out["good"] == 0
    assert "no good preference pair in" in err and "bad.jsonl" in err


def test_few_good_warns_but_exits_0(tmp_path, write_pairs, capsys):
    path = write_pairs(
        tmp_path / "mostly_bad.jsonl", [{"chosen": "x", "rejected": "x"}] * 3 + [{"chosen": "a", "rejected": "b"}]
    )
    code, out, err = run_json([str(path)], capsys)
    assert code == 0 and out["good"] == 1 and "warning: only 25.0%" in err


def test_missing_file_exits_2_naming_it(tmp_path, capsys):
    code = main([str(tmp_path / "absent.jsonl")])
    assert code == 2 and "absent.jsonl: no such file" in capsys.readouterr().err


def test_bad_config_value_exits_2(bad_corpus, capsys):
    assert main([*bad_corpus.files, "--min-good-fraction", "2"]) == 2
    assert "min_good_fraction must be between 0 and 1, got 2.0" in capsys.readouterr().err


def test_table_output(bad_corpus, capsys):
    assert main(bad_corpus.files) == 0
    out = capsys.readouterr().out
    assert "margin_finite" in out and "quarantined" in out and str(bad_corpus.read) in out


def test_dispatch_through_the_rewardflow_command(bad_corpus, capsys):
    from rewardflow.cli import main as rewardflow

    assert rewardflow(["validate", *bad_corpus.files, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["read"] == bad_corpus.read
