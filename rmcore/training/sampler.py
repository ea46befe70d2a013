"""Length-grouped batches that stay close to random: sort only inside small windows of batches.

Sorting a whole epoch by length removes nearly all padding but feeds the model long and short
dialogues in separate phases, which costs accuracy (windows of 50 batches lost 5 points on
hh-rlhf). Sorting inside windows of a few batches keeps most of the speed and the accuracy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


def length_grouped_indices(
    lengths: Sequence[int], batch_size: int, window_batches: int, generator: torch.Generator
) -> list[int]:
    """A permutation of range(len(lengths)) whose consecutive batches hold pairs of similar length.

    Shuffle all indices, cut them into windows of `window_batches * batch_size`, sort each window by
    length (longest first), cut windows into batches, then shuffle the order of the batches.
    """
    order = torch.randperm(len(lengths), generator=generator).tolist()
    window = max(1, window_batches) * batch_size
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: -lengths[i])
        batches.extend(chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size))
    batch_order = torch.randperm(len(batches), generator=generator).tolist()
    return [i for b in batch_order for i in batches[b]]


class LengthGroupedPairSampler(Sampler[int]):
    """Yields `length_grouped_indices`, new each epoch, reproducible from the seed."""

    def __init__(self, lengths: Sequence[int], batch_size: int, window_batches: int, seed: int) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.window_batches = window_batches
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        # The Trainer calls set_epoch before each epoch, so a resumed run sees the same order.
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(length_grouped_indices(self.lengths, self.batch_size, self.window_batches, generator))


def pair_lengths(dataset) -> list[int]:
    """Longer side of each tokenized pair: what the pair costs once chosen and rejected share a batch.

    Read a batch of rows at a time where the dataset allows it, so an on-disk dataset of any size
    never has its token columns in memory at once.
    """
    columns = ["input_ids_chosen", "input_ids_rejected"]
    if not hasattr(dataset, "iter"):
        return [max(len(c), len(r)) for c, r in zip(dataset[columns[0]], dataset[columns[1]], strict=True)]
    lengths: list[int] = []
    for batch in dataset.select_columns(columns).iter(batch_size=1000):
        lengths += [max(len(c), len(r)) for c, r in zip(batch[columns[0]], batch[columns[1]], strict=True)]
    return lengths
