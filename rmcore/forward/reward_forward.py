"""Padding-free pair rewards run as the forward of whatever wraps the model (DDP, FSDP, DeepSpeed).

Packing and prefix sharing call the backbone and the score head directly, on a row laid out their
way. Called past a distributed wrapper, that would skip what the wrapper does in its forward: DDP
prepares its gradient reduction there, FSDP and ZeRO-3 gather the parameters of the root module, so
each process would train on its own gradients. So the padding-free computation is installed as the
forward of the module the wrapper wraps, for one call, and the wrapper is called as usual: everything
it does around its module's forward happens, and the gradients synchronise as for a padded batch.
The model itself is not changed: what is saved, and `trainer.model`, stay the plain (PEFT) model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from rmcore.forward.packing import packed_pair_rewards
from rmcore.forward.prefix_sharing import shared_prefix_pair_rewards
from rmcore.forward.rewards import is_distributed_wrapper

Rewards = tuple[torch.Tensor, torch.Tensor, tuple[int, int]]


def padding_free_pair_rewards(
    model: nn.Module, batch: dict[str, Any], share_prefix: bool, always_share: bool = False
) -> Rewards:
    """Rewards of chosen and rejected by the cheapest exact padding-free layout, through `model`'s wrapper.

    Args:
        model: the reward model, bare or inside DDP / FSDP / DeepSpeed / PEFT.
        batch: a collated pair batch (`RewardDataCollatorWithPadding`).
        share_prefix: lay out `[prompt][chosen][rejected]` (decoders; see `prefix_sharing_applies`); else,
            or where it saves too little, pack chosen and rejected end to end.
        always_share: share even where the prompts are a small fraction of the batch (`prefix_sharing="true"`).

    Returns:
        (rewards_chosen [B], rewards_rejected [B], (real tokens, computed tokens)).
    """
    tokens: list[tuple[int, int]] = []

    def rewards(module: nn.Module, pairs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        shared = shared_prefix_pair_rewards(module, pairs, always_share) if share_prefix else None
        if shared is not None:
            chosen, rejected, packed = shared
        else:
            chosen, rejected, packed = packed_pair_rewards(module, pairs)
        tokens.append((packed.real_tokens, packed.computed_tokens))
        return chosen, rejected

    chosen, rejected = call_as_forward(model, rewards, batch)
    return chosen, rejected, tokens[0]


def call_as_forward(model: nn.Module, fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(module, *args)` run as the forward of the module inside `model`'s distributed wrapper.

    `fn` must not call `module` itself (it would call `fn` again); it calls the backbone and head.
    Without a wrapper it is a plain call.
    """
    if not is_distributed_wrapper(model):
        return fn(model, *args)
    inner = model.module if isinstance(getattr(model, "module", None), nn.Module) else model  # FSDP2: the model
    with _forward_replaced(inner, lambda *a: fn(inner, *a)):
        return model(*args)


@contextmanager
def _forward_replaced(module: nn.Module, forward: Callable[..., Any]) -> Iterator[None]:
    """Set `module.forward` for one call; hooks registered on the module still run around it."""
    previous = module.__dict__.get("forward")  # accelerate may have wrapped forward for autocast
    module.forward = forward
    try:
        yield
    finally:
        if previous is None:
            del module.forward
        else:
            module.forward = previous
