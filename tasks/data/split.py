"""Train and eval pairs: the split read off each pair's hash, then seeded caps, the same for every door."""

from __future__ import annotations

import pandas as pd

from tasks.data.store import split_of


def split_pairs(
    pairs: pd.DataFrame,
    eval_fraction: float,
    max_train_pairs: int | None = None,
    max_eval_pairs: int | None = None,
    seed: int = 42,
    where: str = "the pairs",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pairs whose id hash falls under `eval_fraction` are eval, the rest train; caps sample with `seed`.

    Args:
        pairs: rows with `pair_id` (as stored or as `tasks.data.files.read_valid_pairs` gives them).
        where: how error messages name the pairs (a store folder, a file).

    Raises:
        ValueError: no pairs, or a split that must not be empty is (eval is allowed empty at fraction 0).
    """
    if pairs.empty:
        raise ValueError(f"{where} hold no pairs")
    is_eval = [split_of(pid, eval_fraction) == "eval" for pid in pairs["pair_id"]]
    eval_df = pairs[is_eval].reset_index(drop=True)
    train_df = pairs[[not e for e in is_eval]].reset_index(drop=True)
    if train_df.empty or (eval_df.empty and eval_fraction > 0):
        raise ValueError(
            f"{len(pairs)} pairs in {where} give {len(train_df)} train and {len(eval_df)} eval pairs at "
            f"eval_fraction={eval_fraction}: add more pairs or change eval_fraction"
        )
    return cap(train_df, max_train_pairs, seed), cap(eval_df, max_eval_pairs, seed)


def cap(df: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    """At most `limit` rows, a seeded sample kept in the original order."""
    if limit is None or len(df) <= limit:
        return df
    return df.sample(n=limit, random_state=seed).sort_index().reset_index(drop=True)
