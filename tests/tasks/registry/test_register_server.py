"""Tracking, registry and champion gate against a real `mlflow server` over HTTP, as a team runs it.

The server keeps its runs in SQLite here; with PostgreSQL (`--backend-store-uri postgresql://...`) and
S3 artifacts (`--artifacts-destination s3://...`) the client side is the same REST API, which this
exercises end to end: runs, params, artifact upload and download through the server's proxy
(`mlflow-artifacts:/`), model versions, aliases and `models:/` URIs.
"""

from __future__ import annotations

import socket
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pytest

from deployments.processes import log_tail, spawn, stop_group
from rmcore.checks.compare import PromotionRule
from tasks.registry.gate import gate_and_promote
from tasks.registry.models import load_model
from tasks.registry.register import CHALLENGER, CHAMPION, aliases, register_candidate
from tasks.registry.scorers import score_model, score_pairs
from tasks.tracking.runs import ensure_experiment, log_params, start_run
from tasks.tracking.store import client, use_tracking
from tests.tasks import mlflow_fixtures as fx
from tests.tasks.mlflow_fixtures import log_model_dir

model_dirs = fx.model_dirs
PAIRS = fx.synthetic_pairs()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, pid_log: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"mlflow server did not answer {url} in {timeout}s:\n{log_tail(pid_log)}")


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """`mlflow server` on 127.0.0.1 with a SQLite backend and proxied artifacts; stopped after the module."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    argv = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    argv += ["--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"]
    argv += ["--serve-artifacts", "--artifacts-destination", str(root / "artifacts")]
    log = str(root / "mlflow.log")
    pid = spawn(argv, {}, log, str(root))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/health", log)
        previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
        yield url, root
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    finally:
        stop_group(pid, timeout=10)


@pytest.mark.timeout(300)
def test_tracking_registry_and_gate_over_rest(mlflow_server, model_dirs, tmp_path):
    url, root = mlflow_server
    use_tracking(url)
    home, name, lock = tmp_path / "home", "rm-server", tmp_path / "registry.lock"

    experiment_id = ensure_experiment("server-exp", home)
    assert client().get_experiment(experiment_id).artifact_location.startswith("mlflow-artifacts:")
    runs = {}
    for label in ("good", "bad"):
        run_id = start_run(experiment_id, run_name=label)
        log_params(run_id, {"learning_rate": 1e-3, "hf_token": "secret"})
        log_model_dir(run_id, model_dirs[label], "model")
        client().set_terminated(run_id)
        runs[label] = run_id
    assert client().get_run(runs["good"]).data.params["learning_rate"] == "0.001"
    assert list((root / "artifacts").rglob("model.safetensors"))  # uploaded through the server's proxy

    def correct_vector(source: str, pairs) -> np.ndarray:
        return score_model(source, pairs)["correct"].to_numpy(dtype=float)

    def scorer(uri: str):
        return score_model(uri, PAIRS)

    good = register_candidate(runs["good"], "model", name, {"data_digest": "d1"}, lock)
    first = gate_and_promote(name, good, correct_vector(str(model_dirs["good"]), PAIRS), scorer, PromotionRule(), lock)
    bad = register_candidate(runs["bad"], "model", name, {"data_digest": "d2"}, lock)
    second = gate_and_promote(name, bad, correct_vector(str(model_dirs["bad"]), PAIRS), scorer, PromotionRule(), lock)

    assert first.promote and not second.promote
    assert aliases(name) == {CHAMPION: good, CHALLENGER: bad}
    assert client().get_model_version(name, bad).tags["gate.decision"] == "rejected"
    model, tokenizer = load_model(f"models:/{name}@{CHAMPION}")  # downloaded over HTTP
    reloaded = score_pairs(model, tokenizer, PAIRS)["correct"].to_numpy(dtype=float)
    np.testing.assert_array_equal(reloaded, correct_vector(str(model_dirs["good"]), PAIRS))
    assert Path(root / "mlflow.db").is_file()
