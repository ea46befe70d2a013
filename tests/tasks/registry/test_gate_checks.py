"""The gate's slice and length-bias checks through the real registry: what blocks is named on the version."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rmcore.checks.compare import PromotionRule
from rmcore.checks.gate import GateChecks
from rmcore.evaluation.slices import slice_labels
from tasks.registry.gate import gate_and_promote
from tasks.registry.gate_inputs import BenchmarkGate, GateInputs
from tasks.registry.register import CHAMPION, aliases, register_candidate
from tasks.registry.report import decision_markdown
from tasks.tracking.store import client
from tests.tasks import mlflow_fixtures as fx

mlflow_home, tracking_uri, model_dirs = fx.mlflow_home, fx.tracking_uri, fx.model_dirs
RULE = PromotionRule(n_resamples=1000, first_champion_floor=None)
N_A, N_B = 300, 100


def scored(correct: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    margin = rng.uniform(0.5, 2.0, correct.size)
    return pd.DataFrame({"reward_chosen": np.where(correct > 0, margin, -margin), "reward_rejected": 0.0})


def eval_context(rng: np.random.Generator) -> tuple[dict, pd.DataFrame]:
    pairs = pd.DataFrame({"source": ["A"] * N_A + ["B"] * N_B})
    lengths = pd.DataFrame({"chosen": rng.integers(10, 400, N_A + N_B), "rejected": rng.integers(10, 400, N_A + N_B)})
    lengths["pair"] = lengths[["chosen", "rejected"]].max(axis=1)
    return slice_labels(pairs, lengths), lengths


def register(home, name: str, model_dir, lock) -> str:
    return register_candidate(fx.log_candidate(home, f"exp-{name}", model_dir), "model", name, {}, lock)


def test_better_overall_but_worse_on_one_slice_keeps_the_champion_and_names_the_slice(
    mlflow_home, tracking_uri, model_dirs
):
    rng = np.random.default_rng(0)
    labels, lengths = eval_context(rng)
    champion_scores = scored(np.concatenate([rng.random(N_A) < 0.70, rng.random(N_B) < 0.85]).astype(float), rng)
    challenger_scores = scored(np.concatenate([rng.random(N_A) < 0.92, rng.random(N_B) < 0.55]).astype(float), rng)
    name, lock = "rm-slices", mlflow_home / "registry.lock"
    first = register(mlflow_home, name, model_dirs["good"], lock)
    inputs = GateInputs(champion_scores, labels, lengths)
    first_correct = (champion_scores["reward_chosen"] > 0).to_numpy(float)
    checks = GateChecks()
    assert gate_and_promote(name, first, first_correct, lambda uri: None, RULE, lock, -1, checks, inputs).promote

    second = register(mlflow_home, name, model_dirs["bad"], lock)
    pinned = []

    def champion_scorer(uri: str) -> pd.DataFrame:
        pinned.append(uri)
        return champion_scores

    inputs = GateInputs(challenger_scores, labels, lengths)
    correct = (challenger_scores["reward_chosen"] > 0).to_numpy(float)
    decision = gate_and_promote(name, second, correct, champion_scorer, RULE, lock, -1, checks, inputs)

    assert pinned == [f"models:/{name}/{first}"]
    assert not decision.promote and decision.blocked_by == ["slice:source=B"]
    assert aliases(name)[CHAMPION] == first
    tags = client().get_model_version(name, second).tags
    assert tags["gate.decision"] == "rejected" and tags["gate.blocked_by"] == "slice:source=B"
    assert "slice source=B regresses" in tags["gate.reason"]
    assert decision.figures["slice.source_B.high"] < -checks.slice_tolerance  # each slice's figures: on the run
    assert "gate.slice.source_B.high" not in tags and "1 regress (source=B)" in tags["gate.slices"]
    assert float(tags["gate.diff_low"]) > 0  # better on the mean
    page = decision_markdown(decision, name, second)
    assert "Blocked by: `slice:source=B`" in page and "| source=B | 100 |" in page and "**regresses**" in page


def test_a_challenger_with_injected_length_bias_is_blocked_in_the_registry(mlflow_home, tracking_uri, model_dirs):
    rng = np.random.default_rng(1)
    n = 600
    lengths = pd.DataFrame({"chosen": rng.integers(50, 500, n)})
    lengths["rejected"] = lengths["chosen"] + np.where(rng.random(n) < 0.7, -40, 40)
    lengths["pair"] = lengths[["chosen", "rejected"]].max(axis=1)
    labels = slice_labels(pd.DataFrame(index=range(n)), lengths)
    quality = rng.normal(0.4, 1.0, n)
    champion_scores = pd.DataFrame({"reward_chosen": quality, "reward_rejected": 0.0})
    biased = pd.DataFrame(
        {"reward_chosen": quality + 0.008 * lengths["chosen"], "reward_rejected": 0.008 * lengths["rejected"]}
    )
    name, lock = "rm-length", mlflow_home / "registry.lock"
    first = register(mlflow_home, name, model_dirs["good"], lock)
    checks = GateChecks(slice_tolerance=1.0)  # only the length check can block here
    gate_and_promote(
        name, first, np.ones(n), lambda uri: None, RULE, lock, -1, checks, GateInputs(champion_scores, labels, lengths)
    )
    second = register(mlflow_home, name, model_dirs["bad"], lock)
    correct = (biased["reward_chosen"] > biased["reward_rejected"]).to_numpy(float)
    inputs = GateInputs(biased, labels, lengths)
    decision = gate_and_promote(name, second, correct, lambda uri: champion_scores, RULE, lock, -1, checks, inputs)

    assert decision.figures["challenger_accuracy"] > decision.figures["champion_accuracy"]
    assert not decision.promote and decision.blocked_by == ["length_bias"]
    tags = client().get_model_version(name, second).tags
    assert tags["gate.blocked_by"] == "length_bias" and float(tags["gate.length_bias.increase"]) > 0.1
    assert aliases(name)[CHAMPION] == first


def test_a_challenger_worse_on_a_pinned_benchmark_is_blocked_though_better_on_the_eval_pairs(
    mlflow_home, tracking_uri, model_dirs
):
    rng = np.random.default_rng(2)
    labels, lengths = eval_context(rng)
    n = N_A + N_B
    champion_eval = scored((rng.random(n) < 0.60).astype(float), rng)
    challenger_eval = scored((rng.random(n) < 0.80).astype(float), rng)
    on_benchmark = {"champion": scored((np.arange(200) < 170).astype(float), rng)}  # 0.85 there
    name, lock = "rm-bench", mlflow_home / "registry.lock"
    first = register(mlflow_home, name, model_dirs["good"], lock)
    gate_and_promote(name, first, np.ones(n), lambda uri: None, RULE, lock, -1, GateChecks(), None)
    second = register(mlflow_home, name, model_dirs["bad"], lock)
    benchmark = BenchmarkGate(
        name="tests",
        challenger_correct=(np.arange(200) < 120).astype(float),  # 0.60 on the same 200 pairs
        champion_scorer=lambda uri: on_benchmark["champion"],
    )
    inputs = GateInputs(challenger_eval, labels, lengths, benchmarks=[benchmark])
    checks = GateChecks(slice_tolerance=1.0, max_length_bias_increase=2.0, no_regression_on=["tests"])
    correct = (challenger_eval["reward_chosen"] > 0).to_numpy(float)

    decision = gate_and_promote(name, second, correct, lambda uri: champion_eval, RULE, lock, -1, checks, inputs)

    assert decision.figures["challenger_accuracy"] > decision.figures["champion_accuracy"]
    assert not decision.promote and decision.blocked_by == ["benchmark:tests"]
    tags = client().get_model_version(name, second).tags
    assert tags["gate.blocked_by"] == "benchmark:tests" and float(tags["gate.benchmark.tests.diff"]) < -0.2
    assert aliases(name)[CHAMPION] == first
