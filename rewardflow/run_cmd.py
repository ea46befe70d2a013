"""`rewardflow run`: run the reward-model flow once, with the flags of `rewardflow train`.

rewardflow run --home DIR --dataset_name PATH [--max_steps N --learning_rate X ...] [--use_peft ...]
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from transformers import HfArgumentParser

from rmcore import RewardConfig
from rmcore.compare import PromotionRule
from rmcore.script_args import LoraArguments, ScriptArguments

# Fields the flow sets itself, or that RewardConfig derives from others.
_NOT_OVERRIDES = {"output_dir", "logging_dir", "use_cpu", "bf16"}


@dataclass
class RunArguments:
    """Pipeline settings of one run beside the training flags."""

    home: str = field(default=".home/default", metadata={"help": "Pipeline home: store, runs, MLflow store."})
    max_train_pairs: int | None = field(default=None, metadata={"help": "Use at most this many train pairs."})
    max_eval_pairs: int | None = field(default=None, metadata={"help": "Use at most this many eval pairs."})
    promotion_rule: str = field(
        default="bootstrap",
        metadata={"help": "'bootstrap': promote when the 95 percent CI of the accuracy gain is above 0; 'min_delta'."},
    )
    min_delta: float = field(default=0.0, metadata={"help": "With --promotion_rule min_delta: least gain."})
    registered_model_name: str = field(default="reward-model", metadata={"help": "MLflow registered model."})
    experiment_name: str = field(default="reward-model", metadata={"help": "MLflow experiment."})
    tracking_uri: str | None = field(default=None, metadata={"help": "MLflow URI; None = SQLite under --home."})


def training_overrides(config: RewardConfig) -> dict[str, Any]:
    """The RewardConfig values that differ from the defaults: what the user actually asked for."""
    given, default = config.to_dict(), RewardConfig().to_dict()
    return {k: v for k, v in given.items() if k not in _NOT_OVERRIDES and v != default.get(k)}


def flow_params(run: RunArguments, script: ScriptArguments, config: RewardConfig, lora: LoraArguments):
    """The flow's parameters from the parsed flags."""
    from flows.params import LoraSettings, RewardFlowParams

    lora_settings = None
    if lora.use_peft:
        lora_settings = LoraSettings(
            r=lora.lora_r, alpha=lora.lora_alpha, dropout=lora.lora_dropout, target_modules=lora.lora_target_modules
        )
    return RewardFlowParams(
        home=run.home,
        dataset_name=script.dataset_name,
        model_name_or_path=script.model_name_or_path,
        training=training_overrides(config),
        lora=lora_settings,
        eval_fraction=script.eval_fraction or 0.1,
        max_train_pairs=run.max_train_pairs,
        max_eval_pairs=run.max_eval_pairs,
        promotion=PromotionRule(rule=run.promotion_rule, min_delta=run.min_delta),
        registered_model_name=run.registered_model_name,
        experiment_name=run.experiment_name,
        tracking_uri=run.tracking_uri,
        seed=config.seed,
    )


def use_running_servers(home: str) -> str | None:
    """Talk to the servers of `rewardflow up` on this home when they run. Returns their MLflow URI."""
    from deployments.servers import running_record

    record = running_record(Path(home))
    if record is None:
        return None
    os.environ.setdefault("PREFECT_API_URL", record["prefect_api_url"])
    return record["mlflow_tracking_uri"]


def print_summary(summary: dict[str, Any], console: Console) -> None:
    table = Table(title="reward-model run", show_header=False)
    for key in ("version", "promoted", "reason", "accuracy", "n_train", "n_eval", "mlflow_run"):
        value = summary.get(key)
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)


def main(argv: list[str]) -> int:
    parser = HfArgumentParser((RunArguments, ScriptArguments, RewardConfig, LoraArguments), prog="rewardflow run")
    try:
        run, script, config, lora, rest = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    except ValueError as err:  # a dataclass __post_init__ refused a value
        parser.error(str(err))
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)} (see rewardflow run --help)")
    server_mlflow = use_running_servers(run.home)
    if run.tracking_uri is None:
        run.tracking_uri = server_mlflow
    params = flow_params(run, script, config, lora)
    from flows.reward_model import reward_model

    summary = reward_model(params)
    print_summary(summary, Console())
    return 0
