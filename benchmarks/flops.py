"""The physical limit: this machine's matmul throughput and the model FLOPs a training run needs.

Model-FLOPs utilisation (MFU) counts only the work the model must do on real tokens (PaLM, Chowdhery
et al. 2022, appendix B): 6 x non-embedding parameters per token for the dense layers (forward 2,
backward 4) plus 12 x layers x hidden x length per token for attention scores and values. Padding,
recomputation (gradient checkpointing) and optimizer steps are overhead, not model work.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import torch
from torch import nn


def matmul_gflops(dtype: torch.dtype, size: int = 1024, seconds: float = 1.5) -> float:
    """Best GFLOP/s of square [size, size] matmuls on the CPU over ~`seconds` (after one warm-up call)."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(4):
            torch.mm(a, b)
        elapsed = time.perf_counter() - start
        best = max(best, 4 * 2 * size**3 / elapsed / 1e9)
    return best


def non_embedding_params(model: nn.Module) -> int:
    """Parameters outside embedding tables: lookups cost no FLOPs, so they are left out of 6N."""
    embedding = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    return sum(p.numel() for p in model.parameters() if id(p) not in embedding)


def training_flops(model: nn.Module, sequence_lengths: Iterable[int]) -> float:
    """Model FLOPs to train on these sequences once (forward + backward), real tokens only."""
    lengths = list(sequence_lengths)
    config = model.config
    layers = config.num_hidden_layers
    hidden = config.hidden_size
    dense = 6 * non_embedding_params(model) * sum(lengths)
    attention = 12 * layers * hidden * sum(n * n for n in lengths)
    return float(dense + attention)


def mfu(flops: float, seconds: float, peak_gflops: float) -> float:
    """Achieved model FLOP/s as a fraction of the machine's matmul peak."""
    if seconds <= 0 or peak_gflops <= 0:
        return float("nan")
    return flops / seconds / (peak_gflops * 1e9)
