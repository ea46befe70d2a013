"""Variable-length attention: each packed sequence attends to itself only, at the cost of its own length.

Packing sequences into rows with a block-diagonal mask keeps every token exact, but attention still
computes the full row x row score matrix, masked entries included: on MiniLM and hh-rlhf that was 44%
of a CPU training step. Here the sequences of a batch lie end to end in one row and attention runs
sequence by sequence without a mask (torch's fused kernel on GPUs; on CPUs two matmuls and a softmax,
faster there), so attention costs the sum of n_i^2 and linear layers see real tokens only.

It is a transformers attention implementation (`AttentionInterface`), switched on only around a
packed forward (`varlen_attention`): saved configs, padded evaluation and scoring never see it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AttentionInterface

NAME = "rmcore_varlen"
# On CPUs, sequences up to this length take the math path (fast, scores materialised); longer ones the
# fused kernel, whose memory grows linearly with length.
MATH_MAX_LENGTH = 1024


@dataclass
class VarlenSegments:
    """Lengths of the sequences lying end to end in a packed row, passed to attention as a keyword.

    Attributes:
        lengths: tokens of each sequence, in row order; they sum to the row length.
        calls: how many attention layers used them: 0 after a forward means the model bypassed them.
    """

    lengths: Sequence[int]
    calls: int = 0


def varlen_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    rmcore_segments: VarlenSegments | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """Attention of [1, heads, T, dim] tensors, one sequence at a time; the AttentionInterface signature.

    Returns:
        ([1, T, heads, dim] output, no weights), as transformers' own implementations return them.
    """
    if rmcore_segments is None:
        raise RuntimeError(f"{NAME} attention needs rmcore_segments=VarlenSegments(...); use rmcore.packed_rewards")
    if query.shape[0] != 1:
        raise ValueError(f"{NAME} attention takes one packed row, got a batch of {query.shape[0]}")
    rmcore_segments.calls += 1
    lengths = list(rmcore_segments.lengths)
    is_causal = bool(getattr(module, "is_causal", False))
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
    if key.shape[1] != query.shape[1]:  # grouped-query attention: share each key/value head among its queries
        groups = query.shape[1] // key.shape[1]
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    dropout = dropout if module.training else 0.0
    pieces = zip(query.split(lengths, 2), key.split(lengths, 2), value.split(lengths, 2), strict=True)
    outputs = [_attend(q, k, v, is_causal, scaling, dropout) for q, k, v in pieces]
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool, scaling: float, dropout: float):
    """Attention of one [1, heads, n, dim] sequence by the faster exact kernel for its device and length."""
    short_on_cpu = q.device.type == "cpu" and q.shape[2] <= MATH_MAX_LENGTH
    return (_math if short_on_cpu else _sdpa)(q, k, v, is_causal, scaling, dropout)


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool, scaling: float, dropout: float):
    """Fused attention of one sequence (flash / memory-efficient kernels on GPUs, flash on CPUs)."""
    return nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=is_causal, scale=scaling)


def _math(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool, scaling: float, dropout: float):
    """Attention of one sequence as two matmuls and a softmax in the inputs' dtype.

    On CPUs this is ~2.5x faster than torch's fused CPU kernel for BERT-sized heads (fwd + bwd, bf16),
    and as precise: the fused kernels also round the probabilities to bf16 before multiplying by V.
    Without dropout the [heads, n, n] probabilities are recomputed in backward rather than kept, so
    memory stays that of the fused kernels (and the step is no slower: less memory traffic).
    """
    if dropout == 0:
        return _RecomputedAttention.apply(q, k, v, is_causal, scaling)
    probs = nn.functional.dropout(_probs(q, k, is_causal, scaling), p=dropout, training=True)
    return probs @ v


def _probs(q: torch.Tensor, k: torch.Tensor, is_causal: bool, scaling: float) -> torch.Tensor:
    """softmax(q k^T * scaling), future positions masked when causal: [.., n, n]."""
    scores = (q * scaling) @ k.transpose(-1, -2)
    if is_causal:
        future = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
    return torch.softmax(scores, dim=-1)


class _RecomputedAttention(torch.autograd.Function):
    """softmax(q k^T * scaling) v that keeps q, k, v for backward ([n, dim] each), not the [n, n] probabilities."""

    @staticmethod
    def forward(ctx, q, k, v, is_causal, scaling):
        ctx.save_for_backward(q, k, v)
        ctx.is_causal, ctx.scaling = is_causal, scaling
        return _probs(q, k, is_causal, scaling) @ v

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v = ctx.saved_tensors
        probs = _probs(q, k, ctx.is_causal, ctx.scaling)
        grad_v = probs.transpose(-1, -2) @ grad_out
        grad_probs = grad_out @ v.transpose(-1, -2)
        # probs * (grad_probs - sum(grad_probs * probs)), fused; the scaling folds into the score gradient.
        grad_scores = torch._softmax_backward_data(grad_probs, probs, -1, probs.dtype) * ctx.scaling
        return grad_scores @ k, grad_scores.transpose(-1, -2) @ q, grad_v, None, None


AttentionInterface.register(NAME, varlen_attention_forward)


@contextmanager
def varlen_attention(model: nn.Module) -> Iterator[None]:
    """Route a (unwrapped) transformers model's attention through `varlen_attention_forward` for one forward."""
    config = model.config
    previous = config._attn_implementation
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = previous
