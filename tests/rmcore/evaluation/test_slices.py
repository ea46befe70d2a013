"""Slices and their Wilson intervals on hand-made outcomes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rmcore.evaluation.slices import (
    chosen_longer_labels,
    length_quartile_labels,
    slice_accuracy,
    slice_labels,
    slice_masks,
    slice_table,
    wilson_interval,
)


def test_wilson_interval_matches_the_hand_computed_bounds():
    # 8 of 10: centre (0.8 + z^2/20) / (1 + z^2/10) = 0.7167, half-width 0.2266.
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)


def test_wilson_interval_is_not_zero_width_at_the_edges_and_nan_on_no_pairs():
    low, high = wilson_interval(5, 5)
    assert high == 1.0 and 0.5 < low < 0.6  # 5/(5 + z^2) = 0.5655
    assert low == pytest.approx(5 / (5 + 1.959963984540054**2))
    assert all(np.isnan(wilson_interval(0, 0)))


def test_length_quartiles_split_eight_lengths_into_four_pairs():
    labels = length_quartile_labels([8, 1, 2, 7, 3, 6, 4, 5])
    assert [label[-1] for label in labels] == list("41142323")


def test_length_quartiles_keep_ties_together():
    assert set(length_quartile_labels([5, 5, 5, 5, 9])) == {"length=q1", "length=q4"}


def test_chosen_longer_counts_ties_as_no():
    assert chosen_longer_labels([3, 2, 2], [2, 2, 3]) == ["chosen_longer=yes", "chosen_longer=no", "chosen_longer=no"]


def test_slice_table_counts_and_accuracies_per_slice():
    pairs = pd.DataFrame({"subset": ["a", "a", "b", "b", None, "a"]})
    lengths = pd.DataFrame({"pair": [1, 2, 3, 4, 5, 6], "chosen": [5, 1, 5, 1, 5, 1], "rejected": [1] * 6})
    labels = slice_labels(pairs, lengths, ("source", "subset"))
    assert set(labels) == {"length", "chosen_longer", "subset"}
    correct = np.array([1, 0, 1, 1, 0, 1])
    table = {s.name: s for s in slice_table(correct, labels)}
    assert (table["subset=a"].n, table["subset=a"].correct) == (3, 2)
    assert table["subset=b"].accuracy == 1.0
    assert table["subset=(none)"].n == 1
    assert table["chosen_longer=yes"].accuracy == pytest.approx(2 / 3)
    assert sum(table[f"length=q{q}"].n for q in range(1, 5)) == 6
    assert slice_masks(labels)["subset=a"].tolist() == [True, True, False, False, False, True]


def test_slice_accuracy_of_an_empty_slice_is_nan_not_an_error():
    empty = slice_accuracy("none", np.array([]))
    assert empty.n == 0 and np.isnan(empty.accuracy)


def test_slice_table_refuses_labels_of_another_length():
    with pytest.raises(ValueError, match="3 slice labels for 2 pairs"):
        slice_table(np.array([1, 0]), {"k": ["a", "b", "c"]})
