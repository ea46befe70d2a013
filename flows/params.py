"""Parameters of the `reward-model` flow, as pydantic models so Prefect validates and shows them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rmcore.checks.compare import PromotionRule
from rmcore.checks.data_health import HealthConfig
from rmcore.checks.gate import GateChecks
from rmcore.training.script_args import LoraArguments, ScriptArguments, check_eval_fraction
from tasks.data.config import DataConfig
from tasks.defaults import DEFAULT_HOME, EXPERIMENT, StoreArguments


def parameter_declared_by(config: type, name: str, **bounds: Any) -> Any:
    """A flow parameter that is a field of a config dataclass: its default and help text are read from that one
    declaration, never copied; `bounds` (pydantic's gt, le ...) add only what the pipeline needs beyond it."""
    spec = config.__dataclass_fields__[name]
    return Field(spec.default, description=spec.metadata["help"], **bounds)


class RewardFlowParams(BaseModel):
    """Everything one run of the pipeline needs; defaults train MiniLM on the data store."""

    # A misspelt or retired field (say, a saved `trust_remote_code` now under `training`) is refused by
    # name rather than silently doing nothing.
    model_config = ConfigDict(extra="forbid")

    home: str = Field(DEFAULT_HOME, description="Pipeline home: data store, quarantine, runs, MLflow store.")
    dataset_name: str | None = Field(
        None,
        description="New pairs to validate and add to the store first: a file, a folder or a hub dataset id. "
        "None = train on what the store already holds.",
    )
    model_name_or_path: str | None = Field(None, description="Base model; None = all-MiniLM-L6-v2 (offline).")
    training: dict[str, Any] = Field(
        default_factory=dict,
        description="RewardConfig overrides, e.g. {'max_steps': 50, 'learning_rate': 1e-4, 'trust_remote_code': True}.",
    )
    lora: LoraArguments = Field(
        default_factory=LoraArguments,
        description="LoRA, as `rewardflow train` spells it: {'use_peft': true, 'lora_r': 16, ...}; merged before "
        "registering. use_peft false = full fine-tuning.",
    )
    # gt=0: the champion gate compares the challenger with the champion on the held-out pairs.
    eval_fraction: float = parameter_declared_by(ScriptArguments, "eval_fraction", gt=0.0)
    max_train_pairs: int | None = Field(None, ge=1, description="Use at most this many training pairs.")
    max_eval_pairs: int | None = Field(None, ge=1, description="Use at most this many eval pairs.")
    promotion: PromotionRule = Field(default_factory=PromotionRule, description="When a challenger wins.")
    gate_checks: GateChecks | None = Field(
        default_factory=GateChecks,
        description="Beyond the overall rule: no slice may regress, length bias may not grow. None = off.",
    )
    benchmarks: list[str] = Field(
        default_factory=list,
        description="Fixed evaluation files to pin before training (each under its file name, as `rewardflow "
        "benchmark add` does; pinned once, then never changed). Every registered version is scored on every "
        "pinned benchmark of the home, these and those pinned before.",
    )
    data: DataConfig = Field(
        default_factory=DataConfig,
        description="Validation and reading of new pairs, as `rewardflow ingest` and `validate` take them: "
        "{'min_good_fraction': 0.5, 'max_row_bytes': 1000000, 'chunk_rows': 10000, 'hub_split': 'train'}.",
    )
    health: HealthConfig = Field(
        default_factory=HealthConfig, description="Thresholds of the ingest health check (warn / hold)."
    )
    registered_model_name: str = parameter_declared_by(StoreArguments, "registered_model_name")
    experiment_name: str = Field(EXPERIMENT, description="MLflow experiment of the runs.")
    tracking_uri: str | None = parameter_declared_by(StoreArguments, "tracking_uri")
    num_processes: int = Field(
        1, ge=1, description="Training processes (accelerate DDP; one per GPU, or gloo processes on a CPU)."
    )
    seed: int = Field(42, description="Seed for sampling pairs and for training.")
    data_root: str | None = Field(
        None,
        description="When set, dataset_name must be a path inside this folder (relative paths are taken from it; "
        "'..' and symlinks that leave it are refused). Set it for runs fed by drop folders or events. "
        "None = any path, as typed by a person.",
    )
    register_retries: int = Field(
        2, ge=0, description="Prefect retries of the registration when MLflow is down or locked (it registers once)."
    )
    register_retry_delay: float = Field(10.0, ge=0.0, description="Seconds between two registration attempts.")

    @field_validator("eval_fraction")
    @classmethod
    def _eval_fraction_in_range(cls, value: float) -> float:
        check_eval_fraction(value)
        return value
