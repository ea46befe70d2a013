"""The ingest health check on real store files: a batch of much longer replies is held."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.data.health import batch_health, health_rows, record_hold
from tasks.data.holds import read_holds
from tasks.data.store import append_to_store, pair_id, read_store


def pairs(tag: str, n: int, stretch: int = 1, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        words = int(rng.integers(5, 40))
        prompt = f"\n\nHuman: question {tag} {i:04d}?\n\nAssistant:"
        rows.append({"prompt": prompt, "chosen": " yes" * words * stretch, "rejected": " no" * words * stretch})
    df = pd.DataFrame(rows)
    return df.assign(pair_id=[pair_id(c, r, p) for c, r, p in zip(df.chosen, df.rejected, df.prompt, strict=True)])


def test_a_batch_with_replies_three_times_longer_is_held_and_left_out_of_training(tmp_path):
    store = tmp_path / "store"
    append_to_store(store, pairs("old", 400))
    same = append_to_store(store, pairs("new", 100, seed=1))
    report = batch_health(store, [str(same)], {}, 100)
    assert report.status == "ok", report.reasons

    longer = append_to_store(store, pairs("big", 100, stretch=3, seed=2))
    report = batch_health(store, [str(longer)], {"duplicate_of_stored": 5}, 105)
    assert report.status == "hold"
    assert record_hold(store, "long-batch", report, [str(longer)], ["long.jsonl"])
    assert "long-batch" in read_holds(store)
    assert len(read_store(store)) == 500  # the held 100 are stored but not trained on
    rows = {row["check"]: row for row in health_rows(report.to_dict())}
    assert rows["chosen_length_psi"]["status"] == "hold"
    assert rows["duplicate_rate"]["value"] == pytest.approx(5 / 105)


def test_the_champion_is_asked_about_the_batch(tmp_path):
    store = tmp_path / "store"
    append_to_store(store, pairs("old", 200))
    batch = append_to_store(store, pairs("new", 60, seed=3))
    asked = []

    def champion(frame: pd.DataFrame):
        asked.append(len(frame))
        return np.zeros(len(frame)), 0.7  # at zero on the new pairs, 0.7 held out

    report = batch_health(store, [str(batch)], {}, 60, champion=champion)
    assert asked == [60]
    assert report.status == "hold" and any(r.startswith("champion_accuracy_drop") for r in report.reasons)


def test_on_the_shared_pairs_a_random_batch_is_ok_and_tripled_replies_hold(tmp_path, shared_data):
    from rmcore.checks.data_health import assess_batch
    from rmcore.evaluation.length_bias import split_prompt

    rows = pd.read_json(shared_data, lines=True).sample(frac=1.0, random_state=0).reset_index(drop=True)
    store, batch = rows.iloc[:1500], rows.iloc[1500:].reset_index(drop=True)
    assert assess_batch(batch, store).status == "ok"
    parts = [split_prompt(c, r) for c, r in zip(batch.chosen, batch.rejected, strict=True)]
    tripled = pd.DataFrame({"chosen": [p + c * 3 for p, c, _ in parts], "rejected": [p + r * 3 for p, _, r in parts]})
    report = assess_batch(tripled, store)
    assert report.status == "hold"
    assert {"chosen_length_psi", "rejected_length_psi"} <= {c.name for c in report.checks if c.status == "hold"}
