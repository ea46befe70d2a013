"""Session-wide fixtures: one Prefect test server, one MLflow SQLite store, the shared real pairs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hh-rlhf-harmless-base-1800.jsonl.gz"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The 1,800 real hh-rlhf pairs beside the project; tests that need them skip where they are absent."""
    if not SHARED_DATA.is_file():
        pytest.skip(f"shared hh-rlhf pairs not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def no_tracking_uri_in_the_environment(monkeypatch):
    """Every test starts without $MLFLOW_TRACKING_URI: the entry points read it (`resolve_tracking_uri`),
    so one set in the shell, or left by a test that called `mlflow.set_tracking_uri`, would send a test's
    runs to that store instead of its own home's."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory) -> str:
    """One SQLite tracking URI for the session: a fresh file pays MLflow's migrations once."""
    from tasks.tracking.store import client, default_tracking_uri, use_tracking

    home = tmp_path_factory.getbasetemp() / "shared-mlflow-home"  # the same file as tests/tasks/mlflow_fixtures.py
    home.mkdir(exist_ok=True)
    uri = use_tracking(default_tracking_uri(home))
    client().search_experiments(max_results=1)  # runs the migrations now
    return uri


@pytest.fixture(scope="session")
def prefect_harness():
    """A real Prefect API server on 127.0.0.1 with a temporary database, shared by the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    with prefect_test_harness(server_startup_timeout=120):
        yield
