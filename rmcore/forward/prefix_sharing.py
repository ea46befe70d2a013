"""Prefix sharing for decoder reward models: run the prompt a pair shares once, not twice.

Chosen and rejected of an hh-rlhf pair share every turn but the last reply, about 35% of a pair's
tokens. In a causal model the prompt's hidden states do not depend on what follows, so a pair can be
laid out as `[prompt][chosen reply][rejected reply]`, pairs end to end in one row with no padding:
attention runs piece by piece (`rmcore.forward.varlen_attention`), the chosen sequence causally over itself,
the rejected reply over the whole prompt and causally over itself, with position ids restarting at
the prompt's end. Each reply then sees exactly what it would see alone, and no masked score is computed.
Wang & Hegde 2024, "Accelerating Direct Preference Optimization with Prefix Sharing"
(arXiv:2410.20305) report 1.1-1.5x for DPO from the same layout.

Encoders attend both ways, so there the prompt does depend on the reply and sharing is inexact.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from torch import nn

from rmcore.forward.packing import packed_hidden, supports_packing, unpad
from rmcore.forward.rewards import _unwrap, is_decoder_classifier
from rmcore.forward.segments import VarlenSegments

MODES = ("auto", "true", "false")
# `auto` shares a batch only when its prompts hold at least this fraction of its tokens: below it the
# tokens saved do not pay for the rejected replies' key copies (measured: benchmarks/bench_prefix_sharing.py).
MIN_SHARED_FRACTION = 0.05


@dataclass(frozen=True)
class SharedPrefixBatch:
    """A pair batch laid out as `[prompt][chosen reply][rejected reply]` per pair, pairs end to end in one row.

    Attributes:
        input_ids: [1, T] token ids.
        position_ids: [1, T] 0..len(chosen)-1, then len(prompt)..len(rejected)-1 for the rejected reply.
        segments: the attention pieces: per pair the chosen sequence, then the rejected reply with the prompt as prefix.
        chosen_last: [B] index in the row of each chosen sequence's last token.
        rejected_last: [B] index in the row of each rejected sequence's last token.
        unshared_tokens: real tokens of chosen plus rejected, what plain packing computes.
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    segments: VarlenSegments
    chosen_last: torch.Tensor
    rejected_last: torch.Tensor
    unshared_tokens: int

    @property
    def real_tokens(self) -> int:
        return self.input_ids.numel()

    @property
    def computed_tokens(self) -> int:
        return self.input_ids.numel()

    @property
    def shared_fraction(self) -> float:
        """Fraction of the unshared tokens that sharing does not compute (the prompts' second copies)."""
        return 1.0 - self.computed_tokens / self.unshared_tokens


def common_prefix_length(chosen: torch.Tensor, rejected: torch.Tensor) -> int:
    """Tokens chosen and rejected share at their start, leaving each reply at least one token.

    A reply must keep a token to be read from; when one sequence is a prefix of the other (or they
    are equal) the shared part is shortened by one, which is still exact.

    Args:
        chosen: [Lc] token ids, no padding.
        rejected: [Lr] token ids, no padding.
    """
    n = min(chosen.numel(), rejected.numel())
    if n == 0:
        raise ValueError("prefix sharing needs non-empty chosen and rejected sequences")
    same = (chosen[:n] == rejected[:n]).long()
    return min(int(same.cumprod(0).sum()), n - 1)


def pack_shared_prefix(batch: dict[str, torch.Tensor]) -> SharedPrefixBatch:
    """Lay out each pair of a collated batch (left or right padded) as `[prompt][chosen][rejected]`, end to end."""
    chosen = unpad(batch["input_ids_chosen"], batch["attention_mask_chosen"])
    rejected = unpad(batch["input_ids_rejected"], batch["attention_mask_rejected"])
    device = batch["input_ids_chosen"].device
    ids, positions, lengths, prefixes, chosen_last, rejected_last = [], [], [], [], [], []
    start = 0
    for c, r in zip(chosen, rejected, strict=True):
        p, lc, lr = common_prefix_length(c, r), c.numel(), r.numel()
        ids += [c, r[p:]]
        positions += [torch.arange(lc, device=device), torch.arange(p, lr, device=device)]
        lengths += [lc, lr - p]
        prefixes += [(0, 0), (start, p)]
        chosen_last.append(start + lc - 1)
        start += lc + lr - p
        rejected_last.append(start - 1)
    as_index = lambda xs: torch.tensor(xs, dtype=torch.long, device=device)  # noqa: E731
    return SharedPrefixBatch(
        torch.cat(ids)[None],
        torch.cat(positions)[None],
        VarlenSegments(lengths, prefixes),
        as_index(chosen_last),
        as_index(rejected_last),
        sum(c.numel() + r.numel() for c, r in zip(chosen, rejected, strict=True)),
    )


def _inexact_reason(model: nn.Module) -> str | None:
    """Why sharing would change this model's rewards (or cannot run), or None where it is exact."""
    if not is_decoder_classifier(model):
        return "the model is not a causal last-token classifier (an encoder's prompt sees the reply)"
    inner = _unwrap(model)
    if not supports_packing(model):
        return "its attention does not go through transformers' AttentionInterface, so replies cannot be laid apart"
    config = inner.config
    layer_types = getattr(config, "layer_types", None) or []
    if any("sliding" in str(t) for t in layer_types) or (
        getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True)
    ):
        return "sliding-window attention would let a reply see further back than alone"
    backbone = getattr(inner, inner.base_model_prefix)
    if "position_ids" not in inspect.signature(backbone.forward).parameters:
        return f"{type(backbone).__name__} takes no position_ids (e.g. ALiBi), so the rejected reply cannot restart"
    return None


def prefix_sharing_applies(model: nn.Module, mode: str) -> bool:
    """Whether to share prompts for this model: `auto` where it is exact, `true` or else an error, `false` never."""
    if mode not in MODES:
        raise ValueError(f"prefix_sharing must be one of {MODES}, got {mode!r}")
    if mode == "false":
        return False
    reason = _inexact_reason(model)
    if reason and mode == "true":
        raise ValueError(f"prefix_sharing='true' would change the rewards of {type(_unwrap(model)).__name__}: {reason}")
    return reason is None


def shared_prefix_rewards(model: nn.Module, packed: SharedPrefixBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Rewards of both replies of every pair, from one forward of the decoder's backbone over the shared row.

    Returns:
        (rewards_chosen [B], rewards_rejected [B]).
    """
    hidden = packed_hidden(model, packed.input_ids, packed.position_ids, packed.segments)
    last = hidden[torch.cat([packed.chosen_last, packed.rejected_last])]
    return _unwrap(model).score(last)[:, 0].chunk(2)


def shared_prefix_pair_rewards(
    model: nn.Module, batch: dict[str, torch.Tensor], always: bool = False
) -> tuple[torch.Tensor, torch.Tensor, SharedPrefixBatch] | None:
    """Like `rmcore.forward.packing.packed_pair_rewards` with each pair's prompt computed once; None when that saves
    too little (under MIN_SHARED_FRACTION, unless `always`), for the caller to pack without sharing.

    Call only where `prefix_sharing_applies(model, mode)`.

    Returns:
        (rewards_chosen [B], rewards_rejected [B], the shared batch, for token counts), or None.
    """
    packed = pack_shared_prefix(batch)
    if not always and packed.shared_fraction < MIN_SHARED_FRACTION:
        return None
    return *shared_prefix_rewards(model, packed), packed
