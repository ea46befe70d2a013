"""Spearman correlation and the length-bias figures on hand-made pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rmcore.evaluation.length_bias import length_bias_figures, pair_lengths, spearman, split_prompt


def test_spearman_with_ties_matches_the_hand_computed_value():
    # Ranks of y: [1, 2, 3.5, 5, 3.5]; sum(dx*dy) = 8, sum(dx^2) = 10, sum(dy^2) = 9.5.
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / np.sqrt(95))


def test_spearman_agrees_with_scipy_where_scipy_is_installed():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 20, 200), rng.normal(size=200)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)


def test_spearman_of_a_constant_is_nan():
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_pair_lengths_count_the_reply_after_the_shared_prompt():
    lengths = pair_lengths(["\n\nHuman: hi\n\nAssistant: yes sure"], ["\n\nHuman: hi\n\nAssistant: no"])
    prompt, chosen, rejected = split_prompt("\n\nHuman: hi\n\nAssistant: yes sure", "\n\nHuman: hi\n\nAssistant: no")
    assert lengths.iloc[0].to_dict() == {
        "prompt": len(prompt),
        "chosen": len(" yes sure"),
        "rejected": len(" no"),
        "pair": len(prompt) + len(" yes sure"),
    }


def test_a_model_that_scores_length_is_found_out():
    lengths = pd.DataFrame({"chosen": [10, 20, 5, 8], "rejected": [5, 10, 30, 8]})
    # Reward = length: right where chosen is longer, wrong where it is shorter, tied (wrong) where equal.
    figures = length_bias_figures(lengths["chosen"].to_numpy(float), lengths["rejected"].to_numpy(float), lengths)
    assert figures["spearman_reward_length"] == pytest.approx(1.0)
    assert figures["prefers_longer"] == 1.0
    assert figures["accuracy_chosen_longer"] == 1.0
    assert figures["accuracy_chosen_shorter"] == 0.0
    assert (figures["n_chosen_longer"], figures["n_chosen_shorter"]) == (2.0, 1.0)
