"""Which MLflow store a process uses, and how it reaches it.

One policy for every door (the flow, each command, the reward server, the inbox sensor): the store given
(`--tracking_uri`, the flow's `tracking_uri`), else $MLFLOW_TRACKING_URI, else the home's own SQLite file
(reached through the MLflow server `rewardflow up` runs for the home, where a door knows of one).
A door resolves it once with `resolve_tracking_uri` and makes the result MLflow's process-wide tracking and
registry store with `use_tracking`; everything below reads that store through `client()` and takes no URI
only to fall back to another. Kept apart from the run logging (`tasks.tracking.runs`) so that the policy
has one definition a reader finds by name, and a door that only opens a store imports nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from tasks.tracking.retry import RetryingClient, init_sqlite_store

MLFLOW_TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
SQLITE_PREFIX = "sqlite:///"


def default_tracking_uri(home: str | Path) -> str:
    """The embedded store of a pipeline home: `sqlite:///<home>/mlflow/mlflow.db`."""
    return f"{SQLITE_PREFIX}{Path(home).resolve() / 'mlflow' / 'mlflow.db'}"


def resolve_tracking_uri(tracking_uri: str | None, home: str | Path, served: str | None = None) -> str:
    """The MLflow store an entry point uses: the one given (`--tracking_uri`, the flow's `tracking_uri`),
    else $MLFLOW_TRACKING_URI, else `served`, else the home's own SQLite file (`default_tracking_uri`).

    The environment variable comes second because that is how MLflow users point every tool at a team
    server. `served` is the URL of a server that serves this home's file (the MLflow server `rewardflow up`
    runs): the same store, reached so that the links a run writes open in the UI. It only stands in for
    the file, so it never outranks a store the user named. The home's file comes last so that a fresh home
    needs no server at all.
    """
    return tracking_uri or os.environ.get(MLFLOW_TRACKING_URI_ENV) or served or default_tracking_uri(home)


def missing_store_file(uri: str) -> Path | None:
    """The SQLite file a `sqlite:///` URI names when it does not exist yet; None for a server or an existing file.

    A door that only reads (`rewardflow status`, `rewardflow models`) asks this before `use_tracking`,
    which would create the file: an empty home then says there is nothing yet instead of growing a store.
    """
    if not uri.startswith(SQLITE_PREFIX):
        return None
    path = Path(uri.removeprefix(SQLITE_PREFIX))
    return None if path.is_file() else path


def use_tracking(uri: str) -> str:
    """Make `uri` MLflow's process-wide tracking and registry store (so `models:/` URIs resolve there),
    creating a SQLite store under its lock. Returns `uri`.

    `mlflow.set_tracking_uri` also writes $MLFLOW_TRACKING_URI; it is put back as it was, so the variable
    keeps meaning what the user set and the next entry point in this process (`rewardflow run` after the
    flow, a test) resolves its own store instead of inheriting the last one chosen.
    """
    if uri.startswith(SQLITE_PREFIX):
        init_sqlite_store(uri)
    user_value = os.environ.get(MLFLOW_TRACKING_URI_ENV)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if user_value is None:
        os.environ.pop(MLFLOW_TRACKING_URI_ENV, None)
    else:
        os.environ[MLFLOW_TRACKING_URI_ENV] = user_value
    return uri


def client() -> MlflowClient:
    """A client for the process-wide tracking and registry store (see `use_tracking`), retrying on locks."""
    return store_client(mlflow.get_tracking_uri())


def store_client(uri: str) -> MlflowClient:
    """A client for the store at `uri`, retrying on locks: for a process no entry point opened a store in
    (a training worker of a distributed run)."""
    return RetryingClient(MlflowClient(tracking_uri=uri, registry_uri=uri))
