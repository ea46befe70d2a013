"""Evaluate task: score eval pairs with any reward model, a folder or an MLflow `models:/` / `runs:/` URI.

Loading and scoring are `tasks.registry.models` and `tasks.registry.scorers` (the one path of every door);
this module adds what an evaluation leaves behind: metrics, the per-pair scores, the summary and the
reports. The per-pair outcomes (`correct`) are kept, not just the accuracy: the champion gate compares two
models pair by pair.

The pinned benchmarks are scored in the same step, with the model loaded for the held-out pairs: for a
model of billions of parameters each load is minutes, and a step of their own would load it again. Handing
the loaded model to another Prefect task instead would make it a task argument, which Prefect's default
cache policy hashes; inside one step, only paths and figures cross a task boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from rmcore import reward_metrics
from rmcore.evaluation.report import write_eval_report
from rmcore.evaluation.summary import ReportConfig, evaluation_summary, flat_metrics
from rmcore.models.normalization import write_reward_stats
from rmcore.models.scoring import ScoringConfig
from tasks.benchmark_scores import BenchmarkScore
from tasks.data.benchmarks import Benchmark, read_benchmark
from tasks.registry.models import is_mlflow_uri
from tasks.registry.scorers import ModelsLoadedOnce, frame_texts, pairs_scorer


def pair_metrics(scored_df: pd.DataFrame) -> dict[str, float]:
    """`rmcore.reward_metrics` of a scored frame, plus `n_pairs` and `truncated` (pairs cut to max length)."""
    metrics = reward_metrics(scored_df["reward_chosen"].to_numpy(), scored_df["reward_rejected"].to_numpy())
    metrics["n_pairs"] = int(len(scored_df))
    metrics["truncated"] = int(scored_df["truncated"].sum()) if "truncated" in scored_df else 0
    return metrics


@dataclass
class EvalResult:
    """What an evaluation leaves behind, as paths and numbers (cheap to pass between tasks)."""

    metrics: dict[str, float]
    scored_path: str
    artifacts: list[str] = field(default_factory=list)
    summary: dict = field(default_factory=dict)  # `rmcore.evaluation.summary.evaluation_summary`
    benchmarks: list[BenchmarkScore] = field(default_factory=list)  # one per pinned benchmark scored


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


def score_benchmarks(
    model: str, benchmarks: Sequence[Benchmark], out_dir: Path, models: ModelsLoadedOnce
) -> list[BenchmarkScore]:
    """Score the model on each benchmark with the held-out report's figures; frames go to `out_dir/<name>.parquet`.

    `models` is the evaluation's own: the model it loaded for the held-out pairs scores every benchmark.
    """
    if not benchmarks:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    scores = []
    for benchmark in benchmarks:
        pairs = read_benchmark(benchmark)
        scored = pairs_scorer(pairs, models)(model)
        path = out_dir / f"{benchmark.name}.parquet"
        scored.to_parquet(path, index=False)
        metrics = {**pair_metrics(scored), **flat_metrics(pairs_summary(pairs, scored))}
        scores.append(
            BenchmarkScore(
                benchmark=benchmark,
                n_pairs=len(scored),
                accuracy=metrics["accuracy"],
                scores_path=str(path),
                metrics=metrics,
            )
        )
    return scores


def evaluate_pairs(
    model: str,
    pairs_df: pd.DataFrame,
    out_dir: str | Path,
    scoring: ScoringConfig = ScoringConfig(),
    store_reward_stats: bool = True,
    benchmarks: Sequence[Benchmark] = (),
) -> EvalResult:
    """Score the pairs with a model folder or URI; write scores, plots, summary and logit table under `out_dir`.

    The metrics hold the accuracy and, flat, the summary: slice.<name>.accuracy|low|high|n, calibration.*,
    length_bias.*, reward_stats.*; with `store_reward_stats` the reward scale is written into a model
    *folder*'s config.json before the model is logged, so a server can normalise rewards with it. Each of
    `benchmarks` is scored by the same loaded model (`score_benchmarks`, frames under `out_dir/benchmarks`).
    """
    models = ModelsLoadedOnce(scoring)  # one load for the held-out pairs and every benchmark
    scored = pairs_scorer(pairs_df, models)(model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scored_path = out / "eval_scores.parquet"
    scored.to_parquet(scored_path, index=False)
    on_benchmarks = score_benchmarks(model, benchmarks=benchmarks, out_dir=out / "benchmarks", models=models)
    if not len(scored):
        return EvalResult(pair_metrics(scored), str(scored_path), benchmarks=on_benchmarks)
    summary = pairs_summary(pairs_df, scored)
    if store_reward_stats and not is_mlflow_uri(model) and (Path(model) / "config.json").is_file():  # not an adapter
        write_reward_stats(model, summary["reward_stats"])
    artifacts = write_reports(pairs_df, scored, out, summary=summary)
    metrics = {**pair_metrics(scored), **flat_metrics(summary)}
    return EvalResult(metrics, str(scored_path), artifacts, summary, on_benchmarks)


# No print capture: dill prints bytecode (dis) while datasets hashes the map function.
@task(name="evaluate-model", cache_policy=NO_CACHE, log_prints=False)
def evaluate_model(
    model: str,
    pairs_path: str,
    out_dir: str,
    scoring: ScoringConfig = ScoringConfig(),
    store_reward_stats: bool = True,
    benchmarks: Sequence[Benchmark] = (),
) -> EvalResult:
    """Score the eval pairs (Parquet, written once by the flow) and the benchmarks with a model folder or URI.

    See `evaluate_pairs`. The loaded model stays inside this task: only paths and figures come out.
    """
    pairs_df = pd.read_parquet(pairs_path)
    return evaluate_pairs(
        model, pairs_df, out_dir, scoring=scoring, store_reward_stats=store_reward_stats, benchmarks=benchmarks
    )
