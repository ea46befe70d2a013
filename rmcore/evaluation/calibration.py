"""Calibration of a reward model's preference probabilities p = sigmoid(r_chosen - r_rejected).

Bradley-Terry training makes p a probability that chosen is preferred; a policy trained against the
rewards (and anyone reading margins) relies on that. Expected calibration error says how far p is from
the observed rate of chosen winning, bin by bin; the Brier score mixes calibration and sharpness.
Eval pairs always have chosen preferred, so every pair enters the bins in both orders: (p, 1) and
(1 - p, 0). A pair at p = 0.3 then says "70% sure of the wrong reply", and a calibrated model is right
70% of the time at 70% confidence. This equals the top-label ECE over the confidence max(p, 1 - p).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def preference_probabilities(rewards_chosen: np.ndarray, rewards_rejected: np.ndarray) -> np.ndarray:
    """[N] sigmoid(r_chosen - r_rejected), computed stably for large margins."""
    margin = np.asarray(rewards_chosen, dtype=np.float64) - np.asarray(rewards_rejected, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -margin))


@dataclass
class ReliabilityBins:
    """Equal-width bins of the confidence p of "chosen wins": per bin its count, mean p and observed rate."""

    edges: np.ndarray  # [n_bins + 1]
    count: np.ndarray  # [n_bins]
    mean_probability: np.ndarray  # [n_bins], nan where empty
    observed_rate: np.ndarray  # [n_bins], nan where empty


def reliability_bins(probabilities: np.ndarray, outcomes: np.ndarray, n_bins: int = 10) -> ReliabilityBins:
    """Bin pairs by p into `n_bins` equal-width bins over [0, 1]; p == 1 falls in the last bin.

    Args:
        probabilities: [N] predicted probability that chosen is preferred.
        outcomes: [N] 1 where chosen is the preferred reply (the label), else 0.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    y = np.asarray(outcomes, dtype=np.float64).reshape(-1)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(index, minlength=n_bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(index, weights=p, minlength=n_bins) / count
        rate = np.bincount(index, weights=y, minlength=n_bins) / count
    return ReliabilityBins(edges, count, mean_p, rate)


def expected_calibration_error(probabilities: np.ndarray, outcomes: np.ndarray, n_bins: int = 10) -> float:
    """ECE = sum over bins of (bin count / N) * |observed rate - mean p|; nan on no pairs."""
    bins = reliability_bins(probabilities, outcomes, n_bins)
    total = bins.count.sum()
    if total == 0:
        return float("nan")
    full = bins.count > 0
    gaps = np.abs(bins.observed_rate[full] - bins.mean_probability[full])
    return float((bins.count[full] * gaps).sum() / total)


def brier_score(probabilities: np.ndarray, outcomes: np.ndarray) -> float:
    """Mean squared error of p against the 0/1 outcome; nan on no pairs."""
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    y = np.asarray(outcomes, dtype=np.float64).reshape(-1)
    return float(np.mean((p - y) ** 2)) if p.size else float("nan")


def both_orders(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[2N] probabilities and outcomes of each pair read both ways: (p, 1) then (1 - p, 0)."""
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    return np.concatenate([p, 1.0 - p]), np.concatenate([np.ones_like(p), np.zeros_like(p)])


def calibration_figures(rewards_chosen: np.ndarray, rewards_rejected: np.ndarray, n_bins: int = 10) -> dict[str, float]:
    """`ece` (pairs in both orders, `n_bins` bins) and `brier` (the same either way) of the eval pairs."""
    p = preference_probabilities(rewards_chosen, rewards_rejected)
    probabilities, outcomes = both_orders(p)
    return {
        "ece": expected_calibration_error(probabilities, outcomes, n_bins),
        "brier": brier_score(p, np.ones_like(p)),
    }
