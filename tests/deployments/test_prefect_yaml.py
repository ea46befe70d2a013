"""deployments/prefect.yaml agrees with deployments/nightly.py, the source of truth, and with Prefect's schemas."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prefect.client.schemas.schedules import CronSchedule
from prefect.events import DeploymentEventTrigger

from deployments.config import ScheduleConfig
from deployments.nightly import build_deployments
from flows.params import RewardFlowParams

PREFECT_YAML = Path(__file__).resolve().parents[2] / "deployments" / "prefect.yaml"
POOLS = {"nightly": "rewardflow-process", "nightly-docker": "rewardflow-docker", "nightly-kubernetes": "rewardflow-k8s"}


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load(PREFECT_YAML.read_text())


@pytest.fixture(scope="module")
def nightly(tmp_path_factory):
    return build_deployments(str(tmp_path_factory.mktemp("home")), ScheduleConfig())[0]


def deployments(spec: dict) -> list[dict]:
    return spec["deployments"]


def test_one_entry_per_work_pool_the_process_one_first(spec):
    assert [(d["name"], d["work_pool"]["name"]) for d in deployments(spec)] == list(POOLS.items())


@pytest.mark.parametrize("name", POOLS)
def test_entry_runs_the_same_flow_on_the_same_schedule_and_trigger_as_nightly_py(spec, nightly, name):
    entry = next(d for d in deployments(spec) if d["name"] == name)
    module, function = entry["entrypoint"].split(":")
    flow = getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), function)
    assert flow.name == nightly.flow_name

    (schedule,) = entry["schedules"]
    (expected,) = nightly.schedules
    assert CronSchedule(**schedule) == CronSchedule(cron=expected.schedule.cron, timezone=expected.schedule.timezone)

    (trigger,) = entry["triggers"]
    parsed = DeploymentEventTrigger(**{k: v for k, v in trigger.items() if k != "type"})
    (want,) = nightly.triggers
    assert (parsed.expect, parsed.match, parsed.name) == (want.expect, want.match, want.name)

    assert entry["concurrency_limit"] == ScheduleConfig().concurrency
    assert set(entry["tags"]) == set(nightly.tags)


@pytest.mark.parametrize("name", POOLS)
def test_parameters_validate_against_the_flow(spec, name, tmp_path):
    entry = next(d for d in deployments(spec) if d["name"] == name)
    params = dict(entry["parameters"]["params"])
    params["home"] = str(tmp_path) if "{{" in params["home"] else params["home"]
    assert RewardFlowParams(**params).training == {}


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_prefect_deploy_accepts_the_process_entry(tmp_path):
    """`prefect deploy` itself (on a temporary server in a scratch PREFECT_HOME) creates the process deployment."""
    repo = PREFECT_YAML.parents[1]
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "REWARDFLOW_REPO": str(repo)}
    env |= {"REWARDFLOW_HOME": str(tmp_path / "home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    prefect = [sys.executable, "-m", "prefect"]
    steps = [
        ["work-pool", "create", "rewardflow-process", "--type", "process"],
        ["--no-prompt", "deploy", "--prefect-file", str(PREFECT_YAML), "--name", "nightly"],
        ["deployment", "inspect", "reward-model/nightly"],
    ]
    for step in steps:
        done = subprocess.run([*prefect, *step], cwd=repo, env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    inspected = done.stdout
    assert "'cron': '0 2 * * *'" in inspected and "'work_pool_name': 'rewardflow-process'" in inspected
    assert str(tmp_path / "home") in inspected
