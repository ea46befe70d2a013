"""`rewardflow run`: run the reward-model flow once; its flags are the flow's parameters (see run_flags).

rewardflow run --home DIR --dataset_name PATH [--max_steps N --learning_rate X ...] [--use_peft ...]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from rewardflow.run_flags import make_parser, parse_run_flags


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
    params, _ = parse_run_flags(make_parser("rewardflow run", __doc__.split("\n")[0]), argv)
    server_mlflow = use_running_servers(params.home)
    if params.tracking_uri is None and server_mlflow is not None:
        params = params.model_copy(update={"tracking_uri": server_mlflow})
    from flows.reward_model import reward_model

    summary = reward_model(params)
    print_summary(summary, Console())
    return 0
