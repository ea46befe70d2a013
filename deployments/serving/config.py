"""Settings of `rewardflow serve`: what it serves, where it listens, how it batches, follows and guards."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployments.config import LOOPBACK_HOSTS
from rmcore.models.scoring import ScoringConfig
from tasks.defaults import REGISTERED_MODEL, SERVICE_HOME, StoreArguments

TOKEN_ENV = "REWARDFLOW_SERVE_TOKEN"


def field_declared_by(config: type, name: str) -> Any:
    """A field declared by another config dataclass, its default and help read from there, never copied:
    the server's scoring flags are `ScoringConfig`'s, its store flag is `StoreArguments`'."""
    declared = config.__dataclass_fields__[name]
    return field(default=declared.default, metadata=dict(declared.metadata))


@dataclass
class ServeConfig:
    """The reward server: the model it follows, its address, its batching and its request limits."""

    home: str = field(
        default=SERVICE_HOME,
        metadata={"help": "Pipeline home: its MLflow store (HOME/mlflow/mlflow.db) holds the registry to follow."},
    )
    model: str = field(
        default=f"models:/{REGISTERED_MODEL}@champion",
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
    tracking_uri: str | None = field_declared_by(StoreArguments, "tracking_uri")
    poll_seconds: float = field(
        default=30.0, metadata={"help": "Seconds between two looks at the alias in MLflow (a promotion shows up)."}
    )
    max_wait_ms: float = field(
        default=5.0,
        metadata={"help": "Longest a request waits for others to join its batch, in milliseconds. 0 = no waiting."},
    )
    max_batch_texts: int = field(
        default=256, metadata={"help": "Most texts scored in one slice (texts of several requests together)."}
    )
    max_batch_tokens: int = field(
        default=1024,
        metadata={
            "help": "Most tokens in one slice. A large request is scored slice by slice, taking turns with the "
            "requests that arrive meanwhile, so a one-text request waits for about one slice, not the whole "
            "request. Raise it on a GPU (e.g. 16384), where a bigger slice costs little more time."
        },
    )
    batch_size: int = field_declared_by(ScoringConfig, "batch_size")
    max_texts: int = field(
        default=512, metadata={"help": "Most texts (pairs count twice) in one request; more -> 413."}
    )
    max_chars: int = field(default=65536, metadata={"help": "Most characters in one text of a request; longer -> 413."})
    max_tokens: int = field(
        default=65536,
        metadata={
            "help": "Most tokens in one request, counted after each text is truncated to the model's max_length "
            "(special tokens included); more -> 413 naming the field."
        },
    )
    precision: str = field_declared_by(ScoringConfig, "precision")
    max_length: int | None = field_declared_by(ScoringConfig, "max_length")
    trust_remote_code: bool = field_declared_by(ScoringConfig, "trust_remote_code")

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
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        for name in ("max_batch_texts", "max_batch_tokens", "max_texts", "max_chars", "max_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        try:
            self.scoring  # noqa: B018 - validates batch_size, max_length and precision, naming the field
        except ValueError as err:
            raise ValueError(f"--{err}") from err
        self.home = str(Path(self.home).expanduser().resolve())

    @property
    def scoring(self) -> ScoringConfig:
        """How the server scores: the same settings object evaluation and the gate use."""
        return ScoringConfig(
            batch_size=self.batch_size,
            max_length=self.max_length,
            precision=self.precision,
            trust_remote_code=self.trust_remote_code,
        )
