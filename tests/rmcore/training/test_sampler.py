"""Length grouping: a seeded permutation whose batches pad less than random ones."""

from __future__ import annotations

import torch
from datasets import Dataset
from hypothesis import given, settings
from hypothesis import strategies as st

from rmcore.training.sampler import LengthGroupedPairSampler, length_grouped_indices, pair_lengths


def _padded_tokens(lengths: list[int], order: list[int], batch_size: int) -> int:
    return sum(
        max(lengths[i] for i in order[s : s + batch_size]) * len(order[s : s + batch_size])
        for s in range(0, len(order), batch_size)
    )


@given(st.lists(st.integers(1, 500), min_size=1, max_size=80), st.integers(1, 9), st.integers(0, 6))
@settings(max_examples=60, deadline=None)
def test_length_grouped_indices_is_a_permutation(lengths, batch_size, window):
    order = length_grouped_indices(lengths, batch_size, window, torch.Generator().manual_seed(0))
    assert sorted(order) == list(range(len(lengths)))


def test_batches_are_sorted_inside_windows():
    lengths = list(range(64))
    order = length_grouped_indices(lengths, batch_size=4, window_batches=16, generator=torch.Generator().manual_seed(3))
    # One window holds every index: each batch is 4 consecutive lengths, longest first.
    batches = [order[s : s + 4] for s in range(0, 64, 4)]
    assert all(b == sorted(b, reverse=True) and b[0] - b[-1] == 3 for b in batches)
    assert [b[0] for b in batches] != sorted((b[0] for b in batches), reverse=True)  # batch order is shuffled


def test_grouping_cuts_padding_compared_with_random_batches():
    lengths = torch.randint(10, 1000, (640,), generator=torch.Generator().manual_seed(0)).tolist()
    random_order = torch.randperm(640, generator=torch.Generator().manual_seed(0)).tolist()
    grouped = length_grouped_indices(lengths, 16, 4, torch.Generator().manual_seed(0))
    assert _padded_tokens(lengths, grouped, 16) < 0.8 * _padded_tokens(lengths, random_order, 16)


def test_sampler_is_reproducible_and_changes_with_the_epoch():
    lengths = list(range(100))
    first = LengthGroupedPairSampler(lengths, batch_size=8, window_batches=4, seed=7)
    again = LengthGroupedPairSampler(lengths, batch_size=8, window_batches=4, seed=7)
    assert list(first) == list(again)
    assert len(first) == 100
    epoch0 = list(first)
    first.set_epoch(1)
    assert list(first) != epoch0
    assert list(LengthGroupedPairSampler(lengths, 8, 4, seed=8)) != epoch0


def test_pair_lengths_takes_the_longer_side():
    dataset = Dataset.from_dict({"input_ids_chosen": [[1, 2, 3], [1]], "input_ids_rejected": [[1], [1, 2]]})
    assert pair_lengths(dataset) == [3, 2]
