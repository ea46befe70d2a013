"""Every route by which a run fails takes its candidate back through `register.withdraw_candidate`, under the
registry lock, and leaves the registry as it was; a version an earlier run decided on is never taken back."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from filelock import FileLock, Timeout
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from prefect.transactions import transaction

from rmcore.checks.compare import PromotionRule
from tasks.registry.gate import gate_and_promote
from tasks.registry.promotion import register_candidate_task
from tasks.registry.register import (
    CHALLENGER,
    CHAMPION,
    RegistryConfig,
    RegistryUnavailableError,
    aliases,
    register_candidate,
    registry_lock,
)
from tasks.registry.scorers import score_model
from tasks.tracking.store import client
from tests.tasks import mlflow_fixtures as fx

RULE = PromotionRule(first_champion_floor=None)
PAIRS = fx.synthetic_pairs()

mlflow_home, tracking_uri, model_dirs = fx.mlflow_home, fx.tracking_uri, fx.model_dirs


def scorer(uri: str) -> pd.DataFrame:
    return score_model(uri, PAIRS)


def correct(model_dir: Path) -> np.ndarray:
    return score_model(str(model_dir), PAIRS)["correct"].to_numpy(dtype=float)


def registry(name: str) -> tuple[list[str], dict[str, str]]:
    return sorted(str(v.version) for v in client().search_model_versions(f"name='{name}'")), aliases(name)


def lock_is_held(lock: Path) -> bool:
    """Whether someone holds the registry lock now (a second open of the file cannot take it at once)."""
    probe = FileLock(str(lock), timeout=0)
    try:
        probe.acquire()
    except Timeout:
        return True
    probe.release()
    return False


def spy_on_deletions(monkeypatch, lock: Path) -> list[bool]:
    """For each version the store deletes, whether the registry lock was held at that moment."""
    held: list[bool] = []
    delete = MlflowClient.delete_model_version

    def spying(self, name, version):
        held.append(lock_is_held(lock))
        return delete(self, name, version)

    monkeypatch.setattr(MlflowClient, "delete_model_version", spying)
    return held


def fail_registration(monkeypatch) -> None:
    """The store fails the first `challenger` move, after the version was created."""
    move = MlflowClient.set_registered_model_alias
    failed: list[bool] = []

    def flaky(self, name, alias, version):
        if alias == CHALLENGER and not failed:
            failed.append(True)
            raise MlflowException("tracking server went away")
        return move(self, name, alias, version)

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", flaky)


def broken_scorer(uri: str) -> pd.DataFrame:
    raise RuntimeError("champion could not be scored")


@pytest.mark.parametrize("route", ["registration", "gate", "after the gate"])
def test_every_failure_route_withdraws_under_the_lock_and_leaves_the_registry_as_it_was(
    route, mlflow_home, tracking_uri, model_dirs, monkeypatch
):
    """Inject a failure while registering, while gating, and after a promotion (the flow's transaction)."""
    name, lock = f"rm-withdraw-{route.replace(' ', '-')}", mlflow_home / "registry.lock"
    config, home = RegistryConfig(name=name), str(mlflow_home)
    first = register_candidate(fx.log_candidate(mlflow_home, f"exp-{name}", model_dirs["bad"]), "model", name, {}, lock)
    assert gate_and_promote(name, first, correct(model_dirs["bad"]), scorer, RULE, lock).promote
    before = registry(name)
    assert before == ([first], {CHAMPION: first, CHALLENGER: first})
    run_id = fx.log_candidate(mlflow_home, f"exp-{name}", model_dirs["good"])
    deletions = spy_on_deletions(monkeypatch, lock)

    if route == "registration":
        fail_registration(monkeypatch)
        with pytest.raises(RegistryUnavailableError, match="The registry is unchanged"):
            register_candidate(run_id, "model", name, {}, lock)
    elif route == "gate":
        second = register_candidate(run_id, "model", name, {}, lock)
        with pytest.raises(RuntimeError, match="could not be scored"):
            gate_and_promote(name, second, correct(model_dirs["good"]), broken_scorer, RULE, lock)
    else:
        with transaction() as staged:  # as the flow does: the registration stages its undo
            second = register_candidate_task.fn(run_id, "model", config, home)
            assert gate_and_promote(name, second, correct(model_dirs["good"]), scorer, RULE, lock).promote
        assert aliases(name)[CHAMPION] == second
        for hook in register_candidate_task.on_rollback_hooks:  # what Prefect runs when the transaction fails
            hook(staged)

    assert deletions == [True], "the candidate is deleted once, under the registry lock"
    assert registry(name) == before


def test_a_withdrawal_that_fails_too_says_the_version_may_remain_and_a_retry_adopts_it(
    mlflow_home, tracking_uri, model_dirs, monkeypatch
):
    name, lock = "rm-withdraw-orphan", mlflow_home / "registry.lock"
    run_id = fx.log_candidate(mlflow_home, f"exp-{name}", model_dirs["good"])
    fail_registration(monkeypatch)

    def store_gone(self, name, version):
        raise MlflowException("tracking server went away")

    monkeypatch.setattr(MlflowClient, "delete_model_version", store_gone)
    with pytest.raises(RegistryUnavailableError) as failure:
        register_candidate(run_id, "model", name, {}, lock, idempotency_key="k-orphan")
    monkeypatch.undo()
    (orphan,), _ = registry(name)
    assert f"Version {orphan} may remain as an orphan; a retry adopts it" in str(failure.value)

    assert register_candidate(run_id, "model", name, {}, lock, idempotency_key="k-orphan") == orphan
    assert registry(name)[0] == [orphan]


def test_a_rerun_whose_gate_times_out_keeps_the_version_an_earlier_run_decided_on(
    mlflow_home, tracking_uri, model_dirs
):
    """Inject: a rerun of finished work adopts its champion version, then waits too long for another gate."""
    name, lock = "rm-withdraw-decided", mlflow_home / "registry.lock"
    run_id = fx.log_candidate(mlflow_home, f"exp-{name}", model_dirs["good"])
    first = register_candidate(run_id, "model", name, {}, lock, idempotency_key="k-decided")
    assert gate_and_promote(name, first, correct(model_dirs["good"]), scorer, RULE, lock).promote
    before = registry(name)
    adopted = register_candidate(run_id, "model", name, {}, lock, idempotency_key="k-decided")
    assert adopted == first
    held, release = threading.Event(), threading.Event()

    def other_gate() -> None:
        with registry_lock(lock):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=other_gate)
    holder.start()
    assert held.wait(30)
    try:
        with pytest.raises(TimeoutError):
            gate_and_promote(name, adopted, correct(model_dirs["good"]), scorer, RULE, lock, lock_timeout=0.2)
    finally:
        release.set()
        holder.join(30)
    assert registry(name) == before
