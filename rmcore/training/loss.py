"""The pairwise (Bradley-Terry) reward loss, its margin and centering terms, and pair accuracy."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pairwise_loss(
    rewards_chosen: torch.Tensor,
    rewards_rejected: torch.Tensor,
    margin: torch.Tensor | None = None,
    center_rewards_coefficient: float | None = None,
) -> torch.Tensor:
    """-log sigmoid(r_c - r_r - margin), averaged, plus an optional centering term.

    The margin is the Llama 2 paper's (Touvron et al. 2023, eq. 2): pairs rated far apart must be
    scored far apart. Centering (Eisenstein et al. 2023) adds coef * mean((r_c + r_r)^2) so that
    rewards stay near zero mean, which makes them comparable across runs.

    Args:
        rewards_chosen: [B] rewards of the chosen replies.
        rewards_rejected: [B] rewards of the rejected replies.
        margin: [B] or None.
        center_rewards_coefficient: weight of the centering term; None or 0 turns it off.

    Returns:
        A scalar loss tensor.
    """
    diff = rewards_chosen.float() - rewards_rejected.float()
    if margin is not None:
        diff = diff - margin.to(diff.device, torch.float32)
    loss = -F.logsigmoid(diff).mean()
    if center_rewards_coefficient:
        loss = loss + center_rewards_coefficient * ((rewards_chosen.float() + rewards_rejected.float()) ** 2).mean()
    return loss


def pairwise_accuracy(rewards_chosen: torch.Tensor, rewards_rejected: torch.Tensor) -> float:
    """Fraction of pairs where chosen scores strictly higher; a tie counts as wrong."""
    if rewards_chosen.numel() == 0:
        return float("nan")
    return (rewards_chosen > rewards_rejected).float().mean().item()
