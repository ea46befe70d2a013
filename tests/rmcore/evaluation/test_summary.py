"""The evaluation summary: one dict of slices, calibration, length bias and reward statistics."""

from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pandas as pd
import pytest

from rmcore.evaluation.report import write_eval_report
from rmcore.evaluation.summary import ReportConfig, evaluation_summary, flat_metrics, report_reward_statistics

PROMPT = "\n\nHuman: q\n\nAssistant:"
CHOSEN = [PROMPT + " a" * n for n in (1, 2, 3, 4, 5, 6, 7, 8)]
REJECTED = [PROMPT + " b" * n for n in (2, 1, 4, 3, 6, 5, 8, 7)]
R_CHOSEN = np.array([1.0, 2.0, 0.0, 3.0, 1.0, 2.0, -1.0, 0.5])
R_REJECTED = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])


def test_summary_holds_every_section_with_consistent_counts():
    categories = pd.DataFrame({"source": ["x", "y"] * 4})
    summary = evaluation_summary(CHOSEN, REJECTED, R_CHOSEN, R_REJECTED, categories)
    assert summary["overall"]["n"] == 8 and summary["overall"]["correct"] == 6
    names = {row["name"]: row for row in summary["slices"]}
    assert names["source=x"]["n"] + names["source=y"]["n"] == 8
    assert names["chosen_longer=yes"]["n"] == 4  # chosen has more words in pairs 2, 4, 6, 8
    assert names["chosen_longer=yes"]["accuracy"] == 1.0  # pairs 2, 4, 6, 8: all right
    assert summary["length_bias"]["accuracy_chosen_shorter"] == 0.5
    assert 0.0 <= summary["calibration"]["ece"] <= 1.0
    assert len(summary["reliability"]) == 10
    assert sum(b["count"] for b in summary["reliability"]) == 16  # each pair in both orders


def test_reward_statistics_pool_both_sides():
    stats = report_reward_statistics(np.array([1.0, 3.0]), np.array([0.0, 4.0]), (0, 50, 100))
    expected = {"mean": 2.0, "std": pytest.approx(np.std([1, 3, 0, 4])), "p0": 0.0, "p50": 2.0, "p100": 4.0, "n": 4.0}
    assert {k: stats[k] for k in expected} == expected


def test_flat_metrics_have_names_a_metrics_store_accepts():
    categories = pd.DataFrame({"subset": ["harmless base", "helpful/online"] * 4})
    flat = flat_metrics(evaluation_summary(CHOSEN, REJECTED, R_CHOSEN, R_REJECTED, categories))
    assert "slice.subset_harmless_base.accuracy" in flat
    assert "slice.subset_helpful_online.n" in flat
    assert "calibration.ece" in flat and "length_bias.spearman_reward_length" in flat and "reward_stats.p50" in flat
    assert all(all(c.isalnum() or c in "_-./" for c in k) for k in flat)


def test_report_config_checks_its_values_and_round_trips():
    with pytest.raises(ValueError, match="calibration_bins"):
        ReportConfig(calibration_bins=0)
    with pytest.raises(ValueError, match="percentiles"):
        ReportConfig(percentiles=(50, 120))
    config = ReportConfig(category_columns=["topic"])
    assert config.category_columns == ("topic",)
    assert pickle.loads(pickle.dumps(config)) == config == copy.deepcopy(config)


def test_eval_report_writes_the_summary_and_the_reliability_diagram(tmp_path):
    written = write_eval_report(CHOSEN, REJECTED, list(R_CHOSEN), list(R_REJECTED), tmp_path, table_rows=2)
    names = {path.name for path in written}
    assert {"eval_summary.json", "eval_reliability.png", "eval_rewards.png", "eval_logit_table.json"} <= names
    summary = json.loads((tmp_path / "eval_summary.json").read_text())
    assert summary["overall"]["correct"] == 6
    assert (tmp_path / "eval_reliability.png").read_bytes()[:4] == b"\x89PNG"
