"""Score texts with a reward model: batched, padding-free where the model packs, without gradients.

Packing (`rmcore.packing`) lays each batch's texts end to end in one row, attention running per
text: no pad token is computed, and each text gets the reward it gets alone. Models that cannot pack
are scored in padded batches, longest first so each batch pads little.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from rmcore.config import bf16_supported
from rmcore.packing import pack_sequences, packed_rewards, supports_packing
from rmcore.rewards import compute_rewards
from rmcore.tokenization import model_max_length, tokenize_texts


def autocast_context(model: nn.Module, enabled: bool | None = None):
    """bf16 autocast on the model's device where the hardware runs it fast; a no-op elsewhere."""
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
    batch_size: int = 32,
    max_length: int | None = None,
    bf16: bool | None = None,
    templated: bool = False,
) -> list[float]:
    """One reward per text, in the order given; `templated` texts (chat template output) get no added
    special tokens, as in training.

    Texts are truncated from the left like in training and scored under `torch.inference_mode`,
    `batch_size` texts per forward: packed end to end where the model supports it, else padded.
    """
    rewards, _ = score_texts_truncated(model, tokenizer, texts, batch_size, max_length, bf16, templated)
    return rewards


def score_texts_truncated(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    batch_size: int = 32,
    max_length: int | None = None,
    bf16: bool | None = None,
    templated: bool = False,
) -> tuple[list[float], list[bool]]:
    """`score_texts`, plus whether each text was cut to `max_length`, both from one tokenization.

    Returns:
        (rewards, truncated): one float and one flag per text, in the order given.
    """
    if not texts:
        return [], []
    max_length = max_length or model_max_length(model, tokenizer)
    ids, truncated = tokenize_texts(texts, tokenizer, max_length, templated)
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    device = next(model.parameters()).device
    scores = [0.0] * len(ids)
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast_context(model, bf16):
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            rewards = _batch_rewards(model, tokenizer, [ids[i] for i in chunk], device)
            for i, r in zip(chunk, rewards.float().tolist(), strict=True):
                scores[i] = r
    model.train(was_training)
    return scores, list(truncated)


def _batch_rewards(model: nn.Module, tokenizer: PreTrainedTokenizerBase, ids: list[list[int]], device) -> torch.Tensor:
    """Rewards of one batch of token lists: packed where the model supports it, else one padded batch."""
    if supports_packing(model):
        return packed_rewards(model, pack_sequences([torch.tensor(x, device=device) for x in ids]))
    padded = tokenizer.pad([{"input_ids": x} for x in ids], return_tensors="pt")
    return compute_rewards(model, padded["input_ids"].to(device), padded["attention_mask"].to(device))
