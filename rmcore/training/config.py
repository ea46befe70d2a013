"""`RewardConfig`: the training settings of a reward model, as `TrainingArguments` plus our fields.

Only the defaults that matter for reward models are overridden; each field's `help` is its one
documentation, and `HfArgumentParser(RewardConfig)` turns every field into a command-line flag.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import TrainingArguments

from rmcore.data.tokenization import check_max_length_setting
from rmcore.forward.precision import bf16_supported


def clamped_logging_steps(logging_steps: float, total_steps: int) -> float:
    """`logging_steps`, or max(1, total_steps // 10) when the run would log fewer than two entries.

    A run of 5 steps at the default 10 would log nothing but its end summary, and one of 15 a single
    point: no curve, only bars. About ten points (every step below 20 steps) draw a curve without
    flooding the tracking store.
    A ratio (< 1) and an unknown total (<= 0: it comes from epochs and data size) are left alone;
    `tasks.training.progress` clamps again once the Trainer knows the total.
    """
    if logging_steps < 1 or total_steps <= 0 or total_steps >= 2 * logging_steps:
        return logging_steps
    return max(1, total_steps // 10)


@dataclass
class RewardConfig(TrainingArguments):
    """Settings for `RewardTrainer`. Every field has help text; see `rewardflow train --help`."""

    _VALID_DICT_FIELDS = [*TrainingArguments._VALID_DICT_FIELDS, "model_init_kwargs"]

    # Parameters that control the model
    model_init_kwargs: dict[str, Any] | str | None = field(
        default=None,
        metadata={
            "help": "Keyword arguments (a dict, or JSON on the command line) for "
            "`AutoModelForSequenceClassification.from_pretrained` when the model is given by name. `dtype` "
            "defaults to float32 (master weights; bf16/fp16 come from autocast), unlike transformers' 'auto'."
        },
    )
    trust_remote_code: bool = field(
        default=False,
        metadata={"help": "Allow models and tokenizers that ship their own Python code (hub or folder)."},
    )
    keep_model_dtype: bool = field(
        default=False,
        metadata={
            "help": "Train a model object handed over in bf16/fp16 in that dtype. False = upcast its trainable "
            "parameters to float32 with a warning, since pure half-precision Adam updates underflow."
        },
    )
    chat_template_path: str | None = field(
        default=None,
        metadata={
            "help": "Chat template for conversational data: a Jinja file (.jinja/.j2) or a tokenizer folder/hub id "
            "whose template is taken. None = the tokenizer's own; a tokenizer without one renders messages in "
            "hh-rlhf's Human/Assistant form."
        },
    )

    # Parameters that control the data
    eos_token: str | None = field(
        default=None,
        metadata={"help": "Token that ends a sequence; must be in the vocabulary. None = the tokenizer's eos_token."},
    )
    pad_token: str | None = field(
        default=None,
        metadata={"help": "Token used for padding; must be in the vocabulary. None = the tokenizer's, else EOS."},
    )
    pad_to_multiple_of: int | None = field(
        default=None,
        metadata={"help": "Pad padded batches to a multiple of this many tokens (tensor cores like 8). None = off."},
    )
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
            "run per sequence (rmcore.forward.packing, rmcore.forward.varlen_attention): batches stay random, "
            "yet every computed token is real (0.36 padded on hh-rlhf). For decoders with a `score` head and "
            "BERT-style encoders "
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
            "true = on, or an error saying why it would change the rewards. false = off (Python bools work too).",
            "choices": ["auto", "true", "false"],
        },
    )
    activation_offloading: bool = field(
        default=False,
        metadata={
            "help": "Keep the activations saved for backward in CPU memory (torch.autograd.graph.save_on_cpu): "
            "less GPU memory, slower steps. A no-op on CPU."
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
        metadata={
            "help": "Keep all dataset columns: the collator picks the reward columns it needs. True is turned "
            "off by RewardTrainer with a warning, since it would drop the pair columns."
        },
    )
    logging_steps: float = field(
        default=10,
        metadata={
            "help": "Log every this many steps (a float < 1 is a ratio of all steps). A run shorter than twice "
            "this logs every max(1, steps // 10) steps instead, so even a short run draws a curve."
        },
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
    save_strategy: str = field(
        default="steps", metadata={"help": "When to write checkpoints: 'no', 'steps' (every save_steps) or 'epoch'."}
    )

    def __post_init__(self) -> None:
        if self.bf16 is None:
            self.bf16 = bf16_supported() and not self.fp16
        if self.bf16 and not torch.cuda.is_available():
            self.use_cpu = True  # transformers refuses bf16 without a GPU unless told to use the CPU
        check_max_length_setting(self.max_length)
        self._normalise_trl_fields()
        self.logging_steps = clamped_logging_steps(self.logging_steps, self.max_steps)
        if self.prefix_sharing not in ("auto", "true", "false"):
            raise ValueError(f"prefix_sharing must be 'auto', 'true' or 'false', got {self.prefix_sharing!r}")
        if self.length_group_batches < 0:
            raise ValueError(f"length_group_batches must be >= 0, got {self.length_group_batches}")
        if self.center_rewards_coefficient is not None and self.center_rewards_coefficient < 0:
            raise ValueError(f"center_rewards_coefficient must be >= 0 or None, got {self.center_rewards_coefficient}")
        super().__post_init__()

    def to_dict(self) -> dict[str, Any]:
        """TrainingArguments hides every `*_token` field as a secret; eos/pad tokens are not secrets."""
        d = super().to_dict()
        d.update(eos_token=self.eos_token, pad_token=self.pad_token)
        return d

    def _normalise_trl_fields(self) -> None:
        """Accept what a TRL user passes: bools for prefix_sharing, JSON model_init_kwargs; refuse bad sizes."""
        if isinstance(self.prefix_sharing, bool):
            self.prefix_sharing = str(self.prefix_sharing).lower()
        if isinstance(self.model_init_kwargs, str):
            try:
                self.model_init_kwargs = json.loads(self.model_init_kwargs)
            except json.JSONDecodeError as e:
                raise ValueError(f"model_init_kwargs must be a JSON object, got {self.model_init_kwargs!r}") from e
        if self.model_init_kwargs is not None and not isinstance(self.model_init_kwargs, dict):
            raise ValueError(f"model_init_kwargs must be a dict, got {self.model_init_kwargs!r}")
        if self.pad_to_multiple_of is not None and self.pad_to_multiple_of < 1:
            raise ValueError(f"pad_to_multiple_of must be >= 1 or None, got {self.pad_to_multiple_of}")
        for flag in ("per_device_train_batch_size", "per_device_eval_batch_size"):
            if getattr(self, flag) < 1:
                raise ValueError(f"--{flag} must be at least 1, got {getattr(self, flag)}")
