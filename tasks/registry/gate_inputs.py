"""What the champion gate's slice and length-bias checks need, read once from the run's eval files.

The challenger's scores come from `evaluate_model` (`eval_scores.parquet`); the slices and reply lengths
from the eval pairs; the champion is scored on the same pairs, in the same order, under the gate's lock.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rmcore.evaluation import DEFAULT_CATEGORY_COLUMNS
from rmcore.length_bias import pair_lengths
from rmcore.slices import slice_labels
from tasks.evaluate import frame_texts, load_model_any, score_pairs

# Maps a pinned champion URI (`models:/NAME/VERSION`) to its scored frame on the eval pairs.
ChampionScores = Callable[[str], pd.DataFrame]


@dataclass
class GateInputs:
    """The challenger's [N] scored frame, and the eval pairs' slice labels and reply lengths."""

    challenger: pd.DataFrame
    labels: dict[str, list[str]]
    lengths: pd.DataFrame


def gate_inputs(
    scores_path: str | Path, pairs_path: str | Path, category_columns: tuple[str, ...] = DEFAULT_CATEGORY_COLUMNS
) -> GateInputs:
    """Read the challenger's scores and derive the slices and lengths of the eval pairs they belong to."""
    scored, pairs = pd.read_parquet(scores_path), pd.read_parquet(pairs_path)
    if len(scored) != len(pairs):
        raise ValueError(f"{scores_path}: {len(scored)} scored pairs for {len(pairs)} eval pairs in {pairs_path}")
    lengths = pair_lengths(*frame_texts(pairs))
    return GateInputs(scored, slice_labels(pairs, lengths, category_columns), lengths)


def score_model(
    model_uri: str,
    pairs_df: pd.DataFrame,
    batch_size: int = 32,
    max_length: int | None = None,
    trust_remote_code: bool = False,
) -> pd.DataFrame:
    """A model's scored frame (reward_chosen, reward_rejected, correct, truncated) on the pairs."""
    model, tokenizer = load_model_any(model_uri, trust_remote_code=trust_remote_code)
    return score_pairs(model, tokenizer, pairs_df, batch_size, max_length)


def champion_scores(
    pairs_path: str | Path, batch_size: int = 32, max_length: int | None = None, trust_remote_code: bool = False
) -> ChampionScores:
    """A `ChampionScores` over the eval pairs stored at `pairs_path`."""
    pairs_df = pd.read_parquet(pairs_path)
    return functools.partial(
        score_model,
        pairs_df=pairs_df,
        batch_size=batch_size,
        max_length=max_length,
        trust_remote_code=trust_remote_code,
    )
