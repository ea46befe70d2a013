"""Plots a person would rather look at than read: reward and margin histograms."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_reward_histograms(
    rewards_chosen: np.ndarray, rewards_rejected: np.ndarray, path: str | Path, title: str = ""
) -> Path:
    """Write a PNG: chosen vs rejected reward histograms (left) and the margin histogram (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = np.asarray(rewards_chosen, dtype=float)
    rejected = np.asarray(rewards_rejected, dtype=float)
    margin = chosen - rejected
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    bins = np.histogram_bin_edges(np.concatenate([chosen, rejected]), bins=30)
    left.hist(chosen, bins=bins, alpha=0.6, label="chosen", color="tab:green")
    left.hist(rejected, bins=bins, alpha=0.6, label="rejected", color="tab:red")
    left.set_xlabel("reward")
    left.set_ylabel("pairs")
    left.legend()
    left.set_title("Rewards")
    right.hist(margin, bins=30, color="tab:blue")
    right.axvline(0.0, color="black", linestyle="--", linewidth=1)
    right.set_xlabel("reward(chosen) - reward(rejected)")
    right.set_title(f"Margin (accuracy {float((margin > 0).mean()):.3f})")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_reliability_diagram(rows: list[dict], path: str | Path, title: str = "") -> Path:
    """Write a PNG: observed rate against mean predicted probability per bin, with the diagonal.

    Args:
        rows: bins as from `rmcore.evaluation.summary.reliability_rows` (low, high, count, mean_probability,
            observed_rate); empty bins are skipped. Bar widths show the bins, the lower panel their counts.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    full = [r for r in rows if r["count"]]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], color="black", linestyle="--", linewidth=1, label="calibrated")
    top.bar(
        [(r["low"] + r["high"]) / 2 for r in full],
        [r["observed_rate"] for r in full],
        width=[r["high"] - r["low"] for r in full],
        alpha=0.5,
        edgecolor="tab:blue",
        label="observed",
    )
    top.plot([r["mean_probability"] for r in full], [r["observed_rate"] for r in full], "o-", color="tab:blue")
    top.set_ylabel("observed rate chosen preferred")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.legend(loc="upper left")
    top.set_title(title or "Reliability of sigmoid(r_chosen - r_rejected)")
    bottom.bar(
        [(r["low"] + r["high"]) / 2 for r in rows],
        [r["count"] for r in rows],
        width=[r["high"] - r["low"] for r in rows],
    )
    bottom.set_xlabel("predicted probability (each pair in both orders)")
    bottom.set_ylabel("count")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
