"""tasks/data/quarantine.py: bad rows kept verbatim, one JSON object a line, in an atomically written file."""

from __future__ import annotations

import base64
import json
import re

from tasks.data.config import DataConfig
from tasks.data.load import read_pair_records
from tasks.data.quarantine import publish_rule_counts, rule_table, write_quarantine
from tasks.data.validate import validate_records


def test_every_bad_row_lands_in_the_quarantine_with_its_rules(bad_corpus, tmp_path):
    result = validate_records(read_pair_records([str(bad_corpus.folder)]), DataConfig(), set())
    path = write_quarantine(result.bad, tmp_path / "quarantine")
    assert re.fullmatch(r"quarantine-\d{8}T\d{6}-[0-9a-f]{12}\.jsonl", path.name)
    rows = [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]
    assert {(r["source_file"], r["line"]): r["rules"] for r in rows} == bad_corpus.bad
    assert all(set(r) == {"source_file", "line", "rules", "message", "raw", "raw_encoding"} for r in rows)
    utf8 = next(r for r in rows if r["raw_encoding"] == "base64")
    assert base64.b64decode(utf8["raw"]) == b'{"chosen": "caf\xe9", "rejected": "x"}'
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_rows_with_lone_surrogates_still_write(tmp_path):
    row = {"source_file": "a.csv", "line": 1, "rules": ["utf8"], "message": "m", "raw": {"chosen": "caf\udce9"}}
    path = write_quarantine([row], tmp_path)
    assert json.loads(path.read_text())["raw"]["chosen"] == "caf\udce9"


def test_nothing_bad_writes_nothing(tmp_path):
    assert write_quarantine([], tmp_path / "q") is None
    assert not (tmp_path / "q").exists()


def test_rule_table_and_no_artifact_outside_a_run():
    summary = {"read": 5, "good": 3, "quarantined": 2, "by_rule": {"utf8": 1, "duplicate": 1}}
    assert rule_table(summary) == [
        {"rule": "duplicate", "rows": 1},
        {"rule": "utf8", "rows": 1},
        {"rule": "(read)", "rows": 5},
        {"rule": "(good)", "rows": 3},
        {"rule": "(quarantined)", "rows": 2},
    ]
    assert publish_rule_counts(summary) is False
