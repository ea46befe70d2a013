"""The UIs as a browser shows them: headless Chromium opens the MLflow page of a finished run and the
Prefect page of a flow run; the REST calls behind those pages return the loss curve's history, the
logit table and the gate artifact. Skipped where no Chromium is installed (`apt-get install chromium`).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from rmcore.compare import Decision
from tasks.tracking.run_view import log_logit_table, name_run
from tasks.tracking.runs import client, ensure_experiment, start_run
from tasks.tracking.series import MlflowSeriesCallback
from tests.tasks import mlflow_fixtures as fx
from tests.tasks.training.test_progress import tiny_trainer

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium (apt-get install chromium)")
RUN_NAME = "reward-model 2026-12-01 02:00 v1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def rendered(url: str, budget_ms: int = 30000) -> str:
    """The page's DOM after its scripts ran for `budget_ms` of virtual time."""
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    argv += [f"--virtual-time-budget={budget_ms}", "--dump-dom", url]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180).stdout


@pytest.fixture
def finished_run(tmp_path):
    """A run like the flow's: trained with the series callback, the logit table logged, a readable name."""
    home = tmp_path / "home"
    uri = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    from tasks.tracking.runs import use_tracking

    use_tracking(uri)
    experiment_id = ensure_experiment("ui-browser", home, uri)
    run_id = start_run(experiment_id, "draft", tracking_uri=uri)
    tiny_trainer(tmp_path / "train", MlflowSeriesCallback(run_id, uri), max_steps=4).train()
    table = tmp_path / "eval_logit_table.json"
    rows = fx.synthetic_pairs(3).assign(reward_chosen=[1.0, 2.0, 3.0], reward_rejected=[0.0, 0.5, 4.0])
    table.write_text(rows.to_json(orient="records"))
    log_logit_table(run_id, [str(table)], uri)
    name_run(run_id, RUN_NAME, uri)
    client(uri).set_terminated(run_id)
    return home, experiment_id, run_id


@pytest.fixture
def mlflow_ui(finished_run):
    home, experiment_id, run_id = finished_run
    port = free_port()
    argv = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    argv += ["--backend-store-uri", f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        yield base, experiment_id, run_id
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_mlflow_ui_shows_the_run_its_loss_curve_and_logit_table(mlflow_ui):
    base, experiment_id, run_id = mlflow_ui
    page = rendered(f"{base}/#/experiments/{experiment_id}/runs/{run_id}")
    assert RUN_NAME in page and "loss" in page
    history = get_json(f"{base}/ajax-api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=loss")
    assert [m["step"] for m in history["metrics"]] == [1, 2, 3, 4]
    table = get_json(f"{base}/get-artifact?path=eval/logit_table.json&run_uuid={run_id}")
    assert {"chosen", "rejected", "reward_chosen"} <= set(table["columns"]) and len(table["data"]) == 3


def test_prefect_ui_shows_the_flow_run_and_its_gate_artifact(prefect_harness):
    from prefect import flow
    from prefect.settings import PREFECT_API_URL

    from tasks.registry.report import publish_decision

    @flow(name="ui-browser-gate")
    def gate_flow():
        decision = Decision(True, "no champion yet", {"challenger_accuracy": 0.7, "n_pairs": 8.0})
        publish_decision(
            decision, "rm", "1", "http://mlflow/#/experiments/1/runs/abc", "http://mlflow/#/models/rm/versions/1"
        )
        from prefect.runtime import flow_run

        return flow_run.get_id(), flow_run.get_name()

    run_id, run_name = gate_flow()
    api = PREFECT_API_URL.value().rstrip("/")
    request = urllib.request.Request(
        f"{api}/artifacts/filter",
        data=json.dumps({"artifacts": {"flow_run_id": {"any_": [str(run_id)]}}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        artifacts = json.loads(response.read())
    (gate,) = [a for a in artifacts if a["key"] == "champion-gate"]
    assert "[rm v1](http://mlflow/#/models/rm/versions/1)" in gate["data"]
    page = rendered(f"{api.removesuffix('/api')}/runs/flow-run/{run_id}")
    if "<script" in page:  # the test harness's server may serve the API without the UI's files
        assert run_name in page
