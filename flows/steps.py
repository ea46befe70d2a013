"""Small pure helpers of the `reward-model` flow: parameters into configs, the run folder, the summary."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger

from flows.params import RewardFlowParams
from rmcore import RewardConfig
from rmcore.checks.compare import Decision
from rmcore.data.safety import resolve_under
from rmcore.models.loading import check_model_folder, default_model_path
from rmcore.training.launch import LaunchArguments
from rmcore.training.script_args import build_peft_config
from tasks.data.benchmarks import Benchmark, pin_benchmark, pinned_benchmarks
from tasks.data.holds import read_holds
from tasks.data.ingest import IngestReport, ingest
from tasks.data.store import data_hash
from tasks.evaluate import EvalResult
from tasks.registry.idempotency import code_version, config_hash, work_key
from tasks.registry.lookup import version_run_id
from tasks.tracking.run_log import log_ingest_run
from tasks.training.train import TrainJob, build_reward_config

logger = logging.getLogger(__name__)


def checked_dataset(params: RewardFlowParams) -> str | None:
    """`dataset_name`, resolved inside `data_root` when one is set (raises PathEscapeError if it leaves it)."""
    if params.dataset_name is None or params.data_root is None:
        return params.dataset_name
    return str(resolve_under(params.dataset_name, params.data_root))


def work_identity(
    pairs: pd.DataFrame, train_df: pd.DataFrame, eval_df: pd.DataFrame, params: RewardFlowParams
) -> tuple[str, dict[str, str]]:
    """The run's hashes as tags, and the idempotency key (data + config + code) naming its run folder.

    Returns:
        (key, tags): tags hold data_hash, train_hash, eval_hash, config_hash, code_version and the key.
    """
    tags = {
        "data_hash": data_hash(pairs),
        "train_hash": data_hash(train_df),
        "eval_hash": data_hash(eval_df),
        "config_hash": config_hash(params.model_dump(mode="json")),
        "code_version": code_version(),
    }
    key = work_key(f"{tags['train_hash']}:{tags['eval_hash']}", tags["config_hash"], tags["code_version"])
    return key, {**tags, "idempotency_key": key}


def run_folder(home: Path, key: str, eval_df: pd.DataFrame) -> tuple[Path, Path]:
    """`HOME/runs/<key>`, with the eval pairs written there once; every later step reads them by path."""
    run_dir = home / "runs" / key
    run_dir.mkdir(parents=True, exist_ok=True)
    eval_path = run_dir / "eval_pairs.parquet"
    eval_df.to_parquet(eval_path, index=False)
    return run_dir, eval_path


def training_config(run_dir: Path, params: RewardFlowParams) -> RewardConfig:
    """The run's RewardConfig: the pipeline defaults, the seed, then `params.training`; LoRA is merged on save."""
    config = build_reward_config(run_dir / "train", {"seed": params.seed, **params.training})
    if params.lora.use_peft:
        config.merge_adapter_on_save = True
    return config


def train_job(params: RewardFlowParams) -> TrainJob:
    """Base model, LoRA, processes: how the train task runs."""
    launch = LaunchArguments(num_processes=params.num_processes)
    return TrainJob(
        model_name_or_path=check_model_folder(params.model_name_or_path or default_model_path()),
        peft_config=build_peft_config(params.lora),
        launch=launch,
    )


class EmptyStoreError(ValueError):
    """No pair to train on: its message is the one line a person needs (`rewardflow ingest ...`)."""


def pin_run_benchmarks(params: RewardFlowParams, home: Path) -> list[Benchmark]:
    """Pin the run's benchmark files (each under its file name), and check the gate names only pinned ones.

    Returns every benchmark pinned under the home: the run scores its model on all of them.
    """
    for source in params.benchmarks:
        pin_benchmark(home, source)
    pinned = pinned_benchmarks(home)
    required = params.gate_checks.no_regression_on if params.gate_checks is not None else []
    missing = sorted(set(required) - {benchmark.name for benchmark in pinned})
    if missing:
        raise ValueError(
            f"gate_checks.no_regression_on names {missing}, which are not pinned benchmarks of {home}; "
            f"pin each first: rewardflow benchmark add FILE --name NAME --home {home}"
        )
    return pinned


def require_pairs(ids: pd.DataFrame, home: Path, held: list[str]) -> None:
    """Fail early, in one line naming the fix, when the store has nothing to train on.

    The line is the failed flow run's state message, so `prefect deployment run ... --watch` and the
    Prefect UI show it rather than a traceback from deep in the split.
    """
    if len(ids):
        return
    if held:
        raise EmptyStoreError(
            f"Every stored batch under {home / 'store'} is held by the health check: release one with "
            f"`rewardflow release {held[0]} --home {home}` (`rewardflow release --home {home}` lists them)"
        )
    raise EmptyStoreError(
        f"No pairs in {home / 'store'} yet: run `rewardflow ingest FILE... --home {home}` "
        f"(or drop files into {home / 'inbox'}), which stores them and starts this run"
    )


def run_summary(
    name: str,
    version: str,
    decision: Decision,
    evaluation: EvalResult,
    n_train: int,
    n_eval: int,
    run_id: str,
    link: str,
    run_dir: Path,
    hashes: dict[str, str],
) -> dict[str, Any]:
    """What the flow returns (and `rewardflow run` prints); logs the outcome in one line."""
    verdict = "champion" if decision.promote else "not promoted"
    logger.info("Registered %s v%s: %s (%s)", name, version, verdict, decision.reason)
    return {
        "version": version,
        "promoted": decision.promote,
        "reason": decision.reason,
        "blocked_by": decision.blocked_by,
        "accuracy": evaluation.metrics.get("accuracy"),
        "n_train": n_train,
        "n_eval": n_eval,
        "mlflow_run_id": run_id,
        "mlflow_run": link,
        "reused_version": version_run_id(name, version) != run_id,
        "run_dir": str(run_dir),
        **hashes,
    }


def held_batch_notices(home: Path) -> dict[str, str]:
    """batch id -> a sentence for the run log, for each stored batch left out because its health check held it."""
    return {
        batch: f"Not training on held batch {batch} ({', '.join(entry['sources']) or '?'}): "
        f"{'; '.join(entry['reasons'])}. Release it with `rewardflow release {batch} --home {home}`."
        for batch, entry in sorted(read_holds(Path(home) / "store").items())
    }


def held_batches(home: Path) -> list[str]:
    """The stored batches training leaves out (held by the health check), each said in the run log."""
    notices = held_batch_notices(home)
    for notice in notices.values():
        get_run_logger().warning(notice)
    return list(notices)


def trusts_remote_code(params: RewardFlowParams) -> bool:
    """`RewardConfig.trust_remote_code` of the run (its default unless `training` sets it), known before the
    run folder and so the config exist: ingest loads the champion first."""
    return bool(
        params.training.get("trust_remote_code", RewardConfig.__dataclass_fields__["trust_remote_code"].default)
    )


def ingest_new_pairs(params: RewardFlowParams, home: Path) -> IngestReport | None:
    """Validate and store `params.dataset_name` first, if given; the champion, if any, scores the new pairs."""
    dataset = checked_dataset(params)
    if not dataset:
        return None
    report = ingest(
        [dataset],
        home,
        config=params.data,
        health=params.health,
        registered_model=params.registered_model_name,
        trust_remote_code=trusts_remote_code(params),
    )
    log_ingest_run(home, report, params.experiment_name)  # MLflow run `ingest <batch>`
    return report
