"""The gate's slice and length-bias checks on constructed champions and challengers."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd
import pytest

from rmcore.checks.compare import Decision, PromotionRule
from rmcore.checks.gate import GateChecks, decide_with_checks, outcomes
from rmcore.evaluation.slices import slice_labels

RULE = PromotionRule(n_resamples=1000)


def scored_from(correct: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Rewards whose ranking is right exactly where `correct` is 1."""
    margin = rng.uniform(0.5, 2.0, correct.size)
    return pd.DataFrame({"reward_chosen": np.where(correct > 0, margin, -margin), "reward_rejected": 0.0})


def eval_pairs(n_a: int, n_b: int, rng: np.random.Generator):
    """Slices: source A and B; reply lengths independent of everything else."""
    n = n_a + n_b
    pairs = pd.DataFrame({"source": ["A"] * n_a + ["B"] * n_b})
    lengths = pd.DataFrame({"chosen": rng.integers(10, 400, n), "rejected": rng.integers(10, 400, n)})
    lengths["pair"] = lengths[["chosen", "rejected"]].max(axis=1)
    return pairs, lengths, slice_labels(pairs, lengths)


def bernoulli(rates: list[tuple[int, float]], rng: np.random.Generator) -> np.ndarray:
    return np.concatenate([(rng.random(n) < p).astype(float) for n, p in rates])


def test_better_overall_but_worse_on_one_slice_is_not_promoted_and_the_slice_is_named():
    rng = np.random.default_rng(0)
    pairs, lengths, labels = eval_pairs(300, 100, rng)
    champion = scored_from(bernoulli([(300, 0.70), (100, 0.85)], rng), rng)
    challenger = scored_from(bernoulli([(300, 0.92), (100, 0.55)], rng), rng)
    assert outcomes(challenger).mean() > outcomes(champion).mean() + 0.05  # better on the mean

    decision = decide_with_checks(challenger, champion, labels, lengths, RULE, GateChecks())
    assert not decision.promote
    assert decision.blocked_by == ["slice:source=B"]
    assert "slice source=B regresses (100 pairs)" in decision.reason
    assert decision.figures["slice.source_B.high"] < -0.03
    assert decision.figures["diff_low"] > 0  # the overall check alone would have promoted it
    overall = next(c for c in decision.checks if c["check"] == "overall")
    assert overall["passed"]


def test_a_challenger_with_injected_length_bias_is_blocked():
    rng = np.random.default_rng(1)
    n = 600
    pairs = pd.DataFrame(index=range(n))
    lengths = pd.DataFrame({"chosen": rng.integers(50, 500, n)})
    # Chosen is the longer reply in about 70% of pairs, so preferring length also raises accuracy.
    lengths["rejected"] = lengths["chosen"] + np.where(rng.random(n) < 0.7, -40, 40)
    lengths["pair"] = lengths[["chosen", "rejected"]].max(axis=1)
    labels = slice_labels(pairs, lengths)
    quality = rng.normal(0.4, 1.0, n)  # the champion's margin: right on ~65% of pairs
    champion = pd.DataFrame({"reward_chosen": quality, "reward_rejected": 0.0})
    biased = 0.008  # reward per character of reply: +-0.32 between the two replies
    challenger = pd.DataFrame(
        {
            "reward_chosen": quality + biased * lengths["chosen"],
            "reward_rejected": biased * lengths["rejected"],
        }
    )
    decision = decide_with_checks(challenger, champion, labels, lengths, RULE, GateChecks(slice_tolerance=1.0))
    assert decision.figures["challenger_accuracy"] > decision.figures["champion_accuracy"]
    assert not decision.promote
    assert decision.blocked_by == ["length_bias"]
    assert decision.figures["length_bias.increase"] > 0.1
    assert "length bias worse" in decision.reason


def test_a_challenger_better_everywhere_is_promoted_with_every_check_recorded():
    rng = np.random.default_rng(2)
    pairs, lengths, labels = eval_pairs(200, 200, rng)
    champion_correct = bernoulli([(400, 0.6)], rng)
    challenger_correct = np.maximum(champion_correct, bernoulli([(400, 0.5)], rng))  # never worse on a pair
    champion, challenger = scored_from(champion_correct, rng), scored_from(challenger_correct, rng)
    decision = decide_with_checks(challenger, champion, labels, lengths, RULE, GateChecks())
    assert decision.promote and decision.blocked_by == []
    assert "none of" in decision.reason and "slices" in decision.reason
    names = {c["name"] for c in decision.checks if c["check"] == "slice"}
    assert {"source=A", "source=B", "length=q1", "chosen_longer=yes"} <= names
    assert any(c["check"] == "length_bias" for c in decision.checks)


def test_a_small_slice_is_reported_but_does_not_block():
    rng = np.random.default_rng(3)
    pairs, lengths, labels = eval_pairs(380, 20, rng)
    champion = scored_from(np.concatenate([bernoulli([(380, 0.6)], rng), np.ones(20)]), rng)
    challenger = scored_from(np.concatenate([bernoulli([(380, 0.9)], rng), np.zeros(20)]), rng)
    decision = decide_with_checks(challenger, champion, labels, lengths, RULE, GateChecks(min_slice_pairs=40))
    small = next(c for c in decision.checks if c.get("name") == "source=B")
    assert small["diff"] == -1.0 and not small["checked"] and not small["regressed"]
    assert "slice:source=B" not in decision.blocked_by
    strict = decide_with_checks(challenger, champion, labels, lengths, RULE, GateChecks(min_slice_pairs=0))
    assert "slice:source=B" in strict.blocked_by


def test_an_equal_challenger_is_blocked_by_the_overall_check_only():
    rng = np.random.default_rng(4)
    pairs, lengths, labels = eval_pairs(200, 200, rng)
    model = scored_from(bernoulli([(400, 0.7)], rng), rng)
    decision = decide_with_checks(model, model.copy(), labels, lengths, RULE, GateChecks())
    assert not decision.promote and decision.blocked_by == ["overall"]


def test_without_a_champion_the_first_model_is_promoted():
    rng = np.random.default_rng(5)
    pairs, lengths, labels = eval_pairs(50, 50, rng)
    decision = decide_with_checks(scored_from(np.ones(100), rng), None, labels, lengths, RULE, GateChecks())
    assert decision.promote and decision.blocked_by == [] and decision.checks[0]["check"] == "overall"


@pytest.mark.parametrize(
    ("field", "value"),
    [("min_slice_pairs", -1), ("slice_tolerance", 1.5), ("slice_confidence", 1.0), ("max_length_bias_increase", 3)],
)
def test_gate_checks_errors_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"GateChecks.{field}"):
        GateChecks(**{field: value})


def test_gate_checks_round_trip():
    checks = GateChecks(min_slice_pairs=10)
    assert pickle.loads(pickle.dumps(checks)) == checks == copy.deepcopy(checks)


def test_a_benchmark_regression_blocks_and_is_named():
    from rmcore.checks.gate import benchmark_check, with_benchmark_checks

    checks = GateChecks(no_regression_on=["tests"])
    champion = np.array([1.0] * 80 + [0.0] * 20)
    worse = np.array([1.0] * 50 + [0.0] * 50)
    row = benchmark_check("tests", worse, champion, checks, n_resamples=500)
    assert row["regressed"] and row["high"] < 0
    passed = Decision(True, "better: overall", {"diff": 0.1})
    decision = with_benchmark_checks(passed, [row], checks)
    assert not decision.promote
    assert decision.blocked_by == ["benchmark:tests"]
    assert "benchmark tests regresses (100 pairs)" in decision.reason
    assert decision.figures["benchmark.tests.diff"] == pytest.approx(-0.3)


def test_an_equal_benchmark_score_does_not_block():
    from rmcore.checks.gate import benchmark_check, with_benchmark_checks

    checks = GateChecks(no_regression_on=["tests"])
    same = np.array([1.0] * 70 + [0.0] * 30)
    row = benchmark_check("tests", same, same.copy(), checks, n_resamples=500)
    decision = with_benchmark_checks(Decision(True, "better", {}), [row], checks)
    assert decision.promote and decision.blocked_by == []
    assert decision.checks[-1]["check"] == "benchmark"
