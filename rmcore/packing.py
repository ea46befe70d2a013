"""Padding-free pair batches: pack the sequences of a random batch into a few rows, not one row each.

Chosen and rejected of an hh-rlhf pair differ in length, and a random batch pads every sequence to
its longest member: about two thirds of the tokens computed are padding (issue 4). Sorting batches by
length cuts that but biases training. Packing keeps the batch random: its 2B sequences are placed
into rows as long as the longest of them (first-fit decreasing), each row gets a block-diagonal
attention mask (causal for decoders) and position ids that restart at 0 for every sequence, so each
sequence sees only itself and gets the reward it would get alone. On hh-rlhf this computes ~0.94
real tokens per token instead of ~0.36.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from rmcore.rewards import EXACT_ATTENTION, _unwrap, additive_mask, is_decoder_classifier

# Segment id of the padding at the end of a row: pads attend to each other only, never to text,
# so no attention row is fully masked (a fully masked row gives NaN in scaled_dot_product_attention).
PAD_SEGMENT = -1


@dataclass(frozen=True)
class PackedBatch:
    """Sequences packed into rows.

    Attributes:
        input_ids: [R, L] token ids, pad_token_id after the last sequence of a row.
        position_ids: [R, L] positions restarting at 0 for each sequence (0 on pads).
        segment_ids: [R, L] which sequence of the row a token belongs to; PAD_SEGMENT on pads.
        first_index: [N] flat index (row * L + column) of each sequence's first token, in input order.
        last_index: [N] flat index of each sequence's last token, in input order.
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    segment_ids: torch.Tensor
    first_index: torch.Tensor
    last_index: torch.Tensor

    @property
    def real_tokens(self) -> int:
        return int((self.segment_ids != PAD_SEGMENT).sum())

    @property
    def computed_tokens(self) -> int:
        return self.input_ids.numel()


def pack_lengths(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Assign sequences to rows of `capacity` tokens, first-fit decreasing (at most 11/9 of the optimum + 1 rows).

    Returns:
        Rows of sequence indices; within a row, longest first. Deterministic for given lengths.
    """
    too_long = [i for i, n in enumerate(lengths) if n > capacity]
    if too_long:
        raise ValueError(
            f"sequence {too_long[0]} has {lengths[too_long[0]]} tokens, more than the row capacity {capacity}"
        )
    rows: list[list[int]] = []
    free: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        row = next((r for r, space in enumerate(free) if space >= lengths[i]), None)
        if row is None:
            rows.append([])
            free.append(capacity)
            row = len(rows) - 1
        rows[row].append(i)
        free[row] -= lengths[i]
    return rows


def pack_sequences(sequences: Sequence[torch.Tensor], pad_token_id: int, capacity: int | None = None) -> PackedBatch:
    """Pack 1-D token tensors into rows of `capacity` tokens (default: the longest sequence)."""
    if not sequences:
        raise ValueError("pack_sequences needs at least one sequence")
    lengths = [int(s.numel()) for s in sequences]
    capacity = capacity or max(lengths)
    rows = pack_lengths(lengths, capacity)
    device = sequences[0].device
    input_ids = torch.full((len(rows), capacity), pad_token_id, dtype=sequences[0].dtype, device=device)
    position_ids = torch.zeros((len(rows), capacity), dtype=torch.long, device=device)
    segment_ids = torch.full((len(rows), capacity), PAD_SEGMENT, dtype=torch.long, device=device)
    first = [0] * len(sequences)
    last = [0] * len(sequences)
    for r, members in enumerate(rows):
        col = 0
        for segment, i in enumerate(members):
            n = lengths[i]
            input_ids[r, col : col + n] = sequences[i]
            position_ids[r, col : col + n] = torch.arange(n, device=device)
            segment_ids[r, col : col + n] = segment
            first[i], last[i] = r * capacity + col, r * capacity + col + n - 1
            col += n
    as_index = lambda xs: torch.tensor(xs, dtype=torch.long, device=device)  # noqa: E731
    return PackedBatch(input_ids, position_ids, segment_ids, as_index(first), as_index(last))


def block_diagonal_mask(segment_ids: torch.Tensor, causal: bool) -> torch.Tensor:
    """Boolean attention mask that lets a token see only its own sequence (and, if causal, its past).

    Args:
        segment_ids: [R, L].

    Returns:
        [R, 1, L, L] bool, True = may attend; the 4-D form transformers passes to attention as is.
    """
    mask = segment_ids[:, :, None] == segment_ids[:, None, :]
    if causal:
        mask = mask & torch.ones_like(mask[0], dtype=torch.bool).tril()
    return mask[:, None]


def supports_packing(model: nn.Module) -> bool:
    """Packing needs a head we can run on gathered tokens (a decoder's `score`, or BERT-style pooler +
    classifier) and an attention implementation that takes a custom 4-D mask (sdpa or eager)."""
    inner = _unwrap(model)
    if getattr(inner.config, "_attn_implementation", "sdpa") not in EXACT_ATTENTION:
        return False
    if is_decoder_classifier(model):
        return True
    backbone = getattr(inner, getattr(inner, "base_model_prefix", ""), None)
    return getattr(backbone, "pooler", None) is not None and isinstance(getattr(inner, "classifier", None), nn.Module)


def packed_rewards(model: nn.Module, packed: PackedBatch) -> torch.Tensor:
    """One reward per packed sequence, in input order; equal to `compute_rewards` on each sequence alone.

    Returns:
        [N] rewards.
    """
    inner = _unwrap(model)
    decoder = is_decoder_classifier(model)
    backbone = getattr(inner, inner.base_model_prefix)
    mask = block_diagonal_mask(packed.segment_ids, causal=decoder)
    if inner.config._attn_implementation == "eager":  # eager adds the mask to the scores: it must be additive
        mask = additive_mask(mask, backbone.get_input_embeddings().weight.dtype)
    hidden = backbone(
        input_ids=packed.input_ids, attention_mask=mask, position_ids=packed.position_ids
    ).last_hidden_state
    flat = hidden.reshape(-1, hidden.shape[-1])
    if decoder:
        return inner.score(flat[packed.last_index])[:, 0]
    pooled = backbone.pooler(flat[packed.first_index][:, None, :])  # the pooler reads token 0 of each "sequence"
    dropout = getattr(inner, "dropout", nn.Identity())
    return inner.classifier(dropout(pooled))[:, 0]


def unpad(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[torch.Tensor]:
    """The real tokens of each row of a padded batch (left or right padding)."""
    return [ids[mask.bool()] for ids, mask in zip(input_ids, attention_mask, strict=True)]


def pack_pair_batch(batch: dict[str, torch.Tensor], pad_token_id: int) -> PackedBatch:
    """Pack the chosen then the rejected sequences of a collated pair batch (B pairs -> 2B sequences)."""
    sequences = unpad(batch["input_ids_chosen"], batch["attention_mask_chosen"]) + unpad(
        batch["input_ids_rejected"], batch["attention_mask_rejected"]
    )
    return pack_sequences(sequences, pad_token_id)


def packed_pair_rewards(
    model: nn.Module, batch: dict[str, torch.Tensor], pad_token_id: int = 0
) -> tuple[torch.Tensor, torch.Tensor, PackedBatch]:
    """Like `rmcore.rewards.pair_rewards`, from one forward pass over the packed batch.

    Returns:
        (rewards_chosen [B], rewards_rejected [B], the packed batch, for token counts).
    """
    packed = pack_pair_batch(batch, pad_token_id)
    rewards_chosen, rewards_rejected = packed_rewards(model, packed).chunk(2)
    return rewards_chosen, rewards_rejected, packed
