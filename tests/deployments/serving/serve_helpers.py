"""Helpers for the reward-server tests: a real uvicorn server on a free loopback port, registered versions."""

from __future__ import annotations

import contextlib
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from deployments.serving.config import ServeConfig
from deployments.serving.server import RunningServer, build_app, start_in_thread
from tasks.registry.register import CHAMPION, ensure_registered_model
from tasks.tracking.store import client
from tests.tasks import mlflow_fixtures as fx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running(home: Path, **settings) -> Iterator[RunningServer]:
    """`rewardflow serve` with these settings, on a free port, in this process; stopped afterwards."""
    config = ServeConfig(home=str(home), port=free_port(), **settings)
    server = start_in_thread(build_app(config), config)
    try:
        yield server
    finally:
        server.stop()


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def register(home: Path, name: str, folder: Path) -> str:
    """Log the folder in a finished run and register it as a new version of `name` (no alias moved)."""
    ensure_registered_model(name)
    run_id = fx.log_candidate(home, f"exp-{name}", folder)
    mlflow_client = client()
    source = f"{mlflow_client.get_run(run_id).info.artifact_uri.rstrip('/')}/model"
    return str(mlflow_client.create_model_version(name, source=source, run_id=run_id).version)


def promote(name: str, version: str) -> None:
    client().set_registered_model_alias(name, CHAMPION, version)


def broken_copy(folder: Path, dst: Path) -> Path:
    """A copy of a model folder whose weights file is garbage: it registers fine and fails to load."""
    shutil.copytree(folder, dst)
    (dst / "model.safetensors").write_bytes(b"not a safetensors file")
    return dst
