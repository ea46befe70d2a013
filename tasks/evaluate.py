"""Evaluate task: score eval pairs with any reward model, a folder or an MLflow `models:/` / `runs:/` URI.

The per-pair outcomes (`correct`) are kept, not just the accuracy: the champion gate compares two
models pair by pair on the same eval set.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from torch import nn
from transformers import PreTrainedTokenizerBase

from rmcore import load_reward_model, reward_metrics
from rmcore.chat import chat_template_in_effect
from rmcore.evaluation import ReportConfig, evaluation_summary, flat_metrics
from rmcore.normalization import write_reward_stats
from rmcore.report import write_eval_report
from rmcore.scoring import score_texts_truncated
from rmcore.tokenization import is_conversational_row, pair_sequences

MLFLOW_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")
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
    batch_size: int = 32,
    max_length: int | None = None,
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
        score_texts_truncated(model, tokenizer, texts, batch_size, max_length, templated=templated)
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


def pair_metrics(scored_df: pd.DataFrame) -> dict[str, float]:
    """`rmcore.reward_metrics` of a scored frame, plus `n_pairs` and `truncated` (pairs cut to max length)."""
    metrics = reward_metrics(scored_df["reward_chosen"].to_numpy(), scored_df["reward_rejected"].to_numpy())
    metrics["n_pairs"] = int(len(scored_df))
    metrics["truncated"] = int(scored_df["truncated"].sum()) if "truncated" in scored_df else 0
    return metrics


def is_mlflow_uri(uri_or_dir: str) -> bool:
    return str(uri_or_dir).startswith(MLFLOW_SCHEMES)


def download_model(uri: str, dst_dir: str | Path, tracking_uri: str | None = None) -> Path:
    """Download a logged or registered model folder (`models:/NAME@ALIAS`, `models:/NAME/VERSION`, `runs:/`)."""
    import mlflow

    path = mlflow.artifacts.download_artifacts(
        artifact_uri=uri, dst_path=str(dst_dir), tracking_uri=tracking_uri, registry_uri=tracking_uri
    )
    return Path(path)


def load_model_any(
    uri_or_dir: str | Path,
    tracking_uri: str | None = None,
    cache_dir: str | Path | None = None,
    trust_remote_code: bool = False,
) -> tuple[nn.Module, PreTrainedTokenizerBase]:
    """Load a reward model from a local folder or an MLflow URI, offline.

    MLflow URIs are downloaded to `cache_dir` (a temporary folder if None) and loaded from there; the
    weights are read into memory, so the temporary folder can go. `trust_remote_code` runs the model
    code saved in the folder (config.json `auto_map`), as training did.
    """
    source = str(uri_or_dir)
    if not is_mlflow_uri(source):
        if not Path(source).is_dir():
            raise FileNotFoundError(f"{source}: no such model folder (or give a models:/ or runs:/ URI)")
        return load_reward_model(source, trust_remote_code)
    if cache_dir is not None:
        return load_reward_model(download_model(source, cache_dir, tracking_uri), trust_remote_code)
    with tempfile.TemporaryDirectory(prefix="rewardflow-model-") as tmp:
        return load_reward_model(download_model(source, tmp, tracking_uri), trust_remote_code)


def correct_vector(
    model_uri: str,
    pairs_df: pd.DataFrame,
    batch_size: int = 32,
    max_length: int | None = None,
    tracking_uri: str | None = None,
    trust_remote_code: bool = False,
) -> np.ndarray:
    """Per-pair outcomes (1 = chosen scored higher) of any model on the pairs: the champion scorer of the gate."""
    model, tokenizer = load_model_any(model_uri, tracking_uri, trust_remote_code=trust_remote_code)
    return score_pairs(model, tokenizer, pairs_df, batch_size, max_length)["correct"].to_numpy(dtype=np.float64)


@dataclass
class EvalResult:
    """What an evaluation leaves behind, as paths and numbers (cheap to pass between tasks)."""

    metrics: dict[str, float]
    scored_path: str
    artifacts: list[str] = field(default_factory=list)
    summary: dict = field(default_factory=dict)  # `rmcore.evaluation.evaluation_summary`


def pairs_summary(pairs_df: pd.DataFrame, scored: pd.DataFrame, config: ReportConfig | None = None) -> dict:
    """Slices (by the pairs' category column when present), calibration, length bias, reward statistics."""
    chosen, rejected = frame_texts(pairs_df)
    rewards = scored["reward_chosen"].to_numpy(), scored["reward_rejected"].to_numpy()
    return evaluation_summary(chosen, rejected, *rewards, pairs_df, config)


def write_reports(
    pairs_df: pd.DataFrame, scored: pd.DataFrame, out_dir: Path, table_rows: int = 16, summary: dict | None = None
) -> list[str]:
    """The histograms, reliability diagram, summary and sampled logit table a person looks at."""
    chosen, rejected = frame_texts(pairs_df)
    rewards = scored["reward_chosen"].tolist(), scored["reward_rejected"].tolist()
    title = "held-out rewards"
    written = write_eval_report(
        chosen, rejected, *rewards, out_dir, "eval", title, table_rows, summary=summary, categories=pairs_df
    )
    return [str(path) for path in written]


def evaluate_pairs(
    model: str,
    pairs_df: pd.DataFrame,
    out_dir: str | Path,
    batch_size: int = 32,
    max_length: int | None = None,
    tracking_uri: str | None = None,
    store_reward_stats: bool = True,
    trust_remote_code: bool = False,
) -> EvalResult:
    """Score the pairs with a model folder or URI; write scores, plots, summary and logit table under `out_dir`.

    The metrics hold the accuracy and, flat, the summary: slice.<name>.accuracy|low|high|n, calibration.*,
    length_bias.*, reward_stats.*; with `store_reward_stats` the reward scale is written into a model
    *folder*'s config.json before the model is logged, so a server can normalise rewards with it.
    """
    loaded, tokenizer = load_model_any(model, tracking_uri, trust_remote_code=trust_remote_code)
    scored = score_pairs(loaded, tokenizer, pairs_df, batch_size, max_length)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scored_path = out / "eval_scores.parquet"
    scored.to_parquet(scored_path, index=False)
    if not len(scored):
        return EvalResult(pair_metrics(scored), str(scored_path))
    summary = pairs_summary(pairs_df, scored)
    if store_reward_stats and not is_mlflow_uri(model) and (Path(model) / "config.json").is_file():  # not an adapter
        write_reward_stats(model, summary["reward_stats"])
    artifacts = write_reports(pairs_df, scored, out, summary=summary)
    return EvalResult({**pair_metrics(scored), **flat_metrics(summary)}, str(scored_path), artifacts, summary)


# No print capture: dill prints bytecode (dis) while datasets hashes the map function.
@task(name="evaluate-model", cache_policy=NO_CACHE, log_prints=False)
def evaluate_model(
    model: str,
    pairs_path: str,
    out_dir: str,
    batch_size: int = 32,
    max_length: int | None = None,
    tracking_uri: str | None = None,
    store_reward_stats: bool = True,
    trust_remote_code: bool = False,
) -> EvalResult:
    """Score the eval pairs (Parquet, written once by the flow) with a model folder or URI (see `evaluate_pairs`)."""
    pairs_df = pd.read_parquet(pairs_path)
    return evaluate_pairs(
        model, pairs_df, out_dir, batch_size, max_length, tracking_uri, store_reward_stats, trust_remote_code
    )
