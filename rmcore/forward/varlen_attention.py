"""Variable-length attention: each packed piece attends to itself (and to a shared prefix), at the cost of its length.

Packing sequences into rows with a block-diagonal mask keeps every token exact, but attention still
computes the full row x row score matrix, masked entries included: on MiniLM and hh-rlhf that was 44%
of a CPU training step. Here the pieces of a batch lie end to end in one row and attention runs piece
by piece: on CPUs two matmuls and a softmax per piece (faster there than the fused CPU kernels); on
GPUs one fused varlen kernel for the whole row (`rmcore.forward.fused_varlen`: flash-attention, torch's flash
varlen, or FlexAttention with a block mask), so attention costs the sum of n_i^2 and linear layers see real tokens only.

A piece may also see an earlier span of the row in full: prefix sharing lays out a pair as
`[prompt][chosen reply][rejected reply]` and gives the rejected reply the prompt as its prefix, so the
prompt is computed once and each reply sees exactly what it would see alone.

It is a transformers attention implementation (`AttentionInterface`), switched on only around a
packed forward (`varlen_attention`): saved configs never see it.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from transformers import AttentionInterface

from rmcore.forward.fused_varlen import KERNELS, choose_backend
from rmcore.forward.segments import VarlenSegments

NAME = "rmcore_varlen"
# On CPUs, sequences up to this length take the math path (fast, scores materialised); longer ones the
# fused kernel, whose memory grows linearly with length.
MATH_MAX_LENGTH = 1024


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
    """Attention of [1, heads, T, dim] tensors, piece by piece; the AttentionInterface signature.

    Returns:
        ([1, T, heads, dim] output, no weights), as transformers' own implementations return them.
    """
    if rmcore_segments is None:
        raise RuntimeError(
            f"{NAME} attention needs rmcore_segments=VarlenSegments(...); use rmcore.forward.packing.packed_rewards"
        )
    if query.shape[0] != 1:
        raise ValueError(f"{NAME} attention takes one packed row, got a batch of {query.shape[0]}")
    segments = rmcore_segments
    segments.calls += 1
    is_causal = bool(getattr(module, "is_causal", False))
    if segments.has_prefixes and not is_causal:
        raise ValueError(f"{NAME}: shared prefixes are exact for causal attention only")
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
    dropout = dropout if module.training else 0.0
    backend = segments.backend
    if backend == "auto":
        backend = choose_backend(query.device, query.dtype, dropout)
    if backend in KERNELS:
        return KERNELS[backend](query, key, value, segments, is_causal, scaling, dropout), None
    return _loop(query, key, value, segments, is_causal, scaling, dropout), None


def _loop(query, key, value, segments: VarlenSegments, is_causal: bool, scaling: float, dropout: float) -> torch.Tensor:
    """One exact attention call per piece (keys: its prefix, then itself): [1, T, heads, dim]."""
    if key.shape[1] != query.shape[1]:  # grouped-query attention: share each key/value head among its queries
        groups = query.shape[1] // key.shape[1]
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    # split, not slices: the backward of split is one cat, where each slice's would fill a full-size zero tensor
    lengths = list(segments.lengths)
    qs, ks, vs = query.split(lengths, 2), key.split(lengths, 2), value.split(lengths, 2)
    starts = [0, *itertools.accumulate(lengths)][:-1]
    outputs = []
    for i, (q, k, v) in enumerate(zip(qs, ks, vs, strict=True)):
        p_start, p_len = segments.prefix(i)
        if p_len:  # the prefix lies inside an earlier piece (a pair's chosen sequence): take it from there
            j = bisect.bisect_right(starts, p_start) - 1
            offset = p_start - starts[j]
            if offset + p_len > lengths[j]:
                raise ValueError(f"prefix {(p_start, p_len)} of piece {i} spans more than piece {j}")
            k = torch.cat([ks[j][:, :, offset : offset + p_len], k], dim=2)
            v = torch.cat([vs[j][:, :, offset : offset + p_len], v], dim=2)
        outputs.append(_attend(q, k, v, is_causal, scaling, dropout))
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous()


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool, scaling: float, dropout: float):
    """Attention of one [1, heads, n, dim] sequence by the faster exact kernel for its device and length."""
    short_on_cpu = q.device.type == "cpu" and k.shape[2] <= MATH_MAX_LENGTH
    return (_math if short_on_cpu else _sdpa)(q, k, v, is_causal, scaling, dropout)


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool, scaling: float, dropout: float):
    """Fused attention of one sequence (flash / memory-efficient kernels on GPUs, flash on CPUs)."""
    if is_causal and k.shape[-2] != q.shape[-2]:  # sdpa's is_causal aligns top-left; a prefix needs bottom-right
        return nn.functional.scaled_dot_product_attention(q, k, v, ~_future(q, k), dropout_p=dropout, scale=scaling)
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


def _future(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """[n_q, n_k] True where a query may not look: the last n_q keys are the queries' own, the first ones a prefix."""
    return _future_mask(q.shape[-2], k.shape[-2], q.device)


@functools.lru_cache(maxsize=64)
def _future_mask(n_q: int, n_k: int, device: torch.device) -> torch.Tensor:
    """Built once per shape, not in every layer's forward and backward (read only: masked_fill copies)."""
    return torch.ones((n_q, n_k), dtype=torch.bool, device=device).triu(1 + n_k - n_q)


def _probs(q: torch.Tensor, k: torch.Tensor, is_causal: bool, scaling: float) -> torch.Tensor:
    """softmax(q k^T * scaling), future positions masked when causal: [.., n_q, n_k]."""
    scores = (q * scaling if scaling != 1.0 else q) @ k.transpose(-1, -2)
    if is_causal:
        future = _future(q, k)
        scores = scores.masked_fill(future, float("-inf"))
    return torch.softmax(scores, dim=-1)


class _RecomputedAttention(torch.autograd.Function):
    """softmax(q k^T * scaling) v that keeps q, k, v for backward ([n, dim] each), not the [n, n] probabilities.

    Under autocast the forward computes in the autocast dtype (as the matmuls outside would); backward
    runs without autocast, so q, k, v are cast once here and backward computes in that same dtype.
    """

    @staticmethod
    def forward(ctx, q, k, v, is_causal, scaling):
        device = q.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else q.dtype
        ctx.dtypes = (q.dtype, k.dtype, v.dtype)
        # q is scaled once here ([n, dim]), so no [n, n] tensor is ever multiplied by the scaling
        q, k, v = (q * scaling).to(dtype), k.to(dtype), v.to(dtype)
        ctx.save_for_backward(q, k, v)
        ctx.is_causal, ctx.scaling = is_causal, scaling
        with torch.autocast(device, enabled=False):
            return _probs(q, k, is_causal, 1.0) @ v

    @staticmethod
    def backward(ctx, grad_out):
        q_scaled, k, v = ctx.saved_tensors
        grad_out = grad_out.to(v.dtype)
        probs = _probs(q_scaled, k, ctx.is_causal, 1.0)
        grad_v = probs.transpose(-1, -2) @ grad_out
        grad_probs = grad_out @ v.transpose(-1, -2)
        # probs * (grad_probs - sum(grad_probs * probs)), fused: the gradient of the scaled scores.
        grad_scores = torch._softmax_backward_data(grad_probs, probs, -1, probs.dtype)
        grads = ((grad_scores @ k) * ctx.scaling, grad_scores.transpose(-1, -2) @ q_scaled, grad_v)
        return *(g.to(dtype) for g, dtype in zip(grads, ctx.dtypes, strict=True)), None, None


AttentionInterface.register(NAME, varlen_attention_forward)


@contextmanager
def varlen_attention(model: nn.Module) -> Iterator[None]:
    """Route a (unwrapped) transformers model's attention through `varlen_attention_forward` for one forward.

    Under gradient checkpointing a layer runs again in backward, after this context has exited; each
    checkpointed layer is given, for this forward, a checkpoint function whose recomputation runs under
    the varlen attention too, so the replay sees the same pieces as the forward did.
    """
    replays = model.training and torch.is_grad_enabled()  # checkpointing acts only then: scoring skips the scan
    checkpointed = [m for m in model.modules() if getattr(m, "gradient_checkpointing", False)] if replays else []
    originals = [m.__dict__.get("_gradient_checkpointing_func") for m in checkpointed]
    for module, checkpoint in zip(checkpointed, originals, strict=True):
        if checkpoint is not None:
            module._gradient_checkpointing_func = functools.partial(_checkpoint_under_varlen, checkpoint, model)
    try:
        with _attention_implementation(model, NAME):
            yield
    finally:
        for module, checkpoint in zip(checkpointed, originals, strict=True):
            if checkpoint is not None:
                module._gradient_checkpointing_func = checkpoint


@contextmanager
def _attention_implementation(model: nn.Module, name: str) -> Iterator[None]:
    """Set the config's attention implementation for the duration, then put the previous one back."""
    config = model.config
    previous = config._attn_implementation
    config._attn_implementation = name
    try:
        yield
    finally:
        config._attn_implementation = previous


def _checkpoint_under_varlen(checkpoint, model: nn.Module, function, *args, **kwargs):
    """`checkpoint(function, *args)` where `function`, run now and again in backward, attends piece by piece."""

    def under_varlen(*inner_args, **inner_kwargs):
        with _attention_implementation(model, NAME):
            return function(*inner_args, **inner_kwargs)

    return checkpoint(under_varlen, *args, **kwargs)
