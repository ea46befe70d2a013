"""`RewardConfig`: the training settings of a reward model, as `TrainingArguments` plus our fields.

Only the defaults that matter for reward models are overridden; each field's `help` is its one
documentation, and `HfArgumentParser(RewardConfig)` turns every field into a command-line flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers import TrainingArguments


def bf16_supported() -> bool:
    """True where bf16 autocast is fast: a CUDA GPU with bf16, or a CPU with AVX-512 BF16 / AMX."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@dataclass
class RewardConfig(TrainingArguments):
    """Settings for `RewardTrainer`. Every field has help text; see `rewardflow train --help`."""

    # Parameters that control the data
    max_length: int | None = field(
        default=None,
        metadata={
            "help": "Longest sequence (prompt + reply) in tokens. Longer ones are truncated from the left, "
            "keeping the final replies where chosen and rejected differ; none is dropped, and the count "
            "is reported as `truncated`. None = the model's own limit."
        },
    )
    dataset_num_proc: int | None = field(
        default=None, metadata={"help": "Processes for tokenizing the dataset. None = this process only."}
    )

    # Parameters that control the loss
    center_rewards_coefficient: float | None = field(
        default=None,
        metadata={
            "help": "Weight of the auxiliary loss mean((r_chosen + r_rejected)^2) that keeps rewards "
            "centred on zero (Eisenstein et al. 2023). None = off; 0.01 is the recommended value."
        },
    )

    # Parameters that control speed
    padding_free: bool = field(
        default=True,
        metadata={
            "help": "Lay the chosen and rejected sequences of each batch end to end in one row, with attention "
            "run per sequence (rmcore.packing, rmcore.varlen_attention): batches stay random, yet every computed "
            "token is real (0.36 padded on hh-rlhf). For decoders with a `score` head and BERT-style encoders "
            "whose attention goes through transformers' AttentionInterface; other models fall back to padded "
            "batches."
        },
    )
    length_group_batches: int = field(
        default=0,
        metadata={
            "help": "Batch pairs of similar length inside windows of this many batches (shuffled, seeded) "
            "to cut padding when padding_free is off or unsupported. 0 = random batches. Windows of ~4 "
            "keep accuracy; ~50 are faster but bias training."
        },
    )
    prefix_sharing: str = field(
        default="auto",
        metadata={
            "help": "Compute the prompt that chosen and rejected share only once: each pair becomes one row "
            "[prompt][chosen reply][rejected reply] whose mask hides the chosen reply from the rejected one "
            "(about 35 percent fewer tokens on hh-rlhf). auto = on for causal decoders with sdpa or eager "
            "attention, where rewards are unchanged; off for encoders, whose bidirectional attention makes it inexact. "
            "true = on, or an error saying why it would change the rewards. false = off.",
            "choices": ["auto", "true", "false"],
        },
    )
    disable_dropout: bool = field(
        default=True,
        metadata={"help": "Turn dropout off in the model, as TRL and open-instruct do for reward models."},
    )
    bf16: bool | None = field(
        default=None,
        metadata={
            "help": "bf16 autocast. None = on where the hardware runs it fast (GPUs with bf16, CPUs with "
            "AVX-512 BF16 or AMX), fp32 elsewhere."
        },
    )

    # Parameters that control evaluation output
    eval_table_rows: int = field(
        default=8,
        metadata={"help": "Eval pairs sampled into the printed logit table at each evaluation. 0 = none."},
    )
    eval_plots: bool = field(
        default=True,
        metadata={"help": "Write reward and margin histograms (PNG) to output_dir at each evaluation."},
    )

    # Parameters that control saving
    merge_adapter_on_save: bool = field(
        default=False,
        metadata={"help": "With LoRA: merge the adapter into the base weights when saving the final model."},
    )

    # Inherited fields whose defaults differ for reward models
    remove_unused_columns: bool = field(
        default=False,
        metadata={"help": "Keep all dataset columns: the collator picks the reward columns it needs."},
    )
    logging_steps: float = field(
        default=10, metadata={"help": "Log every this many steps (a float < 1 is a ratio of all steps)."}
    )
    learning_rate: float = field(
        default=1e-4,
        metadata={
            "help": "Peak learning rate of AdamW after the warmup. 1e-4 gave the best held-out accuracy after one "
            "epoch with MiniLM on the shared pairs (benchmarks/sweep_defaults.py, README)."
        },
    )
    warmup_steps: float = field(
        default=0.1,
        metadata={"help": "Linear warmup: steps if >= 1, else a fraction of all training steps."},
    )
    ddp_find_unused_parameters: bool | None = field(
        default=False,
        metadata={"help": "DDP: look for parameters without gradients each step. A reward model uses them all."},
    )
    save_strategy: str = field(default="no", metadata={"help": "When to write checkpoints: 'no', 'steps' or 'epoch'."})

    def __post_init__(self) -> None:
        if self.bf16 is None:
            self.bf16 = bf16_supported() and not self.fp16
        if self.bf16 and not torch.cuda.is_available():
            self.use_cpu = True  # transformers refuses bf16 without a GPU unless told to use the CPU
        if self.max_length is not None and self.max_length < 2:
            raise ValueError(f"max_length must be at least 2 tokens, got {self.max_length}")
        if self.prefix_sharing not in ("auto", "true", "false"):
            raise ValueError(f"prefix_sharing must be 'auto', 'true' or 'false', got {self.prefix_sharing!r}")
        if self.length_group_batches < 0:
            raise ValueError(f"length_group_batches must be >= 0, got {self.length_group_batches}")
        if self.center_rewards_coefficient is not None and self.center_rewards_coefficient < 0:
            raise ValueError(f"center_rewards_coefficient must be >= 0 or None, got {self.center_rewards_coefficient}")
        super().__post_init__()
