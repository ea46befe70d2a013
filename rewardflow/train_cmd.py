"""`rewardflow train`: train a reward model from the shell, like TRL's `examples/scripts/reward_modeling.py`.

    rewardflow train --dataset_name ../shared/data/hh-rlhf-harmless-base-1800.jsonl.gz \\
        --output_dir runs/rm --num_train_epochs 1 --use_peft --lora_r 16

The same path as the `reward-model` flow, minus the store and the registry: pairs are read and
validated by the pipeline's rules (a bad row is named by file, line and rule, or set aside with
`--quarantine DIR`), split by pair hash, tokenized, trained (`--num_processes N` launches N processes
as the flow does), saved in `OUTPUT_DIR` itself as TRL saves (config, safetensors, tokenizer; checkpoints
in `OUTPUT_DIR/checkpoint-N`), and scored on the held-out pairs (report under `OUTPUT_DIR/eval`, tokenized
pairs cached under `OUTPUT_DIR/cache`). `rewardflow evaluate --model OUTPUT_DIR` and
`AutoModelForSequenceClassification.from_pretrained(OUTPUT_DIR)` load the result. Rerunning the same
command resumes from the newest complete checkpoint in `--output_dir`.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from deployments.flags import FlagParser
from rewardflow.errors import is_disk_full
from rewardflow.logs import flag_value
from rmcore import RewardConfig
from rmcore.models.loading import default_model_path
from rmcore.training.launch import LaunchArguments, check_sharded_training
from rmcore.training.script_args import LoraArguments, ScriptArguments, build_peft_config

PROG = "rewardflow train"
# Where results go or how a run resumes: not part of what is trained.
NOT_WORK = ("output_dir", "logging_dir", "resume_from_checkpoint")


@dataclass
class InputArguments:
    """What happens to rows that break a data rule."""

    quarantine: str | None = field(
        default=None,
        metadata={
            "help": "Folder for rows that break a rule (kept verbatim with the rule, as the pipeline does); "
            "training goes on with the good rows. None = refuse the data, naming each bad row's file and line."
        },
    )


def make_parser() -> FlagParser:
    dataclasses = (ScriptArguments, RewardConfig, LoraArguments, LaunchArguments, InputArguments)
    return FlagParser(dataclasses, prog=PROG)


def parse_args(argv: list[str]) -> tuple[ScriptArguments, RewardConfig, LoraArguments, LaunchArguments, InputArguments]:
    """Flags to dataclasses; an unknown flag or a bad value exits with argparse's error (status 2)."""
    parser = make_parser()
    try:
        *parsed, rest = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    except ValueError as err:  # a dataclass __post_init__ refused a value
        parser.error(str(err))
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if not parsed[0].dataset_name:
        parser.error("the following arguments are required: --dataset_name")
    if flag_value(argv, "--output_dir", "") == "":  # RewardConfig defaults it; TRL's scripts require it
        parser.error("the following arguments are required: --output_dir")
    return tuple(parsed)  # type: ignore[return-value]


def check_output_dir(output_dir: str) -> None:
    """`--output_dir` must be a folder this process can write, checked before any reading or tokenizing.

    The nearest existing folder on its path gets a probe file (created and removed), so a read-only file
    system, a folder without write permission and a file in the way all fail here, in one line.

    Raises:
        ValueError: naming the flag, the value and what is wrong.
    """
    out = Path(output_dir).expanduser()
    existing = next(p for p in (out, *out.parents) if p.exists() or p == p.parent)
    if not existing.is_dir():
        what = "is a file" if existing == out else f"lies under {existing}, which is a file"
        raise ValueError(f"--output_dir {output_dir} {what}, not a folder: give a folder (created if missing)")
    try:
        tempfile.NamedTemporaryFile(dir=existing, prefix=".rewardflow-probe-").close()
    except OSError as err:
        raise ValueError(
            f"--output_dir {output_dir}: {existing} cannot be written ({err.strerror or err}); give a writable folder"
        ) from None


def read_splits(script: ScriptArguments, inputs: InputArguments, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validated train and eval pairs: the named test split, else the pipeline's hash split at eval_fraction."""
    from tasks.data.config import DataConfig
    from tasks.data.files import read_valid_pairs
    from tasks.data.split import split_pairs

    quarantine = Path(inputs.quarantine) if inputs.quarantine else None
    name = script.dataset_name
    pairs = read_valid_pairs([name], DataConfig(hub_split=script.dataset_train_split), quarantine)
    if script.dataset_test_split:
        held_out = read_valid_pairs([name], DataConfig(hub_split=script.dataset_test_split), quarantine)
        return pairs, held_out
    return split_pairs(pairs, script.eval_fraction, seed=seed, where=name)


def work_key(train_df: pd.DataFrame, eval_df: pd.DataFrame, config: RewardConfig, job_settings: dict) -> str:
    """The idempotency key of this training (data + flags + code), as the flow keys its run folders."""
    from tasks.data.store import data_hash
    from tasks.registry.idempotency import config_hash
    from tasks.registry.idempotency import work_key as key_of

    flags = {k: v for k, v in config.to_dict().items() if k not in NOT_WORK}
    data = f"{data_hash(train_df)}:{data_hash(eval_df) if len(eval_df) else ''}"
    return key_of(data, config_hash({"training": flags, **job_settings}))


def train_from_files(
    script: ScriptArguments, config: RewardConfig, lora: LoraArguments, launch: LaunchArguments, inputs: InputArguments
) -> dict[str, Any]:
    """Read, validate and split the pairs, then the flow's own sequence: tokenize, train, save, evaluate."""
    from tasks.training.sequence import AS_CALLS, scoring_as_trained, train_and_evaluate
    from tasks.training.train import TrainJob

    check_output_dir(config.output_dir)  # before any reading: a bad folder fails now, not after tokenizing
    check_sharded_training(launch.accelerate_config_file, config.merge_adapter_on_save)
    model = script.model_name_or_path or default_model_path()
    scoring = scoring_as_trained(model, config)  # model-side mistakes are named before any reading
    train_df, eval_df = read_splits(script, inputs, config.seed)
    settings = {"model": model, "lora": vars(lora), "trust_remote_code": config.trust_remote_code}
    job = TrainJob(
        model_name_or_path=model,
        peft_config=build_peft_config(lora),
        resume=True,
        launch=launch,
        work_key=work_key(train_df, eval_df, config, settings),
    )
    out = Path(config.output_dir)
    done = train_and_evaluate(
        train_pairs=train_df,
        eval_pairs=eval_df if len(eval_df) else None,
        config=config,
        job=job,
        scoring=scoring,
        cache_dir=out / "cache",
        eval_dir=out / "eval",
        steps=AS_CALLS,
    )
    result = done.training
    metrics = done.evaluation.metrics if done.evaluation is not None else {}
    return {
        "model": script.model_name_or_path or "all-MiniLM-L6-v2 (default)",
        "data": script.dataset_name,
        "train pairs": len(train_df),
        "eval pairs": len(eval_df),
        "steps": result.train_metrics.get("global_step", config.max_steps),
        "train loss": result.train_metrics.get("train_loss"),
        "train truncated": result.train_metrics.get("train_truncated", 0),
        **{f"eval {key.replace('_', ' ')}": value for key, value in metrics.items()},
        "saved to": result.model_dir,
    }


def summary_table(rows: dict[str, Any]) -> Table:
    """A two-column rich table of what was trained and how well it did."""
    table = Table(title=PROG, show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in rows.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    return table


def main(argv: list[str]) -> int:
    script, config, lora, launch, inputs = parse_args(argv)
    try:
        rows = train_from_files(script, config, lora, launch, inputs)
    except (ValueError, FileNotFoundError, OSError, RuntimeError) as err:
        if is_disk_full(err):  # `run_command` names what to do and the checkpoint to resume from
            raise
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    Console().print(summary_table(rows))
    return 0
