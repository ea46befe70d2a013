"""Evaluation metrics from chosen and rejected rewards."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import EvalPrediction

from rmcore.evaluation.metrics import compute_reward_metrics, reward_metrics


def test_reward_metrics_by_hand():
    metrics = reward_metrics(np.array([1.0, 2.0, 0.0, 3.0]), np.array([0.0, 2.0, 1.0, 1.0]))
    assert metrics["accuracy"] == pytest.approx(0.5)  # the tie (2.0, 2.0) counts as wrong
    assert metrics["mean_margin"] == pytest.approx((1 + 0 - 1 + 2) / 4)
    assert metrics["chosen_mean"] == pytest.approx(1.5)
    assert metrics["chosen_std"] == pytest.approx(np.std([1.0, 2.0, 0.0, 3.0]))
    assert metrics["rejected_mean"] == pytest.approx(1.0)
    assert metrics["rejected_std"] == pytest.approx(np.std([0.0, 2.0, 1.0, 1.0]))


def test_compute_reward_metrics_reads_chosen_then_rejected_columns():
    predictions = np.array([[1.0, 0.0], [0.0, 1.0], [5.0, -5.0]])
    metrics = compute_reward_metrics(EvalPrediction(predictions=predictions, label_ids=np.zeros(3)))
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["mean_margin"] == pytest.approx((1 - 1 + 10) / 3)
