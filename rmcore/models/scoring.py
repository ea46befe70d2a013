"""Score texts with a reward model: batched, padding-free where the model packs, without gradients, in fp32.

Packing (`rmcore.forward.packing`) lays each batch's texts end to end in one row, attention running per
text: no pad token is computed, and each text gets the reward it gets alone. Models that cannot pack
are scored in padded batches, longest first so each batch pads little; the reward is read at each
row's last real token with positions counting real tokens only (`rmcore.forward.rewards.compute_rewards`), so
padding does not move it either.

Scoring runs in fp32 unless a caller asks otherwise. Under bf16 autocast a reward moves by 1e-4 to
1e-3 and depends on the shapes of the batch it lands in, so evaluation, the gate and the server
would each give a text a slightly different reward; in fp32 they agree to 1e-5 whatever the batch.
bf16 is a `ScoringConfig.precision` choice for speed, not a default.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from rmcore.data.tokenization import check_max_length_setting, resolve_max_length, tokenize_texts
from rmcore.forward.packing import pack_sequences, packed_rewards, supports_packing
from rmcore.forward.precision import bf16_supported
from rmcore.forward.rewards import compute_rewards

PRECISIONS = ("fp32", "bf16", "auto")


@dataclass
class ScoringConfig:
    """How texts are scored: forward batch size, length limit and precision."""

    batch_size: int = field(
        default=32,
        metadata={"help": "Texts per forward pass (packed end to end where the model supports it, else padded)."},
    )
    max_length: int | None = field(
        default=None,
        metadata={
            "help": "Tokens per text; longer texts lose tokens from the left, as in training. None = the model's "
            "own limit as saved (the tokenizer's model_max_length, capped by the position embeddings)."
        },
    )
    precision: str = field(
        default="fp32",
        metadata={
            "help": "fp32 = rewards equal the fp32 reward and do not depend on the batch a text lands in (<= 1e-5); "
            "bf16 = bf16 autocast, faster where the hardware has native bf16, rewards off by ~1e-3 and batch-"
            "dependent; auto = bf16 where rmcore.forward.precision.bf16_supported() says the hardware is fast, "
            "else fp32."
        },
    )

    trust_remote_code: bool = field(
        default=False,
        metadata={
            "help": "Run the model code saved in the folder (config.json auto_map) when loading it, as training "
            "with --trust_remote_code did. Only for models you trust."
        },
    )

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        check_max_length_setting(self.max_length)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    @property
    def uses_bf16(self) -> bool:
        """Whether scoring runs under bf16 autocast on this machine (`auto` resolved by the hardware)."""
        return self.precision == "bf16" or (self.precision == "auto" and bf16_supported())

    @property
    def precision_in_effect(self) -> str:
        """'fp32' or 'bf16': what `auto` came to here, for `/info` and reports."""
        return "bf16" if self.uses_bf16 else "fp32"


def precision_of(bf16: bool | None) -> str:
    """The `precision` meant by a `bf16` flag (as a benchmark holds one): False = fp32, True = bf16, None = auto."""
    return "auto" if bf16 is None else ("bf16" if bf16 else "fp32")


def autocast_context(model: nn.Module, enabled: bool | None = None):
    """bf16 autocast on the model's device when `enabled` (None = where the hardware runs it fast); else a no-op."""
    if enabled is None:
        enabled = bf16_supported()
    if not enabled:
        return contextlib.nullcontext()
    device_type = next(model.parameters()).device.type
    return torch.autocast(device_type=device_type, dtype=torch.bfloat16)


def score_texts(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    config: ScoringConfig = ScoringConfig(),
    templated: bool = False,
) -> list[float]:
    """One reward per text, in the order given; `templated` texts (chat template output) get no added
    special tokens, as in training.

    Texts are truncated from the left like in training and scored under `torch.inference_mode`,
    `config.batch_size` texts per forward: packed end to end where the model supports it, else padded.
    """
    rewards, _ = score_texts_truncated(model, tokenizer, texts, config, templated)
    return rewards


def score_texts_truncated(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    config: ScoringConfig = ScoringConfig(),
    templated: bool = False,
) -> tuple[list[float], list[bool]]:
    """`score_texts`, plus whether each text was cut to the token limit, both from one tokenization.

    Returns:
        (rewards, truncated): one float and one flag per text, in the order given.
    """
    if not texts:
        return [], []
    max_length = resolve_max_length(config.max_length, model, tokenizer)
    ids, truncated = tokenize_texts(texts, tokenizer, max_length, templated)
    return score_token_ids(model, tokenizer, ids, config), list(truncated)


def score_token_ids(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, ids: Sequence[Sequence[int]], config: ScoringConfig
) -> list[float]:
    """One reward per token list (already truncated, special tokens included), in the order given.

    Longest first, `config.batch_size` per forward, at `config.precision`. The reward server tokenizes
    each request once, counts its tokens against the limits, and scores slices of it through here.
    """
    if not ids:
        return []
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    device = next(model.parameters()).device
    scores = [0.0] * len(ids)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), autocast_context(model, config.uses_bf16):
            for start in range(0, len(order), config.batch_size):
                chunk = order[start : start + config.batch_size]
                rewards = _batch_rewards(model, tokenizer, [list(ids[i]) for i in chunk], device)
                for i, r in zip(chunk, rewards.float().tolist(), strict=True):
                    scores[i] = r
    finally:
        model.train(was_training)
    return scores


def _batch_rewards(model: nn.Module, tokenizer: PreTrainedTokenizerBase, ids: list[list[int]], device) -> torch.Tensor:
    """Rewards of one batch of token lists: packed where the model supports it, else one padded batch."""
    if supports_packing(model):
        return packed_rewards(model, pack_sequences([torch.tensor(x, device=device) for x in ids]))
    padded = tokenizer.pad([{"input_ids": x} for x in ids], return_tensors="pt")
    return compute_rewards(model, padded["input_ids"].to(device), padded["attention_mask"].to(device))
