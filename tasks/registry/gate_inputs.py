"""What the champion gate's slice and length-bias checks need, read once from the run's eval files.

The challenger's scores come from `evaluate_model` (`eval_scores.parquet`); the slices and reply lengths
from the eval pairs; the champion is scored on the same pairs, in the same order, under the gate's lock
(`tasks.registry.scorers.pairs_scorer`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rmcore.evaluation.length_bias import pair_lengths
from rmcore.evaluation.slices import slice_labels
from rmcore.evaluation.summary import DEFAULT_CATEGORY_COLUMNS
from tasks.registry.scorers import ModelScorer, frame_texts


@dataclass
class BenchmarkGate:
    """A pinned benchmark the challenger may not regress on: its [M] outcomes there, and a scorer for the champion."""

    name: str
    challenger_correct: np.ndarray
    champion_scorer: ModelScorer  # maps the champion's URI to its scored frame on the benchmark's pairs


@dataclass
class GateInputs:
    """The challenger's [N] scored frame, the eval pairs' slice labels and reply lengths, and the benchmarks
    of `GateChecks.no_regression_on`."""

    challenger: pd.DataFrame
    labels: dict[str, list[str]]
    lengths: pd.DataFrame
    benchmarks: list[BenchmarkGate] = field(default_factory=list)


def gate_inputs(
    scores_path: str | Path, pairs_path: str | Path, category_columns: tuple[str, ...] = DEFAULT_CATEGORY_COLUMNS
) -> GateInputs:
    """Read the challenger's scores and derive the slices and lengths of the eval pairs they belong to."""
    scored, pairs = pd.read_parquet(scores_path), pd.read_parquet(pairs_path)
    if len(scored) != len(pairs):
        raise ValueError(f"{scores_path}: {len(scored)} scored pairs for {len(pairs)} eval pairs in {pairs_path}")
    lengths = pair_lengths(*frame_texts(pairs))
    return GateInputs(scored, slice_labels(pairs, lengths, category_columns), lengths)
