"""The evaluation summary of one model on scored pairs: slices, calibration, length bias, reward statistics.

One function turns (texts, rewards, optional category columns) into one nested dict, the same for the
trainer's eval report, `rewardflow evaluate --json` and the flow; `flat_metrics` names its numbers for a
metrics store. Pure: no files, no tracking.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rmcore.evaluation.calibration import both_orders, calibration_figures, preference_probabilities, reliability_bins
from rmcore.evaluation.length_bias import length_bias_figures, pair_lengths
from rmcore.evaluation.slices import slice_accuracy, slice_labels, slice_table
from rmcore.models.normalization import reward_stats

DEFAULT_CATEGORY_COLUMNS = ("source", "category", "subset")
DEFAULT_PERCENTILES = (1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0)


@dataclass
class ReportConfig:
    """What the evaluation summary measures."""

    category_columns: tuple[str, ...] = field(
        default=DEFAULT_CATEGORY_COLUMNS,
        metadata={
            "help": "Columns that name a pair's category, tried in order; the first one the eval pairs have "
            "slices accuracy by its values. None present = no category slices."
        },
    )
    calibration_bins: int = field(
        default=10,
        metadata={"help": "Equal-width bins of sigmoid(r_chosen - r_rejected) for ECE and the reliability diagram."},
    )
    percentiles: tuple[float, ...] = field(
        default=DEFAULT_PERCENTILES,
        metadata={"help": "Reward percentiles (0-100) recorded for normalising rewards downstream."},
    )

    def __post_init__(self) -> None:
        self.category_columns = tuple(self.category_columns)
        self.percentiles = tuple(float(p) for p in self.percentiles)
        if self.calibration_bins < 1:
            raise ValueError(f"ReportConfig.calibration_bins must be >= 1, got {self.calibration_bins}")
        bad = [p for p in self.percentiles if not 0.0 <= p <= 100.0]
        if bad:
            raise ValueError(f"ReportConfig.percentiles must lie in [0, 100], got {bad}")


def report_reward_statistics(
    rewards_chosen: np.ndarray, rewards_rejected: np.ndarray, percentiles: Sequence[float] = DEFAULT_PERCENTILES
) -> dict[str, float]:
    """Mean, std and percentiles of all 2N rewards, as the eval report shows them.

    Downstream users normalise rewards with these (e.g. (r - mean) / std before PPO).
    """
    rewards = np.concatenate([np.asarray(rewards_chosen, np.float64), np.asarray(rewards_rejected, np.float64)])
    if rewards.size == 0:
        return {"mean": float("nan"), "std": float("nan")}
    stats = reward_stats(rewards)
    for p, value in zip(percentiles, np.percentile(rewards, list(percentiles)), strict=True):
        stats[f"p{p:g}"] = float(value)
    return stats


def reliability_rows(rewards_chosen: np.ndarray, rewards_rejected: np.ndarray, n_bins: int) -> list[dict[str, Any]]:
    """The reliability diagram as rows: bin bounds, count, mean p and observed rate (pairs in both orders)."""
    probabilities, outcomes = both_orders(preference_probabilities(rewards_chosen, rewards_rejected))
    bins = reliability_bins(probabilities, outcomes, n_bins)
    return [
        {
            "low": float(bins.edges[i]),
            "high": float(bins.edges[i + 1]),
            "count": int(bins.count[i]),
            "mean_probability": None if bins.count[i] == 0 else float(bins.mean_probability[i]),
            "observed_rate": None if bins.count[i] == 0 else float(bins.observed_rate[i]),
        }
        for i in range(n_bins)
    ]


def evaluation_summary(
    chosen_texts: Sequence[str],
    rejected_texts: Sequence[str],
    rewards_chosen: np.ndarray,
    rewards_rejected: np.ndarray,
    categories: pd.DataFrame | None = None,
    config: ReportConfig | None = None,
) -> dict[str, Any]:
    """Everything the report says about one model on N scored pairs.

    Args:
        chosen_texts, rejected_texts: [N] full model inputs (prompt + reply), as scored.
        rewards_chosen, rewards_rejected: [N].
        categories: [N] rows holding any of `config.category_columns`, or None.

    Returns:
        {"overall", "slices" (list of SliceAccuracy dicts), "calibration", "reliability",
        "length_bias", "reward_stats"}.
    """
    config = config or ReportConfig()
    chosen = np.asarray(rewards_chosen, dtype=np.float64).reshape(-1)
    rejected = np.asarray(rewards_rejected, dtype=np.float64).reshape(-1)
    correct = chosen > rejected
    lengths = pair_lengths(chosen_texts, rejected_texts)
    frame = categories if categories is not None else pd.DataFrame(index=range(len(chosen)))
    labels = slice_labels(frame, lengths, config.category_columns)
    return {
        "overall": slice_accuracy("all", correct).to_dict(),
        "slices": [s.to_dict() for s in slice_table(correct, labels)],
        "calibration": calibration_figures(chosen, rejected, config.calibration_bins),
        "reliability": reliability_rows(chosen, rejected, config.calibration_bins),
        "length_bias": length_bias_figures(chosen, rejected, lengths),
        "reward_stats": report_reward_statistics(chosen, rejected, config.percentiles),
    }


def headline_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """The few summary figures worth a curve in the trainer's logs: calibration and length bias."""
    bias = summary["length_bias"]
    return {
        **summary["calibration"],
        "spearman_reward_length": bias["spearman_reward_length"],
        "accuracy_chosen_longer": bias["accuracy_chosen_longer"],
        "accuracy_chosen_shorter": bias["accuracy_chosen_shorter"],
    }


def metric_name(text: str) -> str:
    """A slice name as a metric-name part: letters, digits, `_`, `-`, `.` only."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "_"


def flat_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """The summary's numbers under flat names: `slice.<name>.accuracy|low|high|n`, `calibration.ece`, ..."""
    flat: dict[str, float] = {}
    for row in summary["slices"]:
        base = f"slice.{metric_name(row['name'])}"
        flat.update({f"{base}.{k}": float(row[k]) for k in ("accuracy", "low", "high", "n")})
    for group in ("calibration", "length_bias", "reward_stats"):
        flat.update({f"{group}.{metric_name(k)}": float(v) for k, v in summary[group].items()})
    overall = summary["overall"]
    flat.update({"accuracy_low": float(overall["low"]), "accuracy_high": float(overall["high"])})
    return flat
