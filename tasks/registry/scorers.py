"""Score pairs with a reward model: the one scored frame of every door, and models loaded once for many scorers.

Kept apart from `tasks.registry.models` (which fetches and loads a model) because most callers only
score: evaluation, the benchmarks, the ingest health check and the gate turn pairs into the same frame
(both rewards, `correct`, `truncated`) whichever way the model arrived. Texts are built as training built
them (prompt + reply, conversations through the chat template), so a reward here is the reward trained.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import nn
from transformers import PreTrainedTokenizerBase

from rmcore.data.chat import chat_template_in_effect
from rmcore.data.tokenization import is_conversational_row, pair_sequences
from rmcore.models.scoring import ScoringConfig, score_texts_truncated
from tasks.registry.models import load_model

SCORE_COLUMNS = ("reward_chosen", "reward_rejected", "correct", "truncated")


def text_columns(pairs_df: pd.DataFrame) -> list[str]:
    return [c for c in ("prompt", "chosen", "rejected") if c in pairs_df.columns]


def frame_texts(pairs_df: pd.DataFrame, name: str = "pairs", tokenizer: Any = None) -> tuple[list[str], list[str]]:
    """prompt + chosen and prompt + rejected, as in training (conversations rendered by the tokenizer's chat
    template, or hh-rlhf text); fails naming the missing column."""
    missing = [c for c in ("chosen", "rejected") if c not in pairs_df.columns]
    pairs_df = pairs_df.assign(  # Arrow hands message lists to pandas as arrays
        **{c: [v.tolist() if isinstance(v, np.ndarray) else v for v in pairs_df[c]] for c in text_columns(pairs_df)}
    )
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; it has {sorted(map(str, pairs_df.columns))}")
    for column in ("chosen", "rejected", "prompt"):
        if column in pairs_df.columns:
            bad = [i for i, v in enumerate(pairs_df[column]) if not isinstance(v, str | list)]
            if bad:
                raise ValueError(
                    f"{name} row {bad[0]}: column `{column}` must be a string or a message list, "
                    f"got {pairs_df[column].iloc[bad[0]]!r}"
                )
    if pairs_df.empty:
        return [], []
    columns = ("prompt", "chosen", "rejected", "tools", "chat_template_kwargs")
    batch = {c: pairs_df[c].tolist() for c in columns if c in pairs_df.columns}
    chosen, rejected, _ = pair_sequences(batch, tokenizer, name=name)
    return chosen, rejected


def renders_with_template(pairs_df: pd.DataFrame, tokenizer: Any) -> bool:
    """Conversational pairs rendered by a chat template carry their own special tokens."""
    if pairs_df.empty or chat_template_in_effect(tokenizer) is None:
        return False
    first = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in pairs_df.iloc[0].to_dict().items()}
    return is_conversational_row(first)


def score_pairs(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    pairs_df: pd.DataFrame,
    scoring: ScoringConfig = ScoringConfig(),
) -> pd.DataFrame:
    """One row per pair: both rewards, whether chosen won (ties lose), and whether either side was cut.

    Returns:
        DataFrame [N] with columns reward_chosen, reward_rejected (float), correct, truncated (bool),
        in the order of `pairs_df`.
    """
    chosen, rejected = frame_texts(pairs_df, tokenizer=tokenizer)
    templated = renders_with_template(pairs_df, tokenizer)
    # One tokenization per side gives both the rewards and the truncation flags.
    sides = [
        score_texts_truncated(model, tokenizer, texts, templated=templated, config=scoring)
        for texts in (chosen, rejected)
    ]
    (reward_chosen, cut_chosen), (reward_rejected, cut_rejected) = sides
    scored = pd.DataFrame(
        {
            "reward_chosen": np.asarray(reward_chosen, dtype=np.float64),
            "reward_rejected": np.asarray(reward_rejected, dtype=np.float64),
        }
    )
    scored["correct"] = scored["reward_chosen"] > scored["reward_rejected"]
    scored["truncated"] = np.logical_or(cut_chosen, cut_rejected) if len(scored) else np.zeros(0, dtype=bool)
    return scored


def score_model(source: str | Path, pairs_df: pd.DataFrame, scoring: ScoringConfig = ScoringConfig()) -> pd.DataFrame:
    """The one scorer: load a folder or MLflow URI (resolved in the process-wide store) and score the pairs.

    Returns:
        DataFrame [N] of `score_pairs`: reward_chosen, reward_rejected, correct, truncated.
    """
    model, tokenizer = load_model(source, scoring.trust_remote_code)
    return score_pairs(model, tokenizer, pairs_df, scoring)


# Maps a model URI (the gate pins `models:/NAME/VERSION`) to its scored frame on fixed pairs.
ModelScorer = Callable[[str], pd.DataFrame]


class ModelsLoadedOnce:
    """Loads each model a set of scorers asks for once, and hands every later ask the same model.

    The gate scores the champion on the eval pairs and again on each benchmark it may not regress on, and
    the evaluate step scores the trained model on the held-out pairs and every pinned benchmark; one load
    serves them all (for a model of billions of parameters, a load is minutes, at the gate under the
    registry lock). Keep one only as long as its scorers, inside one step: it holds the models in memory.
    """

    def __init__(self, scoring: ScoringConfig) -> None:
        self.scoring = scoring
        self.models: dict[str, tuple[nn.Module, PreTrainedTokenizerBase]] = {}

    def __call__(self, source: str) -> tuple[nn.Module, PreTrainedTokenizerBase]:
        if source not in self.models:
            self.models[source] = load_model(source, self.scoring.trust_remote_code)
        return self.models[source]


def pairs_scorer(pairs_df: pd.DataFrame, models: ModelsLoadedOnce) -> ModelScorer:
    """A `ModelScorer` over `pairs_df`, loading through `models`: what the gate and the evaluate step score with."""

    def score(source: str) -> pd.DataFrame:
        model, tokenizer = models(source)
        return score_pairs(model, tokenizer, pairs_df, models.scoring)

    return score
