"""`rewardflow run`: run the reward-model flow once; its flags are the flow's parameters (see run_flags).

rewardflow run --home DIR --dataset_name PATH [--max_steps N --learning_rate X ...] [--use_peft ...]

Without a Prefect server (`rewardflow up`, or PREFECT_API_URL), the run starts Prefect's temporary server
itself, with its database under HOME/prefect and a watchdog (`rewardflow.watchdog`) that stops it if the
run is killed. A busy machine gets time: the server may take PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS
(180 here, unless set) to start, and its SQLite statements PREFECT_SERVER_DATABASE_TIMEOUT (60, unless set).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from deployments.flags import FlagParser
from rewardflow.run_flags import make_parser, parse_run_flags

# Prefect's own defaults (20 s to start, 10 s per statement) fail a first run on a loaded 2-core machine.
STARTUP_TIMEOUT_SECONDS = 180
DATABASE_TIMEOUT_SECONDS = 60.0


def running_servers(home: str) -> dict[str, Any] | None:
    """The record of the servers `rewardflow up` runs for this home (their Prefect and MLflow URLs), or None."""
    from deployments.servers import running_record

    return running_record(Path(home))


def temporary_server_settings(home: str) -> dict:
    """Settings of the temporary server: its database under HOME/prefect, generous timeouts unless set."""
    from prefect import settings

    database = Path(home).resolve() / "prefect" / "prefect.db"
    database.parent.mkdir(parents=True, exist_ok=True)
    updates: dict = {
        settings.PREFECT_API_DATABASE_CONNECTION_URL: f"sqlite+aiosqlite:///{database}",
        settings.PREFECT_SERVER_ANALYTICS_ENABLED: False,
    }
    if "PREFECT_SERVER_DATABASE_TIMEOUT" not in os.environ and "PREFECT_API_DATABASE_TIMEOUT" not in os.environ:
        updates[settings.PREFECT_API_DATABASE_TIMEOUT] = DATABASE_TIMEOUT_SECONDS
    return updates


def startup_timeout() -> int:
    """Seconds the temporary server may take to start: Prefect's own setting when set, else a generous default."""
    return int(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", STARTUP_TIMEOUT_SECONDS))


@contextlib.contextmanager
def prefect_api(home: str, server_url: str | None) -> Iterator[None]:
    """The Prefect API the run reports to: `rewardflow up`'s server, else the configured one (PREFECT_API_URL),
    else a temporary server that dies with us."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if server_url is not None:
        with temporary_settings(updates={PREFECT_API_URL: server_url}):
            yield
        return
    if PREFECT_API_URL.value():
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer

    from rewardflow.watchdog import start_watchdog

    watchdog = start_watchdog()
    server = SubprocessASGIServer()
    try:
        with temporary_settings(updates=temporary_server_settings(home)):
            server.start(timeout=startup_timeout())
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield
    finally:
        stop_quietly(server)
        watchdog.terminate()
        watchdog.wait()


def stop_quietly(server: Any) -> None:
    """Send the run's last logs and events, then stop the server (else Prefect's workers report it gone)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):
            worker.drain_all(timeout=30)
    server.stop()


def print_summary(summary: dict[str, Any], console: Console) -> None:
    table = Table(title="reward-model run", show_header=False)
    for key in ("version", "promoted", "reason", "accuracy", "n_train", "n_eval", "mlflow_run"):
        value = summary.get(key)
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)


def build_parser() -> FlagParser:
    """Every `RewardFlowParams` field as a flag (see `rewardflow.run_flags`)."""
    return make_parser("rewardflow run", __doc__.split("\n")[0])


def main(argv: list[str]) -> int:
    params, _ = parse_run_flags(build_parser(), argv)
    servers = running_servers(params.home)
    from flows.reward_model import reward_model
    from tasks.tracking.store import resolve_tracking_uri

    served = servers["mlflow_tracking_uri"] if servers else None
    tracking_uri = resolve_tracking_uri(params.tracking_uri, params.home, served=served)
    params = params.model_copy(update={"tracking_uri": tracking_uri})

    with prefect_api(params.home, servers["prefect_api_url"] if servers else None):
        summary = reward_model(params)
    print_summary(summary, Console())
    return 0
