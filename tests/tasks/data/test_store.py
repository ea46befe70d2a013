"""tasks/data/store.py: stable ids, a split decided by the hash, atomic content-named files, deduplicated reads."""

from __future__ import annotations

import hashlib

import pandas as pd

from tasks.data.store import append_to_store, data_hash, pair_id, read_store, split_of, store_files, stored_ids


def frame(pairs: list[tuple[str, str]], **extra) -> pd.DataFrame:
    df = pd.DataFrame({"chosen": [c for c, _ in pairs], "rejected": [r for _, r in pairs]})
    df["pair_id"] = [pair_id(c, r) for c, r in pairs]
    return df.assign(**extra)


def test_pair_id_is_sha256_of_prompt_chosen_rejected():
    expected = hashlib.sha256(b'["", "good", "bad"]').hexdigest()
    assert pair_id("good", "bad") == expected
    assert pair_id("good", "bad", "Q") == hashlib.sha256(b'["Q", "good", "bad"]').hexdigest()
    assert pair_id("bad", "good") != expected
    assert pair_id("a|b", "c") != pair_id("a", "b|c")


def test_split_is_stable_near_the_fraction_and_monotone():
    ids = [pair_id(f"chosen {i}", f"rejected {i}") for i in range(4000)]
    at_10 = {i for i in ids if split_of(i, 0.1) == "eval"}
    at_20 = {i for i in ids if split_of(i, 0.2) == "eval"}
    assert 0.08 < len(at_10) / len(ids) < 0.12
    assert at_10 < at_20  # raising the fraction only moves pairs train -> eval
    assert all(split_of(i, 0.1) == ("eval" if i in at_10 else "train") for i in ids[:100])
    assert {split_of(i, 0.0) for i in ids} == {"train"} and {split_of(i, 1.0) for i in ids} == {"eval"}


def test_data_hash_ignores_row_order():
    df = frame([("a", "b"), ("c", "d")])
    assert data_hash(df) == data_hash(df.iloc[::-1])
    assert data_hash(df) != data_hash(df.iloc[:1])


def test_append_writes_one_file_per_content_atomically(tmp_path):
    store = tmp_path / "store"
    df = frame([("a", "b"), ("c", "d")])
    first = append_to_store(store, df)
    assert first.name == f"pairs-{data_hash(df)[:16]}.parquet"
    assert append_to_store(store, df.iloc[::-1]) == first  # same content: nothing new
    assert store_files(store) == [first]
    assert [p.name for p in store.iterdir()] == [first.name]  # no temp file left behind
    assert append_to_store(store, df.iloc[:0]) is None


def test_read_store_dedups_fills_and_splits(tmp_path):
    store = tmp_path / "store"
    append_to_store(store, frame([("a", "b"), ("c", "d")]))
    append_to_store(store, frame([("a", "b"), ("e", "f")], margin=[1.0, 2.0], prompt=["", "Q"]))
    df = read_store(store, eval_fraction=0.5)
    assert sorted(df.chosen) == ["a", "c", "e"]
    assert df.pair_id.is_unique
    assert dict(zip(df.chosen, df.margin, strict=True))["c"] == 0.0
    assert dict(zip(df.chosen, df.prompt, strict=True))["c"] == ""
    assert df.split.tolist() == [split_of(i, 0.5) for i in df.pair_id]
    assert stored_ids(store) == set(df.pair_id)


def test_empty_store_reads_empty(tmp_path):
    assert read_store(tmp_path / "none").empty
    assert stored_ids(tmp_path / "none") == set()
