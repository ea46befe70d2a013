"""Evaluation metrics of a reward model from its chosen and rejected rewards."""

from __future__ import annotations

import numpy as np
from transformers import EvalPrediction


def reward_metrics(rewards_chosen: np.ndarray, rewards_rejected: np.ndarray) -> dict[str, float]:
    """Accuracy (ties count as wrong), mean margin and the spread of both reward sets.

    Args:
        rewards_chosen: [N].
        rewards_rejected: [N].
    """
    chosen = np.asarray(rewards_chosen, dtype=np.float64).reshape(-1)
    rejected = np.asarray(rewards_rejected, dtype=np.float64).reshape(-1)
    if chosen.size == 0:
        nan = float("nan")
        return {"accuracy": nan, "mean_margin": nan}
    margin = chosen - rejected
    return {
        "accuracy": float((margin > 0).mean()),
        "mean_margin": float(margin.mean()),
        "chosen_mean": float(chosen.mean()),
        "chosen_std": float(chosen.std()),
        "rejected_mean": float(rejected.mean()),
        "rejected_std": float(rejected.std()),
    }


def compute_reward_metrics(eval_pred: EvalPrediction) -> dict[str, float]:
    """`compute_metrics` for `RewardTrainer`: predictions are [N, 2] = (chosen, rejected) rewards."""
    predictions = eval_pred.predictions
    if isinstance(predictions, tuple):
        predictions = predictions[0]
    return reward_metrics(predictions[:, 0], predictions[:, 1])


def compute_accuracy(eval_pred: EvalPrediction) -> dict[str, float]:
    """TRL's name for the reward `compute_metrics`: the share of pairs whose chosen reward is higher."""
    return {"accuracy": compute_reward_metrics(eval_pred)["accuracy"]}
