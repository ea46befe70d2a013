"""Which half precision the hardware at hand runs fast: the one answer `bf16=None` and `precision="auto"` read.

bf16 autocast is fast on CUDA GPUs with bf16 and on CPUs with AVX-512 BF16 / AMX; on an AVX2-only CPU it is
emulated and slower than fp32, so there it is off.
"""

from __future__ import annotations

import torch


def bf16_supported() -> bool:
    """True where bf16 autocast is fast: a CUDA GPU with bf16, or a CPU with AVX-512 BF16 / AMX."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
