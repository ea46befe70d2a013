"""Score texts with a reward model: batched, longest first, without gradients."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from rmcore.config import bf16_supported
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

    Texts are sorted by token length so each batch pads little, truncated from the left like in
    training, and scored under `torch.inference_mode`.
    """
    if not texts:
        return []
    max_length = max_length or model_max_length(model, tokenizer)
    ids, _ = tokenize_texts(texts, tokenizer, max_length, templated)
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    device = next(model.parameters()).device
    scores = [0.0] * len(ids)
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast_context(model, bf16):
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            padded = tokenizer.pad([{"input_ids": ids[i]} for i in chunk], return_tensors="pt")
            rewards = compute_rewards(model, padded["input_ids"].to(device), padded["attention_mask"].to(device))
            for i, r in zip(chunk, rewards.float().tolist(), strict=True):
                scores[i] = r
    model.train(was_training)
    return scores
