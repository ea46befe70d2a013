"""Batch health figures on hand-made and shifted batches."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd
import pytest

from rmcore.checks.data_health import HealthConfig, assess_batch, categorical_psi, ks_statistic, psi


def pairs(n: int, rng: np.random.Generator, stretch: float = 1.0, source: str | None = None) -> pd.DataFrame:
    """n pairs with a prompt and replies of random word counts (`stretch` times longer)."""

    def reply(tag: str) -> str:
        return " ".join([tag] * int(rng.integers(5, 60) * stretch))

    rows = [{"prompt": "q " * int(rng.integers(3, 30)), "chosen": reply("c"), "rejected": reply("r")} for i in range(n)]
    frame = pd.DataFrame(rows)
    if source is not None:
        frame["source"] = source
    return frame


def test_categorical_psi_of_hand_made_shares():
    # (0.8 - 0.5) ln(0.8 / 0.5) + (0.2 - 0.5) ln(0.2 / 0.5) = 0.1410 + 0.2749
    assert categorical_psi(np.array([0.5, 0.5]), np.array([0.8, 0.2])) == pytest.approx(0.4159, abs=1e-4)
    assert categorical_psi(np.array([0.3, 0.7]), np.array([0.3, 0.7])) == 0.0


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    reference = rng.normal(100, 20, 5000)
    assert psi(reference, rng.normal(100, 20, 2000)) < 0.02
    assert psi(reference, rng.normal(300, 60, 2000)) > 5


def test_ks_statistic_of_hand_made_samples():
    assert ks_statistic([1, 2, 3, 4], [3, 4, 5, 6]) == 0.5
    assert ks_statistic([1, 2, 3], [1, 2, 3]) == 0.0


def test_a_batch_like_the_store_is_ok():
    rng = np.random.default_rng(1)
    report = assess_batch(pairs(300, rng), pairs(1000, rng))
    assert report.status == "ok", report.reasons
    assert {c.name for c in report.checks} >= {"prompt_length_psi", "chosen_length_psi", "duplicate_rate"}


def test_a_batch_with_replies_three_times_longer_is_held():
    rng = np.random.default_rng(2)
    report = assess_batch(pairs(300, rng, stretch=3.0), pairs(1000, rng))
    assert report.status == "hold"
    held = {c.name for c in report.checks if c.status == "hold"}
    assert {"chosen_length_psi", "rejected_length_psi"} <= held
    assert "prompt_length_psi" not in held
    assert any("median 2." in r or "median 3." in r for r in report.reasons)
    assert report.figures()["health.status"] == 2.0


def test_few_pairs_can_warn_but_never_hold():
    rng = np.random.default_rng(3)
    report = assess_batch(pairs(5, rng, stretch=3.0), pairs(1000, rng), HealthConfig(min_pairs=20))
    assert report.status == "warn"


def test_duplicates_and_a_new_source_are_flagged():
    rng = np.random.default_rng(4)
    batch, store = pairs(200, rng, source="new-vendor"), pairs(800, rng, source="hh")
    report = assess_batch(batch, store, duplicates=300, read=500)
    by_name = {c.name: c for c in report.checks}
    assert by_name["duplicate_rate"].value == pytest.approx(0.6) and by_name["duplicate_rate"].status == "warn"
    strict = assess_batch(batch, store, HealthConfig(duplicate_hold=0.5), duplicates=300, read=500)
    assert next(c for c in strict.checks if c.name == "duplicate_rate").status == "hold"
    assert by_name["category_psi"].status == "hold" and "new: new-vendor" in by_name["category_psi"].detail


def test_a_champion_at_chance_on_the_batch_holds_it():
    rng = np.random.default_rng(5)
    batch = pairs(200, rng)
    at_chance = (rng.random(200) < 0.5).astype(float)
    report = assess_batch(batch, pairs(500, rng), champion_correct=at_chance, champion_heldout_accuracy=0.72)
    check = next(c for c in report.checks if c.name == "champion_accuracy_drop")
    assert check.status == "hold" and check.value == pytest.approx(0.72 - at_chance.mean())
    fine = assess_batch(
        batch, pairs(500, rng), champion_correct=np.ones(200) * (rng.random(200) < 0.7), champion_heldout_accuracy=0.72
    )
    assert next(c for c in fine.checks if c.name == "champion_accuracy_drop").status == "ok"


def test_the_first_batch_has_nothing_to_compare_with():
    rng = np.random.default_rng(6)
    report = assess_batch(pairs(50, rng), pd.DataFrame(columns=["chosen", "rejected"]))
    assert report.status == "ok" and [c.name for c in report.checks] == ["duplicate_rate"]


def test_health_config_errors_name_the_field_and_round_trip():
    with pytest.raises(ValueError, match="HealthConfig.length_psi_warn"):
        HealthConfig(length_psi_warn=0.5, length_psi_hold=0.2)
    with pytest.raises(ValueError, match="HealthConfig.min_pairs"):
        HealthConfig(min_pairs=-1)
    config = HealthConfig(category_columns=["topic"])
    assert pickle.loads(pickle.dumps(config)) == config == copy.deepcopy(config)
