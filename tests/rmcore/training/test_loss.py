"""Loss and accuracy against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from rmcore.training.loss import pairwise_accuracy, pairwise_loss

CHOSEN = torch.tensor([2.0, 0.5, -1.0])
REJECTED = torch.tensor([1.0, 0.5, 1.0])


def nll(x: float) -> float:
    """-log sigmoid(x), written out."""
    return math.log(1.0 + math.exp(-x))


def test_loss_without_margin_is_mean_negative_log_sigmoid():
    expected = (nll(1.0) + nll(0.0) + nll(-2.0)) / 3
    assert pairwise_loss(CHOSEN, REJECTED).item() == pytest.approx(expected, rel=1e-6)


def test_margin_is_subtracted_from_the_reward_difference():
    margin = torch.tensor([0.5, 1.0, 0.0])
    expected = (nll(0.5) + nll(-1.0) + nll(-2.0)) / 3
    assert pairwise_loss(CHOSEN, REJECTED, margin).item() == pytest.approx(expected, rel=1e-6)


def test_centering_adds_coefficient_times_mean_squared_sum():
    sums_squared = [(2.0 + 1.0) ** 2, (0.5 + 0.5) ** 2, (-1.0 + 1.0) ** 2]
    expected = (nll(1.0) + nll(0.0) + nll(-2.0)) / 3 + 0.01 * sum(sums_squared) / 3
    loss = pairwise_loss(CHOSEN, REJECTED, center_rewards_coefficient=0.01)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_margin_and_centering_together():
    margin = torch.tensor([1.0, -1.0, 2.0])
    expected = (nll(0.0) + nll(1.0) + nll(-4.0)) / 3 + 0.1 * (9.0 + 1.0 + 0.0) / 3
    loss = pairwise_loss(CHOSEN, REJECTED, margin, center_rewards_coefficient=0.1)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("coefficient", [None, 0.0])
def test_centering_off_changes_nothing(coefficient):
    plain = pairwise_loss(CHOSEN, REJECTED)
    assert pairwise_loss(CHOSEN, REJECTED, center_rewards_coefficient=coefficient).item() == plain.item()


def test_loss_is_fp32_and_differentiable_for_bf16_rewards():
    chosen = CHOSEN.clone().to(torch.bfloat16).requires_grad_()
    loss = pairwise_loss(chosen, REJECTED.to(torch.bfloat16))
    loss.backward()
    assert loss.dtype == torch.float32
    # d/dc of -log sigmoid(c - r) averaged over 3 = -sigmoid(r - c) / 3
    expected = [-1 / (1 + math.exp(1.0)) / 3, -0.5 / 3, -1 / (1 + math.exp(-2.0)) / 3]
    assert chosen.grad.float().tolist() == pytest.approx(expected, abs=1e-2)


def test_accuracy_counts_ties_as_wrong():
    # pairs: chosen higher, tie, chosen lower
    assert pairwise_accuracy(CHOSEN, REJECTED) == pytest.approx(1 / 3)
    assert pairwise_accuracy(torch.zeros(4), torch.zeros(4)) == 0.0


def test_accuracy_of_no_pairs_is_nan():
    assert math.isnan(pairwise_accuracy(torch.tensor([]), torch.tensor([])))
