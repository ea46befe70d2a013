"""`rewardflow train`: train a reward model from the shell, like TRL's `examples/scripts/reward_modeling.py`.

    rewardflow train --dataset_name ../shared/data/hh-rlhf-harmless-base-1800.jsonl.gz \\
        --output_dir runs/rm --num_train_epochs 1 --use_peft --lora_r 16

Flags come from four dataclasses (`ScriptArguments`, `RewardConfig`, `LoraArguments`,
`LaunchArguments`); bad flags and bad data fail before anything is trained or written. With
`--num_processes N` (N > 1) the command re-runs itself under `accelerate launch` (see rmcore.launch);
only the main process saves and prints.
"""

from __future__ import annotations

import sys
from typing import Any

from datasets import Dataset
from rich.console import Console
from rich.table import Table
from transformers import HfArgumentParser, PreTrainedTokenizerBase, set_seed

from rmcore import RewardConfig, RewardTrainer
from rmcore.data import check_pair_columns, load_pairs
from rmcore.launch import LaunchArguments, check_sharded_training, relaunch, should_launch, without_launch_flags
from rmcore.models import default_model_path, load_reward_backbone, load_tokenizer
from rmcore.script_args import LoraArguments, ScriptArguments, build_peft_config

PROG = "rewardflow train"


def make_parser() -> HfArgumentParser:
    return HfArgumentParser((ScriptArguments, RewardConfig, LoraArguments, LaunchArguments), prog=PROG)


def parse_args(argv: list[str]) -> tuple[ScriptArguments, RewardConfig, LoraArguments, LaunchArguments]:
    """Flags to dataclasses; an unknown flag or a bad value exits with argparse's error (status 2)."""
    parser = make_parser()
    try:
        script_args, training_args, lora_args, launch_args, rest = parser.parse_args_into_dataclasses(
            args=argv, return_remaining_strings=True
        )
    except ValueError as err:  # a dataclass __post_init__ refused a value
        parser.error(str(err))
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if not script_args.dataset_name:
        parser.error("the following arguments are required: --dataset_name")
    if not any(a == "--output_dir" or a.startswith("--output_dir=") for a in argv):
        parser.error("the following arguments are required: --output_dir")
    return script_args, training_args, lora_args, launch_args


def load_splits(script_args: ScriptArguments, seed: int) -> tuple[Dataset, Dataset | None]:
    """Train and eval pairs: the named test split, else a seeded `eval_fraction` hold-out, else none."""
    name = script_args.dataset_name
    train = load_pairs(name, split=script_args.dataset_train_split)
    check_pair_columns(train, name)
    if script_args.dataset_test_split:
        evaluation = load_pairs(name, split=script_args.dataset_test_split)
        check_pair_columns(evaluation, f"{name} [{script_args.dataset_test_split}]")
        return train, evaluation
    if script_args.eval_fraction == 0 or len(train) < 2:
        return train, None
    parts = train.train_test_split(test_size=script_args.eval_fraction, seed=seed)
    return parts["train"], parts["test"]


def load_model(script_args: ScriptArguments, training_args: RewardConfig) -> tuple[Any, PreTrainedTokenizerBase]:
    """The model as a one-label sequence classifier (fp32 master weights by default), and its tokenizer."""
    path = script_args.model_name_or_path or default_model_path()
    remote = training_args.trust_remote_code
    tokenizer = load_tokenizer(path, remote)
    return load_reward_backbone(path, training_args.model_init_kwargs, remote), tokenizer


def summary_table(rows: dict[str, Any]) -> Table:
    """A two-column rich table of what was trained and how well it did."""
    table = Table(title="rewardflow train", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in rows.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    return table


def summary_rows(
    script_args: ScriptArguments,
    training_args: RewardConfig,
    trainer: RewardTrainer,
    train_metrics: dict[str, Any],
    eval_metrics: dict[str, Any],
) -> dict[str, Any]:
    rows: dict[str, Any] = {
        "model": script_args.model_name_or_path or "all-MiniLM-L6-v2 (default)",
        "data": script_args.dataset_name,
        "train pairs": len(trainer.train_dataset),
        "eval pairs": len(trainer.eval_dataset) if trainer.eval_dataset is not None else 0,
        "steps": trainer.state.global_step,
        "train loss": train_metrics.get("train_loss"),
        "train truncated": train_metrics.get("train_truncated", 0),
    }
    for key in ("accuracy", "mean_margin", "chosen_mean", "rejected_mean", "truncated"):
        if f"eval_{key}" in eval_metrics:
            rows[f"eval {key.replace('_', ' ')}"] = eval_metrics[f"eval_{key}"]
    rows["saved to"] = training_args.output_dir
    return rows


def build_trainer(script_args: ScriptArguments, training_args: RewardConfig, lora_args: LoraArguments) -> RewardTrainer:
    """Load and check the pairs, load the model, tokenize: every input error surfaces here, before training."""
    train_pairs, eval_pairs = load_splits(script_args, training_args.seed)
    set_seed(training_args.seed)  # a new score head starts the same in every run and every process
    model, tokenizer = load_model(script_args, training_args)
    return RewardTrainer(
        model=model,
        args=training_args,
        processing_class=tokenizer,
        train_dataset=train_pairs,
        eval_dataset=eval_pairs,
        peft_config=build_peft_config(lora_args),
    )


def train_and_save(trainer: RewardTrainer) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train, save model and tokenizer to output_dir, then evaluate. Returns train and eval metrics."""
    train_metrics = trainer.train().metrics
    trainer.save_model(trainer.args.output_dir)
    trainer.save_metrics("train", train_metrics)
    eval_metrics: dict[str, Any] = {}
    if trainer.eval_dataset is not None:
        eval_metrics = trainer.evaluate()
        trainer.save_metrics("eval", eval_metrics)
    return train_metrics, eval_metrics


def main(argv: list[str]) -> int:
    script_args, training_args, lora_args, launch_args = parse_args(argv)
    if should_launch(launch_args):
        try:
            check_sharded_training(launch_args.accelerate_config_file, training_args.merge_adapter_on_save)
        except (ValueError, FileNotFoundError) as err:
            print(f"{PROG}: error: {err}", file=sys.stderr)
            return 1
        return relaunch(launch_args, ["rewardflow.cli", "train", *without_launch_flags(argv)])
    try:
        trainer = build_trainer(script_args, training_args, lora_args)
    except (ValueError, FileNotFoundError, OSError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    train_metrics, eval_metrics = train_and_save(trainer)
    if not trainer.is_world_process_zero():
        return 0  # the main process prints the summary; every process took part in training
    Console().print(summary_table(summary_rows(script_args, training_args, trainer, train_metrics, eval_metrics)))
    return 0
