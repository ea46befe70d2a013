"""Fused variable-length attention kernels for GPUs, over the pieces `rmcore.forward.varlen_attention` lays out.

On CUDA one kernel takes the whole packed row: flash-attention's varlen kernel where the package is
installed, else torch's own flash varlen kernel (both fp16/bf16 only), else FlexAttention with a block
mask (any dtype, compiled). Flash's causal mask is aligned bottom-right, so a piece whose keys start
with a shared prefix (its prompt) sees all of it and itself causally; the keys are gathered per piece.
FlexAttention expresses the same visibility as a mask over the row, computing only blocks some piece sees.
"""

from __future__ import annotations

import functools
import importlib.util

import torch

from rmcore.forward.segments import VarlenSegments


def choose_backend(device: torch.device, dtype: torch.dtype, dropout: float) -> str:
    """The fastest exact kernel here: on CUDA flash-attention's varlen kernel where the package is
    installed, else torch's own flash varlen kernel (fp16/bf16), else FlexAttention with a block mask;
    the per-piece loop on CPUs (its matmuls beat the fused CPU kernels at these lengths) and where none applies."""
    if device.type != "cuda":
        return "loop"
    half = dtype in (torch.float16, torch.bfloat16)
    if half and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attn"
    if half and _torch_varlen() is not None:
        return "torch_varlen"
    if dropout == 0 and _flex() is not None:
        return "flex"
    return "loop"


def _flash_inputs(query, key, value, segments: VarlenSegments):
    """[T, heads, dim] queries and the gathered [T_k, kv_heads, dim] keys/values flash's varlen kernels take."""
    q, k, v = (x[0].transpose(0, 1) for x in (query, key, value))
    if segments.has_prefixes:
        index = segments.key_index(q.device)
        k, v = k[index], v[index]
    return q, k, v


def flash_attn(query, key, value, segments: VarlenSegments, is_causal: bool, scaling: float, dropout: float):
    """flash-attention's varlen kernel; its causal mask is aligned bottom-right, so a reply sees all its prefix."""
    from flash_attn import flash_attn_varlen_func

    q, k, v = _flash_inputs(query, key, value, segments)
    cu_q, cu_k, max_q, max_k = segments.cumulative(q.device)
    out = flash_attn_varlen_func(
        q, k, v, cu_q, cu_k, max_q, max_k, dropout_p=dropout, softmax_scale=scaling, causal=is_causal
    )
    return out[None]


def torch_varlen_attention(query, key, value, segments: VarlenSegments, is_causal: bool, scaling: float, dropout):
    """torch's flash varlen kernel (`torch.nn.attention.varlen`), the same layout as flash-attention's."""
    q, k, v = _flash_inputs(query, key, value, segments)
    cu_q, cu_k, max_q, max_k = segments.cumulative(q.device)
    window = (-1, 0) if is_causal else (-1, -1)
    enable_gqa = k.shape[1] != q.shape[1]
    out = _torch_varlen()(q, k, v, cu_q, cu_k, max_q, max_k, scale=scaling, window_size=window, enable_gqa=enable_gqa)
    return out[None]


def flex_attention(query, key, value, segments: VarlenSegments, is_causal: bool, scaling: float, dropout):
    """FlexAttention over the whole row with a block mask: blocks no piece sees are skipped, not computed."""
    if "block_mask" not in segments.cache:
        segments.cache["block_mask"] = _block_mask(segments, is_causal, query.device)
    flex = _flex() if query.device.type == "cuda" else _eager_flex()
    out = flex(
        query,
        key,
        value,
        block_mask=segments.cache["block_mask"],
        scale=scaling,
        enable_gqa=key.shape[1] != query.shape[1],
    )
    return out.transpose(1, 2).contiguous()


def _block_mask(segments: VarlenSegments, is_causal: bool, device: torch.device):
    """A token sees the tokens of its own piece and of its piece's prefix (earlier tokens only when causal)."""
    from torch.nn.attention.flex_attention import create_block_mask

    lengths = torch.tensor(list(segments.lengths))
    piece = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
    prefix_start = torch.tensor([segments.prefix(i)[0] for i in range(len(lengths))])
    prefix_end = prefix_start + torch.tensor([segments.prefix(i)[1] for i in range(len(lengths))])
    piece, prefix_start, prefix_end = piece.to(device), prefix_start.to(device), prefix_end.to(device)

    def mask_mod(b, h, q_idx, kv_idx):
        own = piece[q_idx] == piece[kv_idx]
        p = piece[q_idx]
        shared = (kv_idx >= prefix_start[p]) & (kv_idx < prefix_end[p])
        visible = own | shared
        return visible & (q_idx >= kv_idx) if is_causal else visible

    total = int(lengths.sum())
    return create_block_mask(mask_mod, None, None, total, total, device=device)


@functools.cache
def _torch_varlen():
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn


@functools.cache
def _flex():
    """FlexAttention compiled (its fused kernel exists only under torch.compile), or None."""
    try:
        from torch.nn.attention.flex_attention import flex_attention as kernel
    except ImportError:
        return None
    return torch.compile(kernel, dynamic=True)


def _eager_flex():
    """FlexAttention's eager reference (forward only on CPUs): what the equivalence tests run here."""
    from torch.nn.attention.flex_attention import flex_attention as eager

    return eager


KERNELS = {"flash_attn": flash_attn, "torch_varlen": torch_varlen_attention, "flex": flex_attention}
