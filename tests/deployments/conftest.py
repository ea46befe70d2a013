"""Fixtures for the service tests: synthetic pair files, and real servers started by `rewardflow up`.

The servers run on free ports under a temp home and are stopped by `rewardflow down` even when a test
fails; any process group left after that is killed, so no test leaves a server behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployments.processes import group_alive
from deployments.servers import read_record

TINY_TRAINING = {"max_steps": 2, "per_device_train_batch_size": 8, "max_length": 128}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_pairs(path: Path, n: int, tag: str) -> Path:
    """`n` distinct valid pairs; a different `tag` gives pairs the store has not seen."""
    rows = [
        {
            "chosen": f"\n\nHuman: How do I care for plant {tag}-{i}?\n\nAssistant: Water it weekly and give it light.",
            "rejected": f"\n\nHuman: How do I care for plant {tag}-{i}?\n\nAssistant: I will not help with that.",
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def rewardflow(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real command in a child process, as a user would (servers then outlive it, reparented)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("PREFECT_API_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "rewardflow.cli", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def kill_leftovers(pids: list[int]) -> None:
    for pid in pids:
        if group_alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Servers of a temp home, with tiny training as the deployment default; always cleaned up."""
    home = tmp_path_factory.mktemp("service-home")
    args = ["up", "--home", str(home), "--prefect_port", str(free_port()), "--mlflow_port", str(free_port())]
    params = {"max_train_pairs": 32, "training": TINY_TRAINING}
    args += ["--params", json.dumps(params), "--inbox_interval", "3600"]
    pids: list[int] = []
    try:
        done = rewardflow(*args)
        record = read_record(home)
        pids = [p["pid"] for p in (record or {"processes": {}})["processes"].values()]
        assert done.returncode == 0, f"rewardflow up failed:\n{done.stdout}\n{done.stderr}"
        yield {"home": home, "record": record, "up": done, "training": TINY_TRAINING}
    finally:
        rewardflow("down", "--home", str(home), "--timeout", "10", timeout=120)
        kill_leftovers(pids)


@pytest.fixture
def cli():
    """`cli("ingest", FILE, "--home", DIR)` runs the real `rewardflow` command in a child process."""
    return rewardflow


@pytest.fixture
def make_pairs():
    """`make_pairs(path, n, tag)` writes n valid pairs; the same tag gives the same pairs."""
    return write_pairs
