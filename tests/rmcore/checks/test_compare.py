"""The champion gate's statistics on hand-made outcome vectors."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from rmcore.checks.compare import Decision, PromotionRule, decide_promotion, paired_bootstrap


def outcomes(ones: int, n: int) -> np.ndarray:
    """n outcomes of which the first `ones` are correct."""
    return np.array([1.0] * ones + [0.0] * (n - ones))


def test_paired_bootstrap_identical_vectors_give_a_zero_interval():
    a = outcomes(60, 100)
    assert paired_bootstrap(a, a, n_resamples=500) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_interval_brackets_the_observed_difference():
    rng = np.random.default_rng(1)
    challenger = (rng.random(400) < 0.7).astype(float)
    champion = (rng.random(400) < 0.6).astype(float)
    diff, low, high = paired_bootstrap(challenger, champion, n_resamples=1000, seed=3)
    assert diff == pytest.approx(challenger.mean() - champion.mean())
    assert low < diff < high
    # Standard error of a paired difference of two ~0.65 Bernoullis over 400 pairs is ~0.034.
    assert 0.05 < high - low < 0.25


def test_paired_bootstrap_is_reproducible_by_seed_and_spans_more_than_one_chunk():
    # Real-valued inputs: with 0/1 outcomes the quantiles land on the same lattice points for any seed.
    rng = np.random.default_rng(0)
    a, b = rng.random(50), rng.random(50)
    assert paired_bootstrap(a, b, 700, 0.9, seed=5) == paired_bootstrap(a, b, 700, 0.9, seed=5)
    assert paired_bootstrap(a, b, 700, 0.9, seed=5) != paired_bootstrap(a, b, 700, 0.9, seed=6)


def test_no_champion_promotes_a_first_model_above_the_floor():
    decision = decide_promotion(outcomes(75, 100), None, PromotionRule())
    assert decision.promote, decision.reason
    assert "first model" in decision.reason
    assert decision.figures["challenger_accuracy"] == 0.75
    assert decision.figures["accuracy_low"] > 0.5


@pytest.mark.parametrize(("ones", "n"), [(3, 4), (50, 100), (58, 100)])
def test_a_first_model_at_chance_is_registered_not_promoted(ones, n):
    """0.75 on 4 pairs or 0.58 on 100 is not measurably better than a coin: the floor says why."""
    decision = decide_promotion(outcomes(ones, n), None, PromotionRule())
    assert not decision.promote
    assert "floor 0.5" in decision.reason and "first_champion_floor" in decision.reason
    assert decision.figures["accuracy_low"] <= 0.5


def test_the_floor_can_be_switched_off_for_any_first_model():
    assert decide_promotion(outcomes(3, 4), None, PromotionRule(first_champion_floor=None)).promote
    assert decide_promotion(outcomes(58, 100), None, PromotionRule(first_champion_floor=0.4)).promote


def test_clearly_better_challenger_is_promoted():
    decision = decide_promotion(outcomes(90, 100), outcomes(50, 100), PromotionRule())
    assert decision.promote, decision.reason
    assert decision.figures["diff"] == pytest.approx(0.4)
    assert decision.figures["diff_low"] > 0


def test_equal_challenger_is_not_promoted():
    a = outcomes(70, 100)
    decision = decide_promotion(a, a.copy(), PromotionRule())
    assert not decision.promote
    assert decision.reason.startswith("equal")
    assert not decide_promotion(a, a.copy(), PromotionRule(rule="min_delta")).promote


def test_worse_challenger_is_not_promoted_under_either_rule():
    for rule in (PromotionRule(), PromotionRule(rule="min_delta")):
        decision = decide_promotion(outcomes(40, 100), outcomes(80, 100), rule)
        assert not decision.promote
        assert decision.reason.startswith("worse")
        assert decision.figures["diff"] == pytest.approx(-0.4)


def test_tiny_gain_is_rejected_by_the_bootstrap_but_accepted_by_min_delta_zero():
    champion = outcomes(100, 200)
    challenger = champion.copy()
    challenger[150] = 1.0  # one more pair right out of 200: +0.005
    boot = decide_promotion(challenger, champion, PromotionRule())
    plain = decide_promotion(challenger, champion, PromotionRule(rule="min_delta", min_delta=0.0))
    assert not boot.promote
    assert boot.figures["diff_low"] <= 0
    assert "not significantly better" in boot.reason
    assert plain.promote
    assert not decide_promotion(challenger, champion, PromotionRule(rule="min_delta", min_delta=0.01)).promote


@pytest.mark.parametrize(
    ("challenger", "champion", "words"),
    [
        (np.array([1.0, np.nan, 0.0]), np.array([0.0, 0.0, 0.0]), "NaN"),
        (np.array([1.0, 1.0]), np.array([0.0, np.inf]), "NaN"),
        (np.array([]), np.array([]), "empty"),
        (np.array([1.0, 1.0, 1.0]), np.array([0.0, 0.0]), "different pairs"),
    ],
)
def test_incomparable_outcomes_are_not_promoted(challenger, champion, words):
    decision = decide_promotion(challenger, champion, PromotionRule())
    assert not decision.promote
    assert words in decision.reason


def test_first_model_with_nan_outcomes_is_not_promoted():
    decision = decide_promotion(np.array([np.nan, 1.0]), None, PromotionRule())
    assert not decision.promote
    assert "NaN" in decision.reason


def test_missing_challenger_is_not_promoted():
    assert not decide_promotion(None, outcomes(1, 2), PromotionRule()).promote


@pytest.mark.parametrize(
    ("kwargs", "field_name"),
    [
        ({"rule": "vibes"}, "rule"),
        ({"min_delta": -0.1}, "min_delta"),
        ({"confidence": 1.0}, "confidence"),
        ({"n_resamples": 0}, "n_resamples"),
        ({"first_champion_floor": 1.5}, "first_champion_floor"),
    ],
)
def test_promotion_rule_errors_name_the_field_and_value(kwargs, field_name):
    with pytest.raises(ValueError, match=field_name) as err:
        PromotionRule(**kwargs)
    assert str(next(iter(kwargs.values()))) in str(err.value)


def test_configs_round_trip_through_copy_and_pickle():
    rule = PromotionRule(rule="min_delta", min_delta=0.02)
    decision = Decision(True, "x", {"diff": 0.1})
    for obj in (rule, decision):
        assert copy.deepcopy(obj) == obj
        assert pickle.loads(pickle.dumps(obj)) == obj
    assert decision.to_dict() == {
        "promote": True,
        "reason": "x",
        "figures": {"diff": 0.1},
        "checks": [],
        "blocked_by": [],
    }
