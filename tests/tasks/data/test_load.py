"""tasks/data/load.py: every row read with its origin, bad rows as records (never a crash), all formats."""

from __future__ import annotations

import gzip
import json
import math
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.data.config import DataConfig
from tasks.data.load import SourceError, read_pair_records
from tasks.data.records import score_margin
from tasks.data.validate import validate_records


def test_corpus_rows_all_read_with_origin(bad_corpus):
    records = read_pair_records([str(bad_corpus.folder)])
    assert {(r.source_file, r.line) for r in records} == set(bad_corpus.good) | set(bad_corpus.bad)
    assert len(records) == bad_corpus.read


def test_bom_and_crlf_are_stripped(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"chosen": "a", "rejected": "b"}\r\n{"chosen": "c", "rejected": "d"}\r\n')
    records = read_pair_records([str(path)])
    assert [r.fields for r in records] == [{"chosen": "a", "rejected": "b"}, {"chosen": "c", "rejected": "d"}]
    assert records[0].raw == b'{"chosen": "a", "rejected": "b"}'


def test_broken_lines_become_records_with_their_rule(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_bytes(b'{"chosen": \n\xff\xfe\n"a string"\n\n{"chosen": "a", "rejected": "b"}\n')
    records = read_pair_records([str(path)])
    assert [(r.line, r.rule) for r in records] == [(1, "json_parse"), (2, "utf8"), (3, "json_parse"), (5, None)]
    assert records[1].raw == b"\xff\xfe" and "0xff" in records[1].error


def test_truncated_gzip_keeps_complete_lines(bad_corpus):
    path = str(bad_corpus.folder / "cut.jsonl.gz")
    records = read_pair_records([path])
    expected_good = sorted(line for f, line in bad_corpus.good if f == path)
    assert [r.line for r in records if r.rule is None] == expected_good
    assert [r.rule for r in records if r.rule] == ["truncated_file"]
    assert records[-1].line == expected_good[-1] + 1


def test_concatenated_gzip_members_are_read(tmp_path):
    path = tmp_path / "two.jsonl.gz"
    first = gzip.compress(b'{"chosen": "a", "rejected": "b"}\n')
    second = gzip.compress(b'{"chosen": "c", "rejected": "d"}\n')
    path.write_bytes(first + second)
    records = read_pair_records([str(path)])
    assert [r.fields["chosen"] for r in records] == ["a", "c"] and all(r.rule is None for r in records)


def test_empty_files_give_no_records(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "empty.jsonl.gz").write_bytes(b"")
    assert read_pair_records([str(tmp_path)]) == []


def test_score_columns_give_margin_and_margin_wins(tmp_path, write_pairs):
    path = write_pairs(
        tmp_path / "scores.jsonl",
        [
            {"chosen": "a", "rejected": "b", "score_chosen": 7, "score_rejected": 2.5},
            {"chosen": "c", "rejected": "d", "score_chosen": 7, "score_rejected": 2.5, "margin": 1.0},
        ],
    )
    records = read_pair_records([str(path)])
    assert [r.fields["margin"] for r in records] == [4.5, 1.0]
    assert score_margin("7", 1) == {"score_chosen": "7", "score_rejected": 1}
    assert score_margin(10**400, 0) == math.inf


def test_csv_parquet_and_json_array(tmp_path):
    pd.DataFrame({"chosen": ["a", "c"], "rejected": ["b", "d"], "margin": [0.5, None]}).to_csv(
        tmp_path / "p.csv", index=False
    )
    pd.DataFrame({"prompt": ["q"], "chosen": ["e"], "rejected": ["f"]}).to_parquet(tmp_path / "p.parquet")
    (tmp_path / "p.json").write_text(json.dumps([{"chosen": "g", "rejected": "h"}, [1]]))
    records = read_pair_records([str(tmp_path)])
    by_file = {(Path(r.source_file).suffix, r.line): r for r in records}
    assert by_file[(".csv", 1)].fields == {"chosen": "a", "rejected": "b", "margin": 0.5}
    assert by_file[(".csv", 2)].fields["margin"] is None
    assert by_file[(".parquet", 1)].fields == {"prompt": "q", "chosen": "e", "rejected": "f"}
    assert by_file[(".json", 1)].fields == {"chosen": "g", "rejected": "h"}
    assert by_file[(".json", 2)].rule == "json_parse"
    assert len(records) == 5


def test_csv_with_bad_bytes_keeps_the_row(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"chosen,rejected\ncaf\xe9,tea\n")
    (record,) = read_pair_records([str(path)])
    assert record.fields["chosen"] == "caf\udce9"  # surrogate-escaped: the validator's utf8 rule refuses it


def test_missing_file_and_unreadable_parquet_name_the_file(tmp_path):
    with pytest.raises(SourceError, match="nope.jsonl: no such file"):
        read_pair_records([str(tmp_path / "nope.jsonl")])
    (tmp_path / "fake.parquet").write_bytes(b"not parquet")
    with pytest.raises(SourceError, match="fake.parquet: cannot read as Parquet"):
        read_pair_records([str(tmp_path / "fake.parquet")])


def test_hub_id_offline_says_so(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SourceError, match="Anthropic/hh-rlhf: .*hub dataset.*Offline"):
        read_pair_records(["Anthropic/hh-rlhf"])


def test_real_shared_pairs_all_read(shared_pairs):
    records = read_pair_records([str(shared_pairs)])
    assert len(records) == 1800
    assert all(r.rule is None and {"chosen", "rejected"} <= set(r.fields) for r in records)


_LINE = st.binary(max_size=60).map(lambda b: b.replace(b"\n", b""))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(st.one_of(_LINE, st.just(b'{"chosen": "a", "rejected": "b"}')), max_size=20))
def test_random_byte_lines_never_crash_and_never_lose_a_row(lines):
    """Every non-blank line is one record, in order, whatever its bytes (blank lines are not rows)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "random.jsonl"
        path.write_bytes(b"\n".join(lines))
        records = read_pair_records([str(path)])
    expected = []
    for number, raw in enumerate(lines, start=1):
        raw = raw.removesuffix(b"\r")
        raw = raw.removeprefix(b"\xef\xbb\xbf") if number == 1 else raw
        if raw.strip():
            expected.append(number)
    assert [r.line for r in records] == expected
    assert all((r.fields is None) == (r.rule is not None) for r in records)
    result = validate_records(records, DataConfig(), set())
    assert len(result.good) + len(result.bad) == result.read == len(records)


@settings(max_examples=50, deadline=None)
@given(lines=st.lists(_LINE, max_size=10), cut=st.floats(0.0, 1.0))
def test_random_cut_gzip_never_crashes(lines, cut):
    data = gzip.compress(b"\n".join(lines))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "random.jsonl.gz"
        path.write_bytes(data[: int(len(data) * cut)])
        records = read_pair_records([str(path)])
    assert len(records) <= len(lines) + 1
    assert [r.line for r in records] == sorted({r.line for r in records})
