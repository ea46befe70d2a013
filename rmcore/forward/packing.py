"""Padding-free pair batches: the sequences of a random batch lie end to end in one row, no padding.

Chosen and rejected of an hh-rlhf pair differ in length, and a random batch pads every sequence to
its longest member: about two thirds of the tokens computed are padding. Sorting batches by
length cuts that but biases training. Packing keeps the batch random: its 2B sequences are laid end
to end, position ids restart at 0 for every sequence, and attention runs per sequence
(`rmcore.forward.varlen_attention`), so each sequence gets the reward it would get alone and every token
computed is a real one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from rmcore.forward.rewards import _unwrap, is_decoder_classifier
from rmcore.forward.segments import VarlenSegments
from rmcore.forward.varlen_attention import varlen_attention


@dataclass(frozen=True)
class PackedBatch:
    """Sequences laid end to end in one row.

    Attributes:
        input_ids: [1, T] token ids of all sequences, in input order.
        position_ids: [1, T] positions restarting at 0 for each sequence.
        lengths: tokens of each sequence, in input order.
        first_index: [N] index in the row of each sequence's first token.
        last_index: [N] index in the row of each sequence's last token.
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    lengths: tuple[int, ...]
    first_index: torch.Tensor
    last_index: torch.Tensor

    @property
    def real_tokens(self) -> int:
        return self.input_ids.numel()

    @property
    def computed_tokens(self) -> int:
        return self.input_ids.numel()


def pack_sequences(sequences: Sequence[torch.Tensor]) -> PackedBatch:
    """Lay 1-D token tensors end to end."""
    if not sequences:
        raise ValueError("pack_sequences needs at least one sequence")
    lengths = tuple(int(s.numel()) for s in sequences)
    if min(lengths) == 0:
        raise ValueError(f"sequence {lengths.index(0)} is empty; every sequence needs at least one token")
    device = sequences[0].device
    sizes = torch.tensor(lengths, device=device)
    ends = sizes.cumsum(0)
    starts = ends - sizes
    position_ids = torch.arange(int(ends[-1]), device=device) - starts.repeat_interleave(sizes)
    return PackedBatch(torch.cat(list(sequences))[None], position_ids[None], lengths, starts, ends - 1)


def supports_packing(model: nn.Module) -> bool:
    """Packing needs attention that goes through transformers' AttentionInterface (to run per sequence)
    and a head we can run on gathered tokens (a decoder's `score`, or BERT-style pooler + classifier)."""
    inner = _unwrap(model)
    if not getattr(inner, "_supports_attention_backend", False):
        return False
    if is_decoder_classifier(model):
        return True
    backbone = getattr(inner, getattr(inner, "base_model_prefix", ""), None)
    return getattr(backbone, "pooler", None) is not None and isinstance(getattr(inner, "classifier", None), nn.Module)


def packed_hidden(
    model: nn.Module, input_ids: torch.Tensor, position_ids: torch.Tensor, segments: VarlenSegments
) -> torch.Tensor:
    """The backbone's last hidden states of a packed [1, T] row, attention running piece by piece: [T, hidden]."""
    inner = _unwrap(model)
    backbone = getattr(inner, inner.base_model_prefix)
    with varlen_attention(inner):
        hidden = backbone(input_ids=input_ids, position_ids=position_ids, rmcore_segments=segments).last_hidden_state
    if segments.calls == 0:
        raise RuntimeError(
            f"{type(inner).__name__} does not route attention through transformers' AttentionInterface, so packed "
            "sequences would attend to each other; train with padding_free=False"
        )
    return hidden[0]


def packed_rewards(model: nn.Module, packed: PackedBatch) -> torch.Tensor:
    """One reward per packed sequence, in input order; equal to `compute_rewards` on each sequence alone.

    Returns:
        [N] rewards.
    """
    inner = _unwrap(model)
    hidden = packed_hidden(model, packed.input_ids, packed.position_ids, VarlenSegments(packed.lengths))
    if is_decoder_classifier(model):
        return inner.score(hidden[packed.last_index])[:, 0]
    backbone = getattr(inner, inner.base_model_prefix)
    pooled = backbone.pooler(hidden[packed.first_index][:, None, :])  # the pooler reads token 0 of each "sequence"
    dropout = getattr(inner, "dropout", nn.Identity())
    return inner.classifier(dropout(pooled))[:, 0]


def unpad(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
    """The real tokens of each row of a padded batch (left or right padding)."""
    return [ids[mask.bool()] for ids, mask in zip(input_ids, attention_mask, strict=True)]


def pack_pair_batch(batch: dict[str, torch.Tensor]) -> PackedBatch:
    """Pack the chosen then the rejected sequences of a collated pair batch (B pairs -> 2B sequences)."""
    sequences = unpad(batch["input_ids_chosen"], batch["attention_mask_chosen"]) + unpad(
        batch["input_ids_rejected"], batch["attention_mask_rejected"]
    )
    return pack_sequences(sequences)


def packed_pair_rewards(
    model: nn.Module, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, PackedBatch]:
    """Like `rmcore.forward.rewards.pair_rewards`, from one forward pass over the packed batch.

    Returns:
        (rewards_chosen [B], rewards_rejected [B], the packed batch, for token counts).
    """
    packed = pack_pair_batch(batch)
    rewards_chosen, rewards_rejected = packed_rewards(model, packed).chunk(2)
    return rewards_chosen, rewards_rejected, packed
