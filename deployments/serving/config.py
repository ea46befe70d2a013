"""Settings of `rewardflow serve`: what it serves, where it listens, how it batches, follows and guards."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from deployments.config import LOOPBACK_HOSTS

TOKEN_ENV = "REWARDFLOW_SERVE_TOKEN"
PRECISIONS = {"auto": None, "fp32": False, "bf16": True}


@dataclass
class ServeConfig:
    """The reward server: the model it follows, its address, its batching and its request limits."""

    home: str = field(
        default=".home/service",
        metadata={"help": "Pipeline home: its MLflow store (HOME/mlflow/mlflow.db) holds the registry to follow."},
    )
    model: str = field(
        default="models:/reward-model@champion",
        metadata={
            "help": "What to serve: models:/NAME@ALIAS follows the alias, models:/NAME/VERSION pins one "
            "version, a folder serves that folder."
        },
    )
    host: str = field(
        default="127.0.0.1",
        metadata={"help": f"Address to bind. Anything but loopback needs --token (or ${TOKEN_ENV})."},
    )
    port: int = field(default=8000, metadata={"help": "TCP port of the reward server."})
    token: str | None = field(
        default=None,
        repr=False,
        metadata={
            "help": f"Bearer token every request must carry (Authorization: Bearer ...). None = ${TOKEN_ENV}, "
            "or no token on loopback. Prefer the variable: flags show in `ps`."
        },
    )
    tracking_uri: str | None = field(
        default=None, metadata={"help": "MLflow tracking/registry URI; None = the SQLite store under --home."}
    )
    poll_seconds: float = field(
        default=30.0, metadata={"help": "Seconds between two looks at the alias in MLflow (a promotion shows up)."}
    )
    max_wait_ms: float = field(
        default=5.0,
        metadata={"help": "Longest a request waits for others to join its batch, in milliseconds. 0 = no waiting."},
    )
    max_batch_texts: int = field(
        default=256, metadata={"help": "Most texts scored in one merged batch (several requests together)."}
    )
    batch_size: int = field(default=32, metadata={"help": "Texts per forward pass inside a merged batch."})
    max_texts: int = field(
        default=512, metadata={"help": "Most texts (pairs count twice) in one request; more -> 413."}
    )
    max_chars: int = field(default=65536, metadata={"help": "Most characters in one text of a request; longer -> 413."})
    precision: str = field(
        default="auto",
        metadata={
            "help": "auto = bf16 autocast where the hardware is fast at it (rmcore.config.bf16_supported), "
            "else fp32; fp32 = always fp32 (rewards independent of how requests were batched); bf16 = always."
        },
    )
    max_length: int | None = field(
        default=None, metadata={"help": "Tokens per text (left-truncated as in training). None = the model's."}
    )
    trust_remote_code: bool = field(
        default=False,
        metadata={
            "help": "Run the Python code saved in the model folder (config.json auto_map) when loading each "
            "version served, as a model trained with --trust_remote_code needs. Only for models you trust."
        },
    )

    def __post_init__(self) -> None:
        if self.token is None:
            self.token = os.environ.get(TOKEN_ENV) or None
        if not 1 <= int(self.port) <= 65535:
            raise ValueError(f"--port must be a TCP port in 1..65535, got {self.port}")
        if self.host not in LOOPBACK_HOSTS and not self.token:
            raise ValueError(
                f"--host {self.host} would let anyone on the network score with the model: "
                f"set --token or ${TOKEN_ENV}, or bind 127.0.0.1"
            )
        for name in ("poll_seconds", "max_wait_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        for name in ("max_batch_texts", "batch_size", "max_texts", "max_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        self.home = str(Path(self.home).expanduser().resolve())

    @property
    def bf16(self) -> bool | None:
        """The `bf16` argument of `rmcore.score_texts`: None lets the core decide from the hardware."""
        return PRECISIONS[self.precision]
