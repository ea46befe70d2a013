"""Assemble and run the reward server: slot + loader/follower + batcher + app, under uvicorn.

`build_app` wires the pieces for a `ServeConfig`; `serve` runs it in the foreground (`rewardflow
serve`); `start_in_thread` runs it on a background thread and returns once it accepts connections,
for tests and benchmarks that talk to a real server over HTTP.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from deployments.serving.app import create_app
from deployments.serving.batcher import Batcher
from deployments.serving.config import ServeConfig
from deployments.serving.follower import AliasFollower, load_registered, parse_source
from deployments.serving.model_slot import ModelSlot, load_folder, score_loaded
from tasks.tracking.store import resolve_tracking_uri, use_tracking

logger = logging.getLogger(__name__)


def build_app(config: ServeConfig) -> FastAPI:
    """The app for `config`: the first load and (for an alias) the follower start with the server, off its loop."""
    source = parse_source(config.model)
    slot = ModelSlot(f"loading {config.model}")
    score = functools.partial(score_loaded, config=config.scoring)
    batcher = Batcher(slot, score, config.max_wait_ms / 1000.0, config.max_batch_texts, config.max_batch_tokens)
    if source.folder is not None:
        info = {"registered_name": None, "alias": None, "run_id": None, "source": source.folder}
        version = f"local:{Path(source.folder).name}"
        load = functools.partial(load_folder, source.folder, version, info, config.max_length, config.trust_remote_code)
        return create_app(config, slot, batcher, on_start=functools.partial(_load_once, slot, load))
    use_tracking(resolve_tracking_uri(config.tracking_uri, config.home))
    cache = Path(config.home) / "serve" / "models"
    loader = functools.partial(
        load_registered,
        cache_dir=cache,
        alias=source.alias,
        max_length=config.max_length,
        trust_remote_code=config.trust_remote_code,
    )
    follower = AliasFollower(slot, source.name, source.alias or "", loader, config.poll_seconds)
    if source.follows:
        return create_app(config, slot, batcher, on_start=follower.start, on_stop=follower.stop)
    load = functools.partial(loader, source.name, source.version)
    return create_app(config, slot, batcher, on_start=functools.partial(_load_once, slot, load))


def _load_once(slot: ModelSlot, load) -> None:
    """Load a pinned version or a folder on a background thread; /health says 503 until it is in."""

    def run() -> None:
        try:
            slot.swap(load())
        except Exception as err:
            logger.error("the model failed to load: %s", err, exc_info=True)
            slot.set_reason(f"the model failed to load: {err}")

    threading.Thread(target=run, name="rewardflow-load", daemon=True).start()


def uvicorn_config(app: FastAPI, config: ServeConfig, log_level: str = "info") -> uvicorn.Config:
    # One worker process: the model lives in it, and batching across requests needs them in one place.
    return uvicorn.Config(app, host=config.host, port=config.port, log_level=log_level, workers=1)


def serve(config: ServeConfig) -> None:
    """Run the server in the foreground until interrupted."""
    uvicorn.Server(uvicorn_config(build_app(config), config)).run()


@dataclass
class RunningServer:
    """A server on a background thread; `stop()` shuts it down and joins the thread."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def start_in_thread(
    app: FastAPI, config: ServeConfig, timeout: float = 60.0, log_level: str = "warning"
) -> RunningServer:
    """Start uvicorn on a thread and wait until it listens (not until a model is loaded: see /health)."""
    server = uvicorn.Server(uvicorn_config(app, config, log_level))
    thread = threading.Thread(target=server.run, name="rewardflow-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the reward server did not start on {config.host}:{config.port}")
        time.sleep(0.02)
    return RunningServer(server, thread, f"http://{config.host}:{config.port}")
