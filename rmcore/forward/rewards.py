"""Run a sequence-classification model and read one reward per sequence, at the right token.

Decoder classifiers in transformers (GPT-2, Llama, ...) pool at "the last token that is not the pad
token". When the pad token is the EOS token, as is usual for them, a sequence that ends in EOS is
read at the wrong place, and left padding breaks it too. We read at the last real token found from
the attention mask instead, and give decoders position ids that count real tokens only, so a padded
batch gives the same rewards as each sequence alone. Encoders (BERT & co.) pool their first token
with a bidirectional mask, so their own forward is already right.
"""

from __future__ import annotations

import torch
from torch import nn


def last_token_indices(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token of each row, for left or right padding.

    Args:
        attention_mask: [B, L] of 0/1.

    Returns:
        [B] long tensor.
    """
    positions = torch.arange(attention_mask.shape[-1], device=attention_mask.device)
    return (positions * attention_mask.long()).argmax(dim=-1)


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that count real tokens only (0 for pads), so left padding does not shift them."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def _unwrap(model: nn.Module) -> nn.Module:
    """The transformers model inside PEFT or DDP wrappers (LoRA layers stay injected in it)."""
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    while hasattr(model, "module") and isinstance(model.module, nn.Module):
        model = model.module
    return model


def is_distributed_wrapper(model: nn.Module) -> bool:
    """True for DDP, DataParallel, FSDP and DeepSpeed wrappers (and models sharded with FSDP2).

    They reduce gradients or gather parameters in their own forward: a path that calls the backbone
    of the model inside them directly would leave every process training on its own gradients.
    """
    if isinstance(getattr(model, "module", None), nn.Module):
        return True
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # torch built without distributed support
        return False
    return isinstance(model, FSDPModule)


def is_decoder_classifier(model: nn.Module) -> bool:
    """True for last-token classifiers: transformers names their head `score`, encoders' `classifier`."""
    inner = _unwrap(model)
    return hasattr(inner, "score") and hasattr(inner, inner.base_model_prefix)


def compute_rewards(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """One reward per row.

    Args:
        model: an `AutoModelForSequenceClassification` with num_labels=1 (optionally PEFT-wrapped).
        input_ids: [B, L].
        attention_mask: [B, L].

    Returns:
        [B] rewards.
    """
    if not is_decoder_classifier(model):
        return model(input_ids=input_ids, attention_mask=attention_mask).logits[:, 0]
    inner = _unwrap(model)
    backbone = getattr(inner, inner.base_model_prefix)
    hidden = backbone(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),
    ).last_hidden_state
    last = last_token_indices(attention_mask)
    pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    return inner.score(pooled)[:, 0]


def concat_pair_batch(batch: dict[str, torch.Tensor], pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack chosen over rejected into one [2B, L] batch, padding the shorter side on the right."""
    ids_c, ids_r = batch["input_ids_chosen"], batch["input_ids_rejected"]
    mask_c, mask_r = batch["attention_mask_chosen"], batch["attention_mask_rejected"]
    length = max(ids_c.shape[1], ids_r.shape[1])

    def pad(x: torch.Tensor, value: int) -> torch.Tensor:
        return nn.functional.pad(x, (0, length - x.shape[1]), value=value)

    input_ids = torch.cat([pad(ids_c, pad_token_id), pad(ids_r, pad_token_id)])
    attention_mask = torch.cat([pad(mask_c, 0), pad(mask_r, 0)])
    return input_ids, attention_mask


def pair_rewards(
    model: nn.Module, batch: dict[str, torch.Tensor], pad_token_id: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rewards of chosen and rejected from a single forward pass over both.

    Returns:
        (rewards_chosen [B], rewards_rejected [B]).
    """
    input_ids, attention_mask = concat_pair_batch(batch, pad_token_id)
    rewards = compute_rewards(model, input_ids, attention_mask)
    return rewards.chunk(2)
