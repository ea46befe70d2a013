"""The UIs as a browser shows them: headless Chromium opens the MLflow page of a finished run and the
Prefect page of a flow run; the REST calls behind those pages return the loss curve's history, the
logit table and the gate artifact. The version and Logged Model pages are saved as PNG files (into
$REWARDFLOW_SCREENSHOTS when set, to look at; `benchmarks/ui_screenshots.py` captures every page of a
real service home). Skipped where no Chromium is installed (`apt-get install chromium`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from rmcore.checks.compare import Decision
from tasks.registry.register import register_candidate
from tasks.tracking.logged_model import log_logged_model
from tasks.tracking.run_view import log_logit_table, show_decision
from tasks.tracking.runs import ensure_experiment, log_metrics, start_run
from tasks.tracking.series import MlflowSeriesCallback
from tasks.tracking.store import client
from tests.tasks import mlflow_fixtures as fx
from tests.tasks.training.test_progress import tiny_trainer

model_dirs = fx.model_dirs

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium (apt-get install chromium)")
RUN_NAME = "reward-model v1 2026-12-01 02:00"
DECISION = Decision(
    True,
    "no champion yet",
    {"challenger_accuracy": 0.75, "n_pairs": 8.0},
    checks=[{"check": "slice", "name": "length=q1", "checked": True, "regressed": False}],
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def screenshot(url: str, path: Path, budget_ms: int = 30000) -> Path:
    """A PNG of the page after its scripts ran for `budget_ms` of virtual time."""
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"]
    argv += ["--window-size=1400,1000", f"--virtual-time-budget={budget_ms}", f"--screenshot={path}", url]
    subprocess.run(argv, capture_output=True, timeout=180)
    return path


def rendered(url: str, budget_ms: int = 30000) -> str:
    """The page's DOM after its scripts ran for `budget_ms` of virtual time."""
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    argv += [f"--virtual-time-budget={budget_ms}", "--dump-dom", url]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180).stdout


@pytest.fixture
def finished_run(tmp_path, model_dirs):
    """A run like the flow's: trained with the series callback, the logit table logged, a readable name."""
    home = tmp_path / "home"
    uri = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    from tasks.tracking.store import use_tracking

    use_tracking(uri)
    experiment_id = ensure_experiment("ui-browser", home)
    run_id = start_run(experiment_id, "draft")
    tiny_trainer(tmp_path / "train", MlflowSeriesCallback(run_id, uri), max_steps=4).train()
    table = tmp_path / "eval_logit_table.json"
    rows = fx.synthetic_pairs(3).assign(reward_chosen=[1.0, 2.0, 3.0], reward_rejected=[0.0, 0.5, 4.0])
    table.write_text(rows.to_json(orient="records"))
    log_logit_table(run_id, [str(table)])
    log_metrics(run_id, {"accuracy": 0.75}, prefix="eval_")
    version = register_candidate(
        run_id, log_logged_model(run_id, str(model_dirs["good"]), "reward-model"), "reward-model"
    )
    show_decision.fn(run_id, RUN_NAME, "reward-model", version, DECISION, "")
    client().set_terminated(run_id)
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


def test_mlflow_pages_of_the_version_and_its_logged_model(mlflow_ui, tmp_path):
    """The version page states the decision and links back; the Logged Model page lists metrics, params
    and the registered version; both are saved as screenshots."""
    base, experiment_id, run_id = mlflow_ui
    version = get_json(f"{base}/ajax-api/2.0/mlflow/model-versions/get?name=reward-model&version=1")["model_version"]
    assert version["description"].startswith("**Promoted to champion**: no champion yet")
    assert "Slices: 1 of 1 slices checked, none regresses" in version["description"]
    model_id = version["source"].removeprefix("models:/")
    model = get_json(f"{base}/ajax-api/2.0/mlflow/logged-models/{model_id}")["model"]
    assert [m["key"] for m in model["data"]["metrics"]] == ["eval_accuracy"]
    tags = {t["key"]: t["value"] for t in model["info"]["tags"]}
    assert json.loads(tags["mlflow.modelVersions"]) == [{"name": "reward-model", "version": "1"}]
    folder = Path(os.environ.get("REWARDFLOW_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    pages = {
        "version": f"{base}/#/models/reward-model/versions/1",
        "logged-model": f"{base}/#/experiments/{experiment_id}/models/{model_id}",
        "run": f"{base}/#/experiments/{experiment_id}/runs/{run_id}",
    }
    for name, url in pages.items():
        png = screenshot(url, folder / f"mlflow-{name}.png")
        assert png.is_file() and png.stat().st_size > 20_000, f"{name}: no page rendered"


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
