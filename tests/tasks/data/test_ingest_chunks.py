"""tasks/data/ingest.py chunk by chunk: the same counts, store and data hash as one pass, in bounded pieces."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.data.config import DataConfig
from tasks.data.ingest import ingest_files
from tasks.data.load import SourceError, read_pair_chunks
from tasks.data.store import data_hash, read_store
from tasks.data.validate import DataQualityError


def test_chunks_hold_at_most_chunk_rows_and_every_row_once(bad_corpus):
    chunks = list(read_pair_chunks(bad_corpus.files, chunk_rows=3))
    assert max(map(len, chunks)) == 3 and sum(map(len, chunks)) == bad_corpus.read
    assert len(chunks) == -(-bad_corpus.read // 3)


def test_chunk_rows_must_be_positive():
    with pytest.raises(ValueError, match="chunk_rows"):
        DataConfig(chunk_rows=0)


def test_small_chunks_give_the_same_counts_store_and_hash_as_one_chunk(bad_corpus, tmp_path):
    whole = ingest_files(bad_corpus.files, tmp_path / "whole", DataConfig())
    small = ingest_files(bad_corpus.files, tmp_path / "small", DataConfig(chunk_rows=2))
    assert whole.chunks == 1 and small.chunks > 5
    assert (small.read, small.good, small.quarantined, small.by_rule) == (
        whole.read,
        whole.good,
        whole.quarantined,
        whole.by_rule,
    )
    assert small.good + small.quarantined == small.read
    a, b = read_store(tmp_path / "whole" / "store"), read_store(tmp_path / "small" / "store")
    assert sorted(a.pair_id) == sorted(b.pair_id) and small.data_hash == whole.data_hash == data_hash(a)
    assert len(Path(small.quarantine_path).read_text(encoding="utf-8").splitlines()) == small.quarantined
    assert len(small.store_files) > 1 and not list((tmp_path / "small" / "store").glob(".staging-*"))


def test_a_repeat_in_a_later_chunk_is_a_duplicate_not_a_stored_one(tmp_path, write_pairs):
    rows = [{"chosen": "a", "rejected": "b"}, {"chosen": "c", "rejected": "d"}, {"chosen": "a", "rejected": "b"}]
    rows.append({"chosen": "d", "rejected": "c"})  # chosen and rejected of row 2 swapped
    path = write_pairs(tmp_path / "d.jsonl", rows)
    report = ingest_files([str(path)], tmp_path / "home", DataConfig(chunk_rows=2, min_good_fraction=0.5))
    assert report.by_rule == {"duplicate": 1, "swapped_duplicate": 1} and report.good == 2


def test_a_refused_batch_stores_no_chunk(tmp_path, write_pairs):
    rows = [{"chosen": "a", "rejected": "b"}] + [{"chosen": "x", "rejected": "x"}] * 5
    path = write_pairs(tmp_path / "mostly-bad.jsonl", rows)
    with pytest.raises(DataQualityError, match="quarantine-"):
        ingest_files([str(path)], tmp_path / "home", DataConfig(chunk_rows=1))
    store = tmp_path / "home" / "store"
    assert read_store(store).empty and not list(store.glob(".staging-*"))
    assert len(list((tmp_path / "home" / "quarantine").glob("quarantine-*.jsonl"))) == 1


def test_an_unreadable_later_source_leaves_nothing_behind(tmp_path, write_pairs):
    good = write_pairs(tmp_path / "a.jsonl", [{"chosen": f"c{i}", "rejected": f"r{i}"} for i in range(5)])
    broken = tmp_path / "b.parquet"
    broken.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(SourceError, match="b.parquet"):
        ingest_files([str(good), str(broken)], tmp_path / "home", DataConfig(chunk_rows=2))
    home = tmp_path / "home"
    assert read_store(home / "store").empty and not list((home / "store").glob(".staging-*"))
    assert not list(home.glob("quarantine/*"))


def test_a_missing_later_source_fails_before_any_row_is_read(tmp_path, write_pairs):
    good = write_pairs(tmp_path / "a.jsonl", [{"chosen": "a", "rejected": "b"}])
    chunks = read_pair_chunks([str(good), str(tmp_path / "missing.jsonl")], chunk_rows=1)
    with pytest.raises(SourceError, match="missing.jsonl"):
        next(chunks)
