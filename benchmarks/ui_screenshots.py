"""Screenshots of the pages a reviewer opens, taken in headless Chromium on a real service home.

Follows the README's service path on free ports under a temporary home: `rewardflow up`, `rewardflow
ingest` of the example pairs and a drop of more into the inbox (each starts a training), then
opens the MLflow pages (runs list, training run, ingest run, registered model, version, Logged Model)
and the Prefect pages (flow run, gate and health artifacts, automations) and saves one PNG per page,
with `rewardflow status` as text beside them. Needs Chromium (`apt-get install chromium`).

    PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ui_screenshots.py --out outputs/screenshots
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# Small enough for minutes on a 2-core CPU, long enough (8 steps) for a curve of several points.
TRAINING = {"max_train_pairs": 160, "max_eval_pairs": 60, "training": {"max_steps": 8, "max_length": 96}}
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str | None:
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def screenshot(browser: str, url: str, path: Path, size: str = "1500,1100", budget_ms: int = 25000) -> Path:
    """One PNG of `url` after its scripts ran for `budget_ms` of virtual time."""
    argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"]
    argv += [f"--window-size={size}", f"--virtual-time-budget={budget_ms}", f"--screenshot={path}", url]
    subprocess.run(argv, capture_output=True, timeout=240, check=False)
    return path


def rewardflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "rewardflow.cli", *args], cwd=REPO, env=env, capture_output=True, text=True
    )
    print(f"$ rewardflow {' '.join(args)}\n{done.stdout}{done.stderr[-2000:]}", flush=True)
    return done


def wait_for_run(api_url: str, flow_run_id: str, timeout: float = 1800) -> str:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    deadline = time.monotonic() + timeout
    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(flow_run_id)
            if run.state and run.state.is_final():
                return run.state_name
            time.sleep(5)
    return "still running"


def drop_and_wait(path: Path, home: Path, api_url: str, timeout: float = 1800) -> str | None:
    """Drop `path` into the inbox; wait for the sensor to ingest it and for the training its event starts."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterCreatedBy
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from rewardflow.ingest_view import now_utc

    since = now_utc()
    shutil.copy(path, home / "inbox" / path.name)
    deadline = time.monotonic() + timeout
    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            by_automation = FlowRunFilter(created_by=FlowRunFilterCreatedBy(type_=["AUTOMATION"]))
            runs = [r for r in client.read_flow_runs(flow_run_filter=by_automation) if r.created >= since]
            if runs:
                print(f"inbox drop started flow run {runs[0].id}: {wait_for_run(api_url, str(runs[0].id))}")
                return str(runs[0].id)
            time.sleep(5)
    return None


def ingest_and_wait(path: str, home: Path, env: dict[str, str], api_url: str) -> str | None:
    """Ingest `path`; wait for the flow run it started; returns that run's id."""
    done = rewardflow("ingest", path, "--home", str(home), env=env)
    found = re.findall(r"/runs/flow-run/([0-9a-f-]{36})", done.stdout)
    if not found:
        return None
    print(f"flow run {found[0]}: {wait_for_run(api_url, found[0])}", flush=True)
    return found[0]


def pages(mlflow: str, prefect: str, flow_run_id: str | None) -> dict[str, str]:
    """name -> URL of each page to capture, from what the store holds now."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow, registry_uri=mlflow)
    experiment = client.get_experiment_by_name("reward-model")
    eid = experiment.experiment_id
    runs = client.search_runs([eid], order_by=["attributes.start_time DESC"])
    training = next(r for r in runs if r.data.tags.get("rewardflow.run_kind") != "ingest")
    ingest = next(r for r in runs if r.data.tags.get("rewardflow.run_kind") == "ingest")
    version = training.data.tags.get("registered_version", "1")
    source = client.get_model_version("reward-model", version).source
    model_id = source.removeprefix("models:/")
    urls = {
        "mlflow-runs": f"{mlflow}/#/experiments/{eid}/runs",
        "mlflow-training-run": f"{mlflow}/#/experiments/{eid}/runs/{training.info.run_id}",
        "mlflow-training-run-metrics": f"{mlflow}/#/experiments/{eid}/runs/{training.info.run_id}/model-metrics",
        "mlflow-ingest-run": f"{mlflow}/#/experiments/{eid}/runs/{ingest.info.run_id}/model-metrics",
        "mlflow-registered-model": f"{mlflow}/#/models/reward-model",
        "mlflow-version": f"{mlflow}/#/models/reward-model/versions/{version}",
        "mlflow-logged-model": f"{mlflow}/#/experiments/{eid}/models/{model_id}",
        "prefect-automations": f"{prefect}/automations",
    }
    if flow_run_id:
        urls["prefect-flow-run"] = f"{prefect}/runs/flow-run/{flow_run_id}"
    for key, artifact_id in latest_artifacts(f"{prefect}/api", ("champion-gate", "ingest-health")).items():
        urls[f"prefect-{key}"] = f"{prefect}/artifacts/artifact/{artifact_id}"  # the key page renders late
    return urls


def latest_artifacts(api_url: str, keys: tuple[str, ...]) -> dict[str, str]:
    """key -> id of the newest artifact under each key."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort
    from prefect.settings import PREFECT_API_URL, temporary_settings

    found = {}
    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        for key in keys:
            artifacts = client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC
            )
            if artifacts:
                found[key] = str(artifacts[0].id)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="outputs/screenshots", help="Folder for the PNG files.")
    parser.add_argument("--home", default=None, help="Service home (default: a temporary folder).")
    args = parser.parse_args(argv)
    browser = chromium()
    if browser is None:
        print("no Chromium found (apt-get install chromium)", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    home = Path(args.home or tempfile.mkdtemp(prefix="rf-ui-")).resolve()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    for name in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    prefect_port, mlflow_port = free_port(), free_port()
    up = ["up", "--home", str(home), "--prefect-port", str(prefect_port), "--mlflow-port", str(mlflow_port)]
    if rewardflow(*up, "--params", json.dumps(TRAINING), "--inbox-interval", "20", env=env).returncode:
        return 1
    prefect, mlflow = f"http://127.0.0.1:{prefect_port}", f"http://127.0.0.1:{mlflow_port}"
    try:
        ingest_and_wait(str(REPO / "examples" / "data" / "new_pairs.jsonl"), home, env, f"{prefect}/api")
        flow_run_id = drop_and_wait(REPO / "examples" / "data" / "more.jsonl", home, f"{prefect}/api")
        (out / "status.txt").write_text(rewardflow("status", "--home", str(home), env=env).stdout)
        for name, url in pages(mlflow, prefect, flow_run_id).items():
            tall = name.endswith("metrics") or name == "prefect-flow-run"  # curves and the log's end sit below the fold
            size = "1500,3600" if tall else "1500,1100"
            print(f"{name}: {url} -> {screenshot(browser, url, out / f'{name}.png', size)}", flush=True)
    finally:
        rewardflow("down", "--home", str(home), env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
