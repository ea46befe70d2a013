"""Read-only questions to the registry that make reruns idempotent: was this work registered, was it gated?"""

from __future__ import annotations

import os
import socket

import psutil
from mlflow.exceptions import MlflowException

from rmcore.checks.compare import Decision
from tasks.registry.idempotency import IDEMPOTENCY_TAG
from tasks.tracking.store import client

PREVIOUS_CHALLENGER_TAG = "gate.previous_challenger"
BLOCKED_BY = "gate.blocked_by"
# The process that registered a version (host:pid:start time), so a later run can tell it died ungated.
OWNER_TAG = "rewardflow.owner"


def find_version(name: str, idempotency_key: str) -> str | None:
    """The version already registered for this work (tag `rewardflow.idempotency_key`), oldest first; else None."""
    try:
        found = client().search_model_versions(f"name='{name}' and tags.`{IDEMPOTENCY_TAG}` = '{idempotency_key}'")
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    versions = sorted(int(v.version) for v in found)
    return str(versions[0]) if versions else None


def recorded_decision(name: str, version: str) -> Decision | None:
    """The gate decision tagged on a version by an earlier run of the same work, or None if it never got one."""
    tags = client().get_model_version(name, version).tags
    if "gate.decision" not in tags:
        return None
    figures = {}
    for key, value in tags.items():
        if key.startswith("gate.") and key not in ("gate.decision", "gate.reason", BLOCKED_BY, PREVIOUS_CHALLENGER_TAG):
            try:
                figures[key.removeprefix("gate.")] = float("nan" if value == "none" else value)
            except ValueError:
                continue
    blocked = [b for b in tags.get(BLOCKED_BY, "none").split(",") if b and b != "none"]
    return Decision(tags["gate.decision"] == "promoted", tags.get("gate.reason", ""), figures, blocked_by=blocked)


def version_run_id(name: str, version: str) -> str:
    """The MLflow run a version was registered from."""
    return str(client().get_model_version(name, version).run_id)


def version_reward_stats(name: str, version: str) -> dict[str, float] | None:
    """The reward scale (`eval_reward_stats.mean` / `.std`) its training run logged, or None without one."""
    mlflow_client = client()
    run_id = mlflow_client.get_model_version(name, version).run_id
    if not run_id:
        return None
    metrics = mlflow_client.get_run(run_id).data.metrics
    if "eval_reward_stats.mean" not in metrics or "eval_reward_stats.std" not in metrics:
        return None
    return {"mean": metrics["eval_reward_stats.mean"], "std": metrics["eval_reward_stats.std"]}


def owner_tag() -> str:
    """This process, as `host:pid:start time`: enough to tell later whether it is still alive."""
    process = psutil.Process(os.getpid())
    return f"{socket.gethostname()}:{process.pid}:{process.create_time():.3f}"


def owner_alive(owner: str) -> bool | None:
    """Whether the process named by `owner_tag` still runs; None when it ran on another host (unknown)."""
    try:
        host, pid, started = owner.rsplit(":", 2)
        pid_number, start_time = int(pid), float(started)
    except ValueError:
        return None
    if host != socket.gethostname():
        return None
    try:
        return abs(psutil.Process(pid_number).create_time() - start_time) < 1.0
    except psutil.NoSuchProcess:
        return False


def is_abandoned(tags: dict[str, str]) -> bool:
    """A version no gate decided on, whose registering process is gone (killed between register and gate)."""
    return "gate.decision" not in tags and OWNER_TAG in tags and owner_alive(tags[OWNER_TAG]) is False
