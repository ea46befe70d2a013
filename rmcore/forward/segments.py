"""The pieces of a packed row, as attention receives them: lengths, shared prefixes, the kernel to use.

Both the attention entry (`rmcore.forward.varlen_attention`) and the fused kernels
(`rmcore.forward.fused_varlen`) read it, so it lives below both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

BACKENDS = ("auto", "flash_attn", "torch_varlen", "flex", "loop")


@dataclass
class VarlenSegments:
    """The pieces lying end to end in a packed row, passed to attention as a keyword.

    Piece i holds `lengths[i]` query tokens; its keys are its own tokens (causally, for decoders) and,
    where `prefixes[i] = (start, length)` is not empty, first the whole earlier span `row[start:start+length]`:
    a shared prompt that a rejected reply sees without recomputing it.

    Attributes:
        lengths: tokens of each piece, in row order; they sum to the row length.
        prefixes: per piece, (start, length) of the earlier span it also attends to; None = no piece has one.
        backend: "auto" picks the fastest exact kernel for the device (see `choose_backend`), or one of BACKENDS.
        calls: how many attention layers used them: 0 after a forward means the model bypassed them.
        cache: per-forward tensors every layer shares (cumulative lengths, key index, block mask).
    """

    lengths: Sequence[int]
    prefixes: Sequence[tuple[int, int]] | None = None
    backend: str = "auto"
    calls: int = 0
    cache: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.prefixes is not None and len(self.prefixes) != len(self.lengths):
            raise ValueError(f"{len(self.prefixes)} prefixes for {len(self.lengths)} pieces")

    def prefix(self, i: int) -> tuple[int, int]:
        return (0, 0) if self.prefixes is None else tuple(self.prefixes[i])

    @property
    def has_prefixes(self) -> bool:
        return self.prefixes is not None and any(n for _, n in self.prefixes)

    def key_index(self, device: torch.device) -> torch.Tensor:
        """Row positions of each piece's keys (its prefix, then itself), pieces end to end: [sum of key lengths]."""
        if "key_index" not in self.cache:
            spans, start = [], 0
            for i, n in enumerate(self.lengths):
                p_start, p_len = self.prefix(i)
                spans += [torch.arange(p_start, p_start + p_len), torch.arange(start, start + n)]
                start += n
            self.cache["key_index"] = torch.cat(spans).to(device)
        return self.cache["key_index"]

    def cumulative(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        """(cu_seqlens_q, cu_seqlens_k, max_q, max_k) as flash-attention's varlen kernels take them."""
        if "cumulative" not in self.cache:
            q_lens = torch.tensor(list(self.lengths), dtype=torch.int32)
            k_lens = q_lens + torch.tensor([self.prefix(i)[1] for i in range(len(self.lengths))], dtype=torch.int32)
            zero = torch.zeros(1, dtype=torch.int32)
            cu_q, cu_k = torch.cat([zero, q_lens.cumsum(0)]), torch.cat([zero, k_lens.cumsum(0)])
            self.cache["cumulative"] = (
                cu_q.int().to(device),
                cu_k.int().to(device),
                int(q_lens.max()),
                int(k_lens.max()),
            )
        return self.cache["cumulative"]
