"""The registry step as one unit: register the candidate, gate it, and undo both if anything after fails.

The flow calls these tasks inside `with transaction():`. `register_candidate_task` stages its undo as an
`on_rollback` hook, so a failure anywhere later in the transaction (the gate, publishing or logging the
decision) deletes the new version and gives the aliases back, and the flow body carries no try/except.
A version that an earlier run of the same work registered is adopted, and never undone by this run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.transactions import Transaction, get_transaction

from rmcore.checks.compare import Decision, PromotionRule
from rmcore.checks.gate import GateChecks
from rmcore.models.scoring import ScoringConfig
from tasks.benchmark_scores import BenchmarkScore
from tasks.data.benchmarks import read_benchmark
from tasks.registry.gate import gate_and_promote
from tasks.registry.gate_inputs import BenchmarkGate, gate_inputs
from tasks.registry.lookup import find_version, version_run_id
from tasks.registry.register import (
    RegistryConfig,
    chat_template_tags,
    register_candidate,
    registry_lock,
    withdraw_candidate,
)
from tasks.registry.scorers import ModelsLoadedOnce, pairs_scorer
from tasks.tracking.logged_model import log_logged_model

UNDO = "undo-candidate"


@task(name="register-candidate", cache_policy=NO_CACHE)
def register_candidate_task(
    run_id: str,
    model_artifact_path: str,
    config: RegistryConfig,
    home: str,
    tags: dict | None = None,
    idempotency_key: str | None = None,
    model_dir: str | None = None,
    trust_remote_code: bool = False,
) -> str:
    """Register the run's model as a new version with alias `challenger` (once per idempotency key).

    With `model_dir`, the folder is logged first as the run's Logged Model and the version is made from
    it (`models:/<model_id>`), unless this work already has a version (its model was logged by the run
    that registered it). `trust_remote_code` is the training's: a LoRA adapter is merged before logging.
    """
    if model_dir is not None and (idempotency_key is None or find_version(config.name, idempotency_key) is None):
        model_artifact_path = log_logged_model(run_id, model_dir, config.name, trust_remote_code=trust_remote_code)
    if model_dir is not None:  # how the model saw conversations: a server must render with the same template
        tags = {**(tags or {}), **chat_template_tags(model_dir)}
    lock = config.resolved_lock_path(home)
    version = register_candidate(run_id, model_artifact_path, config.name, tags, lock, idempotency_key)
    transaction = get_transaction()
    if transaction is not None and version_run_id(config.name, version) == run_id:  # ours to undo
        transaction.set(UNDO, {"name": config.name, "version": version, "lock": lock, "timeout": config.lock_timeout})
    return version


@register_candidate_task.on_rollback
def _withdraw_on_rollback(transaction: Transaction) -> None:
    """The transaction failed after the registration: the registry as it was before this run.

    The gate may already have withdrawn the candidate itself; withdrawing a version that is gone is a no-op.
    """
    undo = transaction.get(UNDO, None)
    if undo is not None:
        with registry_lock(undo["lock"], undo["timeout"]):
            withdraw_candidate(undo["name"], undo["version"])


@task(name="gate-and-promote", cache_policy=NO_CACHE)
def gate_and_promote_task(
    version: str,
    scores_path: str,
    pairs_path: str,
    rule: PromotionRule,
    config: RegistryConfig,
    home: str,
    scoring: ScoringConfig = ScoringConfig(),
    checks: GateChecks | None = None,
    benchmarks: list[BenchmarkScore] | None = None,
) -> Decision:
    """Score the champion on the same eval pairs under the lock and promote the challenger only if it wins.

    `scores_path` is the challenger's `eval_scores.parquet` from `evaluate_model`, on `pairs_path`. With
    `checks`, no slice may regress and length bias may not grow beyond them either, nor may the challenger
    regress on a pinned benchmark of `checks.no_regression_on` (its scores there are in `benchmarks`).
    `scoring` is the run's: the champion is loaded and scored as the challenger was.
    """
    challenger_correct = pd.read_parquet(scores_path)["correct"].to_numpy(dtype=np.float64)
    lock, timeout = config.resolved_lock_path(home), config.lock_timeout
    champion = ModelsLoadedOnce(scoring)  # one load of the champion for the eval pairs and every benchmark
    scorer = pairs_scorer(pd.read_parquet(pairs_path), champion)  # in the store the flow made process-wide
    inputs = None
    if checks is not None:
        inputs = gate_inputs(scores_path, pairs_path)
        inputs.benchmarks = benchmark_gates(checks, benchmarks or [], champion)
    return gate_and_promote(
        config.name,
        version,
        challenger_correct=challenger_correct,
        champion_scorer=scorer,
        rule=rule,
        lock_path=lock,
        lock_timeout=timeout,
        checks=checks,
        inputs=inputs,
    )


def benchmark_gates(
    checks: GateChecks, scores: list[BenchmarkScore], champion: ModelsLoadedOnce
) -> list[BenchmarkGate]:
    """The benchmarks the challenger may not regress on, each with its outcomes and a champion scorer there.

    Every name in `checks.no_regression_on` is pinned and scored: the flow checks the names when it pins
    the run's benchmarks (`flows.steps.pin_run_benchmarks`), before any work, and scores every one pinned.
    The champion is scored on the very file the challenger was (`BenchmarkScore.benchmark`), not on what
    the home pins by now.
    """
    by_name = {score.name: score for score in scores}
    return [
        BenchmarkGate(
            name=name,
            challenger_correct=pd.read_parquet(by_name[name].scores_path)["correct"].to_numpy(dtype=np.float64),
            champion_scorer=pairs_scorer(read_benchmark(by_name[name].benchmark), champion),
        )
        for name in checks.no_regression_on
    ]
