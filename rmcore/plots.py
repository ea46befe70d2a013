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
