"""Held batches stay in the store, count as seen, and are left out of training until released."""

from __future__ import annotations

import pandas as pd
import pytest

from tasks.data.holds import hold_batch, read_holds, release_batch
from tasks.data.store import append_to_store, pair_id, read_store, stored_ids


def frame(tag: str, n: int) -> pd.DataFrame:
    rows = [{"chosen": f"good {tag} {i}", "rejected": f"bad {tag} {i}", "prompt": ""} for i in range(n)]
    return pd.DataFrame(rows).assign(
        pair_id=lambda d: [pair_id(c, r) for c, r in zip(d.chosen, d.rejected, strict=True)]
    )


def test_a_held_batch_is_stored_but_not_read_for_training_until_released(tmp_path):
    store = tmp_path / "store"
    append_to_store(store, frame("a", 5))
    held_file = append_to_store(store, frame("b", 3))
    hold_batch(store, "batchb0123", [str(held_file)], ["chosen_length_psi: PSI 3.1"], ["b.jsonl"])

    assert len(read_store(store)) == 5
    assert len(stored_ids(store)) == 8  # duplicates of the held pairs are still caught
    assert read_holds(store)["batchb0123"]["reasons"] == ["chosen_length_psi: PSI 3.1"]

    released = release_batch(store, "batchb")  # a unique prefix is enough
    assert released["batch"] == "batchb0123" and released["sources"] == ["b.jsonl"]
    assert len(read_store(store)) == 8 and read_holds(store) == {}


def test_releasing_an_unknown_batch_names_the_held_ones(tmp_path):
    store = tmp_path / "store"
    hold_batch(store, "abc", [], ["x"], [])
    with pytest.raises(ValueError, match=r"'zzz' is not a held batch .* held: abc"):
        release_batch(store, "zzz")
    with pytest.raises(ValueError, match="not a held batch"):
        release_batch(store, "")


def test_a_damaged_holds_file_is_named(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    (store / "holds.json").write_text("{not json")
    with pytest.raises(ValueError, match="holds.json: not valid JSON"):
        read_holds(store)
