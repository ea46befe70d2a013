"""Retries for a busy MLflow SQLite store, and creating that store once when many processes open it.

A locked SQLite store: MLflow waits 20 s (its busy_timeout) but SQLite refuses at once when two
transactions both want to upgrade to a write, and processes opening a fresh file together all run the
migrations. Calls that failed on a lock were rolled back, so retrying them is safe.
"""

from __future__ import annotations

import functools
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock
from mlflow import MlflowClient

RETRY_ATTEMPTS = 8
RETRY_BASE_DELAY = 0.1
RETRY_MAX_DELAY = 3.0
PERMANENT_MESSAGES = ("readonly database", "unable to open database file", "disk I/O error")
LOCKED_MESSAGES = ("database is locked", "database table is locked", "database schema is locked")


@functools.lru_cache(maxsize=32)
def init_sqlite_store(uri: str) -> None:
    """Create a SQLite store once, under a file lock, in WAL mode.

    Processes opening a fresh file at once would all run MLflow's migrations and trip over each
    other; WAL lets readers go on while one process writes, which makes "database is locked" rare.
    """
    db = Path(uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(db) + ".init.lock"):
        MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments(max_results=1)  # runs migrations
        with sqlite3.connect(db, timeout=30) as conn:
            conn.execute("PRAGMA journal_mode=WAL")


def is_locked_error(err: BaseException) -> bool:
    """A store that is busy right now (SQLite lock, MLflow's TEMPORARILY_UNAVAILABLE), worth a retry.

    MLflow reports every SQLite error as TEMPORARILY_UNAVAILABLE; a read-only store is not temporary.
    """
    if any(message in str(err) for message in PERMANENT_MESSAGES):
        return False
    if getattr(err, "error_code", None) == "TEMPORARILY_UNAVAILABLE":
        return True
    return any(message in str(err) for message in LOCKED_MESSAGES)


def with_retry(call: Callable, *args: Any, attempts: int = RETRY_ATTEMPTS, **kwargs: Any) -> Any:
    """`call(*args, **kwargs)`, retried with jittered exponential backoff while the store is locked."""
    for attempt in range(attempts):
        try:
            return call(*args, **kwargs)
        except Exception as err:
            if attempt == attempts - 1 or not is_locked_error(err):
                raise
            time.sleep(min(RETRY_MAX_DELAY, RETRY_BASE_DELAY * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")


class RetryingClient:
    """An `MlflowClient` whose every method retries on a locked store (see `with_retry`)."""

    def __init__(self, inner: MlflowClient) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute):
            return attribute
        return functools.partial(with_retry, attribute)
