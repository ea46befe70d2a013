"""ECE and Brier score against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from rmcore.evaluation.calibration import (
    both_orders,
    brier_score,
    calibration_figures,
    expected_calibration_error,
    preference_probabilities,
    reliability_bins,
)

P = np.array([0.05, 0.15, 0.15, 0.85, 0.95, 1.0])
Y = np.array([0, 0, 1, 1, 1, 1])


def test_ece_of_hand_made_probabilities():
    # Bins of width 0.1: [0, .1) p .05 rate 0 -> gap .05 (1 pair); [.1, .2) p .15 rate .5 -> .35 (2);
    # [.8, .9) .85 rate 1 -> .15 (1); [.9, 1] p .975 rate 1 -> .025 (2, p = 1 falls in the last bin).
    expected = (0.05 + 2 * 0.35 + 0.15 + 2 * 0.025) / 6
    assert expected_calibration_error(P, Y, n_bins=10) == pytest.approx(expected)


def test_ece_with_two_bins_pools_the_gaps():
    # [0, .5): mean p 0.1167, rate 1/3 -> gap 0.2167 (3); [.5, 1]: mean p 0.9333, rate 1 -> 0.0667 (3).
    assert expected_calibration_error(P, Y, n_bins=2) == pytest.approx((3 * (1 / 3 - 0.35 / 3) + 3 * (1 - 2.8 / 3)) / 6)


def test_reliability_bins_count_every_pair_once():
    bins = reliability_bins(P, Y, n_bins=10)
    assert bins.count.tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 1, 2]
    assert np.isnan(bins.observed_rate[4])
    assert bins.mean_probability[1] == pytest.approx(0.15)


def test_brier_score_of_hand_made_probabilities():
    expected = (0.05**2 + 0.15**2 + 0.85**2 + 0.15**2 + 0.05**2 + 0.0) / 6
    assert brier_score(P, Y) == pytest.approx(expected)


def test_a_calibrated_model_has_ece_near_zero_and_an_overconfident_one_does_not():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.5, 1.0, 20000)
    right = rng.random(p.size) < p  # right with probability p: calibrated by construction
    margin = np.log(p / (1 - p))
    calibrated = calibration_figures(np.where(right, margin, -margin), np.zeros_like(p))
    overconfident = calibration_figures(np.where(right, 4 * margin, -4 * margin), np.zeros_like(p))
    assert calibrated["ece"] < 0.02
    assert overconfident["ece"] > 0.1


def test_preference_probabilities_are_stable_for_large_margins():
    p = preference_probabilities(np.array([1000.0, 0.0, -1000.0]), np.zeros(3))
    assert p.tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert np.isfinite(p).all()


def test_both_orders_mirror_each_pair():
    probabilities, outcomes = both_orders(np.array([0.7, 0.2]))
    assert probabilities.tolist() == pytest.approx([0.7, 0.2, 0.3, 0.8])
    assert outcomes.tolist() == [1, 1, 0, 0]
