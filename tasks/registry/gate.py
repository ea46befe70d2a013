"""Champion gate: promote a registered candidate to `champion` only if it beats the current one.

MLflow has no compare-and-set on aliases, so the read-compare-write runs under the registry's file lock
(`<home>/registry.lock`): two runs can never both read the same champion and both win. A failure
anywhere withdraws the candidate and puts the previous champion back (`register.withdraw_candidate`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mlflow.exceptions import MlflowException

from rmcore.checks.compare import Decision, PromotionRule, decide_promotion
from rmcore.checks.gate import (
    GateChecks,
    benchmark_check,
    decide_with_checks,
    outcomes,
    slice_summary,
    with_benchmark_checks,
)
from rmcore.models.normalization import describe_shift, scale_shift
from tasks.registry.gate_inputs import GateInputs
from tasks.registry.lookup import recorded_decision, version_reward_stats
from tasks.registry.register import (
    CHAMPION,
    CHAMPION_AT_GATE_TAG,
    aliases,
    registry_lock,
    withdraw_candidate,
    withdrawn_on_failure,
)
from tasks.registry.scorers import ModelScorer
from tasks.tracking.store import client


def decision_tags(decision: Decision, champion_version: str | None) -> dict[str, str]:
    """The decision and its figures as version tags: gate.decision, gate.reason, gate.<figure>."""
    tags = {
        "gate.decision": decision.label,
        "gate.reason": decision.reason[:4000],
        CHAMPION_AT_GATE_TAG: champion_version or "none",
        "gate.blocked_by": ",".join(decision.blocked_by)[:4000] or "none",
    }
    # Each slice's figures stay on the run (metrics and `gate/checks.json`); the version gets one summary,
    # so the registry's list of tags stays readable.
    figures = {k: v for k, v in decision.figures.items() if k != "champion_version" and not k.startswith("slice.")}
    tags.update({f"gate.{k}": f"{v:.6g}" for k, v in figures.items()})
    tags["gate.slices"] = slice_summary(decision)
    return tags


def _decide(
    name: str,
    champion: str | None,
    challenger_correct: np.ndarray,
    champion_scorer: ModelScorer,
    rule: PromotionRule,
    checks: GateChecks | None,
    inputs: GateInputs | None,
) -> Decision:
    """The overall rule alone, or with `checks` and `inputs` every check of `rmcore.checks.gate`, the pinned
    benchmarks of `checks.no_regression_on` included."""
    uri = None if champion is None else f"models:/{name}/{champion}"
    scored = None if uri is None else champion_scorer(uri)
    if checks is None or inputs is None:
        champion_correct = None if scored is None else scored["correct"].to_numpy(dtype=float)
        return decide_promotion(challenger_correct, champion_correct, rule)
    decision = decide_with_checks(inputs.challenger, scored, inputs.labels, inputs.lengths, rule, checks)
    if uri is None or not inputs.benchmarks:
        return decision
    rows = [
        benchmark_check(
            benchmark.name,
            benchmark.challenger_correct,
            outcomes(benchmark.champion_scorer(uri)),
            checks,
            n_resamples=rule.n_resamples,
            seed=rule.seed,
        )
        for benchmark in inputs.benchmarks
    ]
    return with_benchmark_checks(decision, rows, checks)


def gate_and_promote(
    name: str,
    version: str,
    challenger_correct: np.ndarray,
    champion_scorer: ModelScorer,
    rule: PromotionRule,
    lock_path: str | Path,
    lock_timeout: float = -1,
    checks: GateChecks | None = None,
    inputs: GateInputs | None = None,
) -> Decision:
    """Under the lock: score the current champion, decide, tag the version, move `champion` if it won.

    Args:
        challenger_correct: [N] per-pair outcomes (1 = chosen scored higher) of `version` on the eval pairs.
        champion_scorer: maps a model URI (`models:/NAME/VERSION`, pinned to the champion read under
            the lock) to its [N] scored frame (`tasks.registry.scorers.score_pairs`) on the same pairs in
            the same order.
        checks, inputs: the slice and length-bias checks, and the challenger's scores with the eval
            pairs' slices and lengths; None = the overall rule alone.

    A version is gated once: a retry or rerun of the same work gets the decision recorded on it, and a
    version that has one is never withdrawn here. A failure while deciding withdraws the candidate and
    gives `champion` back (`register.withdraw_candidate`).
    """
    lock = registry_lock(lock_path, lock_timeout)
    try:
        lock.acquire()
    except BaseException:  # timed out behind another gate: withdraw an undecided candidate rather than leave it
        if not _decided(name, version):
            withdraw_candidate(name, version)
        raise
    try:
        recorded = recorded_decision(name, version)
        if recorded is not None:
            return recorded
        with withdrawn_on_failure(name, version):
            return _gate_locked(name, version, challenger_correct, champion_scorer, rule, checks, inputs)
    finally:
        lock.release()


def _decided(name: str, version: str) -> bool:
    """Whether a gate already recorded a decision on the version (an earlier run of the same work)."""
    try:
        return recorded_decision(name, version) is not None
    except MlflowException:
        return False  # gone already: nothing of an earlier run's to keep


def _gate_locked(
    name: str,
    version: str,
    challenger_correct: np.ndarray,
    champion_scorer: ModelScorer,
    rule: PromotionRule,
    checks: GateChecks | None = None,
    inputs: GateInputs | None = None,
) -> Decision:
    """The read-compare-write; the caller holds the lock and withdraws the candidate if this fails."""
    champion = aliases(name).get(CHAMPION)
    decision = _decide(name, champion, challenger_correct, champion_scorer, rule, checks, inputs)
    decision.figures["champion_version"] = float(champion) if champion else float("nan")
    _add_scale_shift(decision, name, champion, version)
    mlflow_client = client()
    # Every tag before the alias moves: an undo gives `champion` back to the one `gate.champion_version` names.
    for key, value in decision_tags(decision, champion).items():
        mlflow_client.set_model_version_tag(name, version, key, value)
    if decision.promote:
        mlflow_client.set_registered_model_alias(name, CHAMPION, version)
    return decision


def _add_scale_shift(decision: Decision, name: str, champion: str | None, version: str) -> None:
    """The old -> new reward scale in the figures and the reason: a promotion moves an RL loop's reward/KL balance."""
    if champion is None:
        return
    shift = scale_shift(version_reward_stats(name, champion), version_reward_stats(name, version))
    decision.figures.update(shift)
    if shift:
        decision.reason = f"{decision.reason}; {describe_shift(shift)}"
