"""Accuracy by slice of the eval pairs, each with its count and a Wilson interval.

One accuracy hides where a model fails: a slice (a data source, long conversations, pairs whose
chosen reply is the shorter one) can lose points while the mean gains. Slices are named
`<kind>=<value>` (`category=harmless`, `length=q4`, `chosen_longer=no`) so the same name means the same
pairs for every model scored on them, which is what the gate compares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

# Two-sided 95% normal quantile: the report's intervals are always 95%.
Z95 = 1.959963984540054


@dataclass
class SliceAccuracy:
    """Accuracy on one slice: `correct` of `n` pairs, and the 95% Wilson interval [low, high]."""

    name: str
    n: int
    correct: int
    accuracy: float
    low: float
    high: float

    def to_dict(self) -> dict:
        return asdict(self)


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion.

    Unlike the normal (Wald) interval it stays inside [0, 1] and is not zero-width at 0 or n
    successes, which matters on small slices. (nan, nan) when n == 0.
    """
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def slice_accuracy(name: str, correct: np.ndarray) -> SliceAccuracy:
    """Accuracy and Wilson interval of one slice's outcomes ([n], 1 = chosen scored higher)."""
    outcomes = np.asarray(correct, dtype=np.float64).reshape(-1)
    n, hits = int(outcomes.size), int(outcomes.sum())
    low, high = wilson_interval(hits, n)
    return SliceAccuracy(name, n, hits, hits / n if n else float("nan"), low, high)


def length_quartile_labels(pair_length: Sequence[float]) -> list[str]:
    """`length=q1` (shortest quarter) .. `length=q4` by the quartiles of the pairs' lengths.

    A pair's bucket is the number of quartile edges strictly below its length, so equal lengths share
    a bucket (ties at an edge go down) and with few distinct lengths some buckets stay empty.
    """
    lengths = pd.Series(np.asarray(pair_length, dtype=np.float64))
    if lengths.empty:
        return []
    edges = np.quantile(lengths, [0.25, 0.5, 0.75])
    bucket = np.searchsorted(edges, lengths.to_numpy(), side="left")
    return [f"length=q{b + 1}" for b in bucket]


def chosen_longer_labels(chosen_length: Sequence[float], rejected_length: Sequence[float]) -> list[str]:
    """`chosen_longer=yes` where the chosen reply is strictly longer, `=no` otherwise (ties included)."""
    chosen = np.asarray(chosen_length, dtype=np.float64)
    rejected = np.asarray(rejected_length, dtype=np.float64)
    return ["chosen_longer=yes" if c > r else "chosen_longer=no" for c, r in zip(chosen, rejected, strict=True)]


def category_labels(values: Sequence[object], column: str) -> list[str]:
    """`<column>=<value>` per pair; missing values become `<column>=(none)`."""
    return [
        f"{column}=(none)" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{column}={v}" for v in values
    ]


def slice_labels(
    pairs: pd.DataFrame, lengths: pd.DataFrame, category_columns: Sequence[str] = ("source", "category", "subset")
) -> dict[str, list[str]]:
    """Every slicing of the pairs: kind -> one label per pair.

    Args:
        pairs: [N] rows, possibly with category columns.
        lengths: [N] rows with `pair`, `chosen` and `rejected` lengths
            (see `rmcore.evaluation.length_bias.pair_lengths`).
        category_columns: the first of these present in `pairs` slices by category.
    """
    kinds = {
        "length": length_quartile_labels(lengths["pair"]),
        "chosen_longer": chosen_longer_labels(lengths["chosen"], lengths["rejected"]),
    }
    present = [c for c in category_columns if c in pairs.columns]
    if present:
        kinds[present[0]] = category_labels(pairs[present[0]].tolist(), present[0])
    return kinds


def slice_table(correct: np.ndarray, labels: dict[str, list[str]]) -> list[SliceAccuracy]:
    """Accuracy on every slice of every kind, sorted by name within a kind.

    Args:
        correct: [N] outcomes (1 = chosen scored higher).
        labels: kind -> [N] labels, as from `slice_labels`.
    """
    outcomes = np.asarray(correct, dtype=np.float64).reshape(-1)
    table = []
    for kind_labels in labels.values():
        names = np.asarray(kind_labels, dtype=object)
        if names.size != outcomes.size:
            raise ValueError(f"{names.size} slice labels for {outcomes.size} pairs")
        for name in sorted(set(kind_labels)):
            table.append(slice_accuracy(name, outcomes[names == name]))
    return table


def slice_masks(labels: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Slice name -> [N] boolean mask of its pairs."""
    masks = {}
    for kind_labels in labels.values():
        names = np.asarray(kind_labels, dtype=object)
        for name in sorted(set(kind_labels)):
            masks[name] = names == name
    return masks
