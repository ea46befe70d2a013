"""Start, stop and report the processes behind `rewardflow up`: Prefect server, MLflow server, deployment runner.

The pure half (paths, URLs, commands, the `servers.json` record) is separate from the half that spawns,
polls and signals processes, so the first is tested without starting anything. Each process runs in its
own session: it survives the command that started it, and `down` stops its whole process group.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from deployments.config import ScheduleConfig, ServerConfig
from deployments.processes import is_alive, log_tail, port_is_free, spawn, stop_group
from tasks.atomic import write_atomic

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class ProcessSpec:
    """One process to start: its command, extra environment, log file and the URL that says it is up."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: str
    url: str
    health_url: str
    cwd: str


# ---------------------------------------------------------------- pure helpers: paths, urls, commands


def servers_file(home: str | Path) -> Path:
    return Path(home) / "servers.json"


def client_host(host: str) -> str:
    """The address clients dial: a wildcard bind (0.0.0.0, ::) is reached through loopback."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def prefect_api_url(config: ServerConfig) -> str:
    return f"http://{client_host(config.host)}:{config.prefect_port}/api"


def mlflow_tracking_uri(config: ServerConfig) -> str:
    return f"http://{client_host(config.host)}:{config.mlflow_port}"


def prefect_env(home: str | Path) -> dict[str, str]:
    """Prefect state under HOME/prefect (its SQLite DB included), no analytics leaving the machine."""
    prefect_home = Path(home) / "prefect"
    return {
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{prefect_home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


def prefect_server_env(home: str | Path, api_url: str) -> dict[str, str]:
    """The Prefect server's settings beside its state: the UI calls this server (unset, the UI is told
    port 4200 whatever port it serves), and run logs stream out, so `prefect deployment run --watch`
    shows the run's log lines (its failure message among them), not only its state changes."""
    return {
        **prefect_env(home),
        "PREFECT_UI_API_URL": api_url,
        "PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED": "true",
        "PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED": "true",
    }


def home_store_env(home: str | Path) -> dict[str, str]:
    """$MLFLOW_TRACKING_URI naming HOME/mlflow/mlflow.db, for the runner and the reward server.

    They use the file the MLflow server reads, so training and serving never depend on that server being
    up. The store is named rather than left unset: the processes inherit the environment of the shell that
    ran `up`, where MLFLOW_TRACKING_URI may hold the server's URL, and it would win over the home's file.
    """
    from tasks.tracking.store import MLFLOW_TRACKING_URI_ENV, default_tracking_uri  # here, as MLFLOW_UI_ENV below

    return {MLFLOW_TRACKING_URI_ENV: default_tracking_uri(home)}


def runner_args(schedule: ScheduleConfig) -> list[str]:
    """The schedule as flags for `python -m deployments.nightly`, so the runner rebuilds the same config."""
    args = ["--cron", schedule.cron, "--timezone", schedule.timezone, "--event", schedule.event]
    args += ["--inbox_interval", str(schedule.inbox_interval), "--concurrency", str(schedule.concurrency)]
    args += ["--params", json.dumps(schedule.params)]
    return args


def process_specs(config: ServerConfig, schedule: ScheduleConfig) -> list[ProcessSpec]:
    """The three processes of `rewardflow up`, in start order (the runner needs the Prefect server)."""
    home, logs, py = Path(config.home), Path(config.home) / "logs", sys.executable
    mlflow_dir = home / "mlflow"
    prefect_url, mlflow_url = prefect_api_url(config), mlflow_tracking_uri(config)
    prefect_argv = [py, "-m", "prefect", "server", "start", "--host", config.host, "--port", str(config.prefect_port)]
    prefect_argv += ["--ui" if config.prefect_ui else "--no-ui", "--analytics-off"]
    # Artifacts go to a plain folder, not the `mlflow-artifacts:/` proxy, so clients that open
    # HOME/mlflow/mlflow.db directly (tests, `rewardflow run` without servers) read the same artifacts.
    mlflow_argv = [py, "-m", "mlflow", "server", "--host", config.host, "--port", str(config.mlflow_port)]
    mlflow_argv += ["--backend-store-uri", f"sqlite:///{mlflow_dir / 'mlflow.db'}", "--workers", "1"]
    mlflow_argv += ["--default-artifact-root", str(mlflow_dir / "artifacts"), "--no-serve-artifacts"]
    runner_argv = [py, "-m", "deployments.nightly", "--home", str(home), *runner_args(schedule)]
    from tasks.tracking.runs import MLFLOW_UI_ENV  # here: `status` and `down` need no MLflow import

    runner_env = {
        **prefect_env(home),
        **home_store_env(home),
        "PREFECT_API_URL": prefect_url,
        MLFLOW_UI_ENV: mlflow_url,
    }
    specs = [
        ProcessSpec(
            "prefect",
            prefect_argv,
            prefect_server_env(home, prefect_url),
            str(logs / "prefect.log"),
            prefect_url,
            f"{prefect_url}/health",
            str(home),
        ),
        ProcessSpec("mlflow", mlflow_argv, {}, str(logs / "mlflow.log"), mlflow_url, f"{mlflow_url}/health", str(home)),
        ProcessSpec(
            "runner",
            runner_argv,
            runner_env,
            str(logs / "runner.log"),
            f"{prefect_url}/deployments",
            f"{prefect_url}/deployments/name/reward-model/nightly",
            str(REPO_ROOT),
        ),
    ]
    return specs + ([serve_spec(config)] if config.serve else [])


def serve_spec(config: ServerConfig) -> ProcessSpec:
    """`rewardflow serve` on the home's registry; a token, if any, reaches it through the environment, never argv."""
    url = f"http://{client_host(config.host)}:{config.serve_port}"
    argv = [sys.executable, "-m", "rewardflow.cli", "serve", "--home", config.home]
    argv += ["--host", config.host, "--port", str(config.serve_port)]
    log = str(Path(config.home) / "logs" / "serve.log")
    return ProcessSpec("serve", argv, home_store_env(config.home), log, url, f"{url}/health", str(REPO_ROOT))


def new_record(config: ServerConfig) -> dict[str, Any]:
    """The `servers.json` contract: URLs to export, and one entry per started process."""
    return {
        "home": config.home,
        "host": config.host,
        "started": datetime.now(timezone.utc).isoformat(),
        "prefect_api_url": prefect_api_url(config),
        "prefect_ui_url": prefect_api_url(config).removesuffix("/api"),
        "mlflow_tracking_uri": mlflow_tracking_uri(config),
        "processes": {},
    }


def export_lines(record: dict[str, Any]) -> list[str]:
    return [
        f"export PREFECT_API_URL={record['prefect_api_url']}",
        f"export MLFLOW_TRACKING_URI={record['mlflow_tracking_uri']}",
    ]


def read_record(home: str | Path) -> dict[str, Any] | None:
    path = servers_file(home)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); stop the servers by pid and delete the file") from err


def write_record(home: str | Path, record: dict[str, Any]) -> None:
    write_atomic(servers_file(home), json.dumps(record, indent=2))


def is_fresh_poll(deployment: dict[str, Any], since: float) -> bool:
    """True once a runner has polled the deployment after `since` (epoch seconds): older polls are stale runners."""
    polled = deployment.get("last_polled")
    if not polled:
        return False
    return datetime.fromisoformat(polled.replace("Z", "+00:00")).timestamp() >= since


# ---------------------------------------------------------------- edges: sockets, processes, HTTP


def check_ports(config: ServerConfig) -> None:
    """Fail before starting anything when a port is taken, naming the port and the flag that moves it."""
    ports = [("--prefect_port", config.prefect_port), ("--mlflow_port", config.mlflow_port)]
    ports += [("--serve_port", config.serve_port)] if config.serve else []
    for flag, port in ports:
        if not port_is_free(config.host, port):
            raise RuntimeError(f"port {port} on {config.host} is already taken; choose another with {flag} N")


def http_get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def answers(spec: ProcessSpec, since: float) -> bool:
    """Servers answer their health URL; the runner answers once it has polled its deployment after `since`."""
    try:
        body = http_get(spec.health_url)
        return spec.name != "runner" or is_fresh_poll(json.loads(body), since)
    except urllib.error.HTTPError:
        return spec.name == "serve"  # up and answering; its 503 only says no champion is loaded yet
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until_up(spec: ProcessSpec, pid: int, timeout: float, since: float) -> None:
    """Poll until the process answers; fail early, with the log's tail, if it dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            raise RuntimeError(f"{spec.name} exited while starting; last lines of {spec.log}:\n{log_tail(spec.log)}")
        if answers(spec, since):
            return
        time.sleep(1.0)
    raise TimeoutError(f"{spec.name} did not answer {spec.health_url} within {timeout:.0f}s; see {spec.log}")


def running_record(home: str | Path) -> dict[str, Any] | None:
    """The record of a previous `up` whose processes are all still alive, else None."""
    record = read_record(home)
    if record and record["processes"] and all(is_alive(p["pid"]) for p in record["processes"].values()):
        return record
    return None


def start_servers(config: ServerConfig, schedule: ScheduleConfig) -> dict[str, Any]:
    """Start the three processes (four with --serve), wait until each answers, record them in HOME/servers.json.

    A previous `up` still running is returned as is; a half-dead one is stopped first. If any process
    fails to come up, the ones already started are stopped before the error propagates.
    """
    home = Path(config.home)
    if (record := running_record(home)) is not None:
        return record
    if read_record(home) is not None:
        stop_servers(home, config.stop_timeout)
    check_ports(config)
    for sub in ("prefect", "mlflow/artifacts", "logs", "inbox"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    record = new_record(config)
    specs = process_specs(config, schedule)
    try:
        # The two servers start side by side; the runner needs the Prefect API (and the reward server the
        # MLflow store the servers create), so they come last.
        for batch in (specs[:2], specs[2:]):
            since = time.time() - 1.0
            for spec in batch:
                pid = spawn(spec.argv, spec.env, spec.log, spec.cwd)
                record["processes"][spec.name] = {"pid": pid, "url": spec.url, "log": spec.log, "argv": spec.argv}
                write_record(home, record)
            for spec in batch:
                wait_until_up(spec, record["processes"][spec.name]["pid"], config.start_timeout, since)
    except BaseException:
        stop_servers(home, config.stop_timeout)
        raise
    return record


def stop_servers(home: str | Path, timeout: float = 15.0) -> dict[str, str]:
    """Stop exactly the processes listed in HOME/servers.json (runner first), then remove the file."""
    record = read_record(home)
    if record is None:
        return {}
    outcome = {}
    for name, proc in reversed(list(record["processes"].items())):
        outcome[name] = stop_group(int(proc["pid"]), timeout)
    servers_file(home).unlink(missing_ok=True)
    return outcome


def server_status(home: str | Path) -> list[dict[str, Any]]:
    """One row per recorded process: name, pid, alive, url, log."""
    record = read_record(home) or {"processes": {}}
    return [
        {"name": n, **{k: p[k] for k in ("pid", "url", "log")}, "alive": is_alive(p["pid"])}
        for n, p in record["processes"].items()
    ]
