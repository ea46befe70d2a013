"""Settings for running rewardflow as a service: where the servers listen, and when the nightly run fires.

Two concerns, two dataclasses: `ServerConfig` (the processes `rewardflow up` starts) and `ScheduleConfig`
(the `nightly` deployment's schedule, its event trigger, the inbox sensor and the flow parameters it runs with).
Each field's `help` is its one documentation; `rewardflow up --help` prints it (see `deployments.flags`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tasks.defaults import SERVICE_HOME

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass
class ServerConfig:
    """The Prefect server, the MLflow server and the deployment runner started by `rewardflow up`."""

    home: str = field(
        default=SERVICE_HOME,
        metadata={"help": "Pipeline home: all state (Prefect DB, MLflow DB and artifacts, logs, pids) lives here."},
    )
    host: str = field(
        default="127.0.0.1",
        metadata={"help": "Address the servers bind to. Anything but loopback needs --allow_remote."},
    )
    allow_remote: bool = field(
        default=False,
        metadata={"help": "Allow binding a non-loopback address: the servers have no authentication, so opt in."},
    )
    prefect_port: int = field(default=4200, metadata={"help": "Port of the Prefect server (API and UI)."})
    mlflow_port: int = field(default=5000, metadata={"help": "Port of the MLflow tracking server (API and UI)."})
    prefect_ui: bool = field(default=True, metadata={"help": "Serve the Prefect UI next to the API."})
    serve: bool = field(
        default=False,
        metadata={"help": "Also start `rewardflow serve`: the champion reward model over HTTP, following promotions."},
    )
    serve_port: int = field(default=8000, metadata={"help": "Port of the reward server started by --serve."})
    start_timeout: float = field(
        default=120.0,
        metadata={"help": "Seconds to wait for each process to answer before giving up (servers are slow on 2 CPUs)."},
    )
    stop_timeout: float = field(
        default=15.0, metadata={"help": "Seconds between SIGTERM and SIGKILL when `rewardflow down` stops a process."}
    )

    def __post_init__(self) -> None:
        for name in ("prefect_port", "mlflow_port", "serve_port"):
            port = getattr(self, name)
            if not 1 <= int(port) <= 65535:
                raise ValueError(f"{name} must be a TCP port in 1..65535, got {port}")
        if self.prefect_port == self.mlflow_port:
            raise ValueError(f"prefect_port and mlflow_port must differ, both are {self.prefect_port}")
        if self.serve and self.serve_port in (self.prefect_port, self.mlflow_port):
            raise ValueError(f"serve_port {self.serve_port} is taken by the Prefect or MLflow server; choose another")
        if self.host not in LOOPBACK_HOSTS and not self.allow_remote:
            raise ValueError(
                f"host={self.host!r} would expose unauthenticated servers beyond this machine; "
                "pass --allow_remote to bind it anyway, or use 127.0.0.1"
            )
        self.home = str(Path(self.home).expanduser().resolve())


@dataclass
class ScheduleConfig:
    """The `nightly` deployment of flow `reward-model`: when it runs and what each run trains."""

    cron: str = field(default="0 2 * * *", metadata={"help": "Cron schedule of the nightly run (default 02:00)."})
    timezone: str = field(
        default="UTC", metadata={"help": "IANA timezone the cron is read in, e.g. Europe/Paris (DST-aware)."}
    )
    event: str = field(
        default="rewardflow.data.arrived",
        metadata={"help": "Prefect event that starts a run of `reward-model` (emitted by `rewardflow ingest`)."},
    )
    inbox_interval: float = field(
        default=60.0,
        metadata={"help": "Seconds between two looks of the inbox sensor at HOME/inbox/ for dropped files."},
    )
    concurrency: int = field(
        default=1,
        metadata={"help": "Flow runs the runner executes at once; 1 keeps two trainings off the same 2 CPUs."},
    )
    params: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": 'Flow parameters (RewardFlowParams, checked against it) for every run, e.g. {"max_train_pairs": '
            '32, "training": {"max_steps": 50}}. The home is the served one. Empty = the flow defaults.'
        },
    )

    def __post_init__(self) -> None:
        if len(self.cron.split()) != 5:
            raise ValueError(f"cron must have 5 fields (minute hour day month weekday), got {self.cron!r}")
        if self.inbox_interval <= 0:
            raise ValueError(f"inbox_interval must be > 0 seconds, got {self.inbox_interval}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"timezone must be an IANA name such as 'Europe/Paris', got {self.timezone!r}") from err
        if "home" in self.params:
            raise ValueError("params must not set home: the deployment runs on the home it serves")
        from flows.params import RewardFlowParams

        RewardFlowParams(**self.params)  # a bad value fails here, naming the field, not at 02:00
