"""Night after night, through the real servers of `rewardflow up` and the real commands, from a bare folder.

A benchmark is pinned before night 1, and every version is scored on it. Night 1 trains the first
champion (`rewardflow run --dataset_name`; the first-champion floor is waived, as the tiny model trains
two steps). Night 2 brings new pairs by
`rewardflow ingest`, whose event triggers the nightly deployment: the health check scores the champion on
them and the run gates against it. Night 3 brings a batch with replies three times longer, which the health
check holds until `rewardflow release`, then new pairs by `run --dataset_name`: the run trains on both and
decides. Every command runs in a scratch folder, where nothing may appear (no stray `mlflow.db`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.nightly import NIGHTLY
from deployments.servers import read_record
from tests.deployments.conftest import free_port, kill_leftovers
from tests.flows.conftest import synthetic_pairs
from tests.flows.test_held_batches import tripled
from tests.tiny_models import save_tiny_bert

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]
TRAINING = {"max_steps": 2, "per_device_train_batch_size": 8, "max_length": 64, "disable_tqdm": True}
PAIRS = synthetic_pairs(240, seed=3)  # "(question i)" makes every pair distinct


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> dict:
    """A home served by `rewardflow up` (tiny model, tiny training), a scratch folder to run commands in."""
    root = tmp_path_factory.mktemp("nights")
    home, scratch = root / "home", root / "scratch"
    scratch.mkdir()
    base = save_tiny_bert(root / "base", hidden=32)
    promotion = {"n_resamples": 200, "first_champion_floor": None}
    params = {"model_name_or_path": str(base), "training": TRAINING, "promotion": promotion}

    def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT)}
        env.pop("PREFECT_API_URL", None)
        env.pop("MLFLOW_TRACKING_URI", None)
        argv = [sys.executable, "-m", "rewardflow.cli", *args]
        return subprocess.run(argv, cwd=scratch, env=env, capture_output=True, text=True, timeout=timeout)

    up = ["up", "--home", str(home), "--prefect_port", str(free_port()), "--mlflow_port", str(free_port())]
    pids: list[int] = []
    try:
        done = cli(*up, "--params", json.dumps(params), "--inbox_interval", "3600")
        record = read_record(home)
        pids = [p["pid"] for p in (record or {"processes": {}})["processes"].values()]
        assert done.returncode == 0, f"rewardflow up failed:\n{done.stdout}\n{done.stderr}"
        yield {"home": home, "scratch": scratch, "cli": cli, "record": record, "base": base}
    finally:
        cli("down", "--home", str(home), "--timeout", "10", timeout=120)
        kill_leftovers(pids)


def registry(record: dict) -> MlflowClient:
    uri = record["mlflow_tracking_uri"]
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def decisions(record: dict) -> dict[str, str]:
    """version -> its gate decision ("none" while ungated)."""
    found = registry(record).search_model_versions("name='reward-model'")
    return {str(v.version): v.tags.get("gate.decision", "none") for v in found}


def triggered_runs(api_url: str) -> list:
    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(NIGHTLY)
        runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])))
    return [r for r in runs if r.created_by and r.created_by.type == "AUTOMATION"]


def run_flags(night: dict, data: Path) -> list[str]:
    flags = ["run", "--home", str(night["home"]), "--dataset_name", str(data), "--model_name_or_path"]
    flags += [str(night["base"]), "--promotion_n_resamples", "200", "--promotion_first_champion_floor", "none"]
    return flags + [f"--{k}={v}" for k, v in TRAINING.items()]


def test_night_1_run_makes_the_first_champion(night):
    pinned = night["cli"](
        "benchmark",
        "add",
        str(write(night["home"].parent / "fixed.jsonl", PAIRS[210:240])),
        "--home",
        str(night["home"]),
    )
    assert pinned.returncode == 0, pinned.stderr[-3000:]
    done = night["cli"](*run_flags(night, write(night["scratch"].parent / "night1.jsonl", PAIRS[:80])))
    assert done.returncode == 0, done.stderr[-3000:]
    assert decisions(night["record"]) == {"1": "promoted"}
    assert list(night["scratch"].iterdir()) == []


def test_night_2_ingest_triggers_a_run_that_gates_against_the_champion(night):
    api_url, home = night["record"]["prefect_api_url"], night["home"]
    done = night["cli"](
        "ingest", "--json", str(write(home.parent / "night2.jsonl", PAIRS[80:120])), "--home", str(home)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["good"] == 40 and "event rewardflow.data.arrived emitted" in report["notes"][-1]
    checks = {check["name"] for check in report["health"]["checks"]}
    assert "champion_accuracy_drop" in checks  # the champion was fetched from the home's store and scored

    deadline = time.monotonic() + 600
    runs: list = []
    while time.monotonic() < deadline:
        runs = triggered_runs(api_url)
        if runs and all(r.state is not None and r.state.is_final() for r in runs):
            break
        time.sleep(3)
    assert len(runs) == 1 and runs[0].state.is_completed(), [(r.name, r.state_name) for r in runs]
    assert set(decisions(night["record"])) == {"1", "2"} and decisions(night["record"])["2"] in ("promoted", "rejected")
    assert list(night["scratch"].iterdir()) == []


def test_night_3_a_held_batch_is_released_and_the_next_run_trains_on_it(night):
    home, cli, parent = night["home"], night["cli"], night["home"].parent
    longer = write(parent / "night3-long.jsonl", tripled(PAIRS[120:180]))
    held = cli("ingest", "--json", str(longer), "--home", str(home))
    assert held.returncode == 0, held.stderr[-3000:]
    report = json.loads(held.stdout)
    assert report["status"] == "hold" and "no event" in report["notes"][-1]
    released = cli("release", report["batch_id"], "--home", str(home))
    assert released.returncode == 0 and f"Released batch {report['batch_id']}" in released.stdout

    done = cli(*run_flags(night, write(parent / "night3.jsonl", PAIRS[180:210])))
    assert done.returncode == 0, done.stderr[-3000:]
    assert set(decisions(night["record"])) == {"1", "2", "3"}
    assert all(d in ("promoted", "rejected") for d in decisions(night["record"]).values())
    client = registry(night["record"])
    run = client.get_run(client.get_model_version("reward-model", "3").run_id)
    assert run.data.tags["data.held_batches"] == "none"  # released: trained on with the rest
    counts = {k: int(v) for k, v in re.findall(r"(n_train|n_eval)\s*│\s*(\d+)", done.stdout)}
    assert counts["n_train"] + counts["n_eval"] == 210, done.stdout
    assert list(night["scratch"].iterdir()) == []


def test_every_version_was_scored_on_the_pinned_benchmark(night):
    """The same 30 fixed pairs for every version: a metric per run MLflow can chart, a column per version."""
    client = registry(night["record"])
    for version in ("1", "2", "3"):
        run = client.get_run(client.get_model_version("reward-model", version).run_id)
        assert run.data.metrics["benchmark.fixed.n_pairs"] == 30
        assert 0.0 <= run.data.metrics["benchmark.fixed.accuracy"] <= 1.0
    listed = night["cli"]("models", "--home", str(night["home"]), "--json")
    assert listed.returncode == 0, listed.stderr[-3000:]
    versions = json.loads(listed.stdout)["versions"]
    assert [v["version"] for v in versions] == ["3", "2", "1"]
    assert all(v["benchmarks"]["fixed"].endswith("n=30") for v in versions)
