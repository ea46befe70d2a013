"""Faults at register time, against a real MLflow SQLite store: the server is unreachable, the store is locked.

Checks: an unreachable registry fails with a message naming the store and saying the registry is
unchanged, and it is; a retry registers exactly once (the idempotency key finds the first version);
a store locked by another writer is waited for and retried, never reported as "database is locked".
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import fault_helpers as fh
import pytest
from mlflow.exceptions import MlflowException

from tasks.registry.idempotency import IDEMPOTENCY_TAG
from tasks.registry.promotion import register_candidate_task
from tasks.registry.register import RegistryConfig, RegistryUnavailableError
from tasks.tracking.retry import with_retry
from tasks.tracking.store import client, use_tracking


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Path, str, Path]:
    """(home, SQLite URI, a tiny model folder) for this module."""
    home = tmp_path_factory.mktemp("registry-faults")
    uri = fh.sqlite_store(home)
    return home, uri, fh.save_tiny_model(home / "tiny-model")


def test_unreachable_registry_fails_clearly_then_retry_registers_exactly_once(store, monkeypatch):
    """Inject: the registry URI points at a closed port while registering. Check message, no change, one retry."""
    home, uri, model_dir = store
    config, key = RegistryConfig(name="rm-unreachable"), "k-unreachable"
    run_id = fh.logged_candidate(home, "exp-unreachable", model_dir)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail now, not after MLflow's own backoff
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    down = use_tracking(f"http://127.0.0.1:{fh.free_port()}")
    try:
        with pytest.raises(RegistryUnavailableError) as failure:
            register_candidate_task.fn(run_id, "model", config, str(home), {"data_hash": "d"}, idempotency_key=key)
    finally:
        use_tracking(uri)
    message = str(failure.value)
    assert down in message and run_id in message and "registry is unchanged" in message
    assert "retry or rerun" in message
    assert fh.registry_state(config.name) == ([], {})

    first = register_candidate_task.fn(run_id, "model", config, str(home), {"data_hash": "d"}, idempotency_key=key)
    retried = register_candidate_task.fn(run_id, "model", config, str(home), {"data_hash": "d"}, idempotency_key=key)
    assert retried == first
    assert fh.registry_state(config.name) == ([first], {"challenger": first})
    assert client().get_model_version(config.name, first).tags[IDEMPOTENCY_TAG] == key


def test_other_work_gets_its_own_version(store):
    """Inject: a second registration with a different idempotency key. Check it is a new version (no false dedup)."""
    home, _, model_dir = store
    config = RegistryConfig(name="rm-two-keys")
    run_id = fh.logged_candidate(home, "exp-two-keys", model_dir)
    first = register_candidate_task.fn(run_id, "model", config, str(home), idempotency_key="k-one")
    second = register_candidate_task.fn(run_id, "model", config, str(home), idempotency_key="k-two")
    assert first != second
    assert fh.registry_state(config.name)[0] == sorted([first, second])


def test_store_locked_by_another_writer_is_waited_for(store):
    """Inject: another process-like connection holds an exclusive SQLite lock for 2 s. Check registration succeeds."""
    home, uri, model_dir = store
    config = RegistryConfig(name="rm-locked")
    run_id = fh.logged_candidate(home, "exp-locked", model_dir)
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        conn = sqlite3.connect(uri.removeprefix("sqlite:///"), timeout=30, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait(2.0)
        conn.execute("COMMIT")
        conn.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(10)
    started = time.monotonic()
    version = register_candidate_task.fn(run_id, "model", config, str(home), idempotency_key="k-locked")
    holder.join()
    assert time.monotonic() - started >= 1.0, "the registration must have waited for the lock"
    assert fh.registry_state(config.name) == ([version], {"challenger": version})


def test_with_retry_retries_only_locked_errors():
    """Inject: a call that fails twice with "database is locked", and one that fails with another error."""
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise MlflowException("(sqlite3.OperationalError) database is locked")
        return "ok"

    assert with_retry(flaky) == "ok" and len(calls) == 3
    calls.clear()

    def broken() -> None:
        calls.append(1)
        raise MlflowException("RESOURCE_DOES_NOT_EXIST: no such model")

    with pytest.raises(MlflowException, match="no such model"):
        with_retry(broken)
    assert len(calls) == 1
