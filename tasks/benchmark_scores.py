"""Score a trained model on every pinned benchmark, as the held-out report scores the eval pairs.

Each benchmark's pairs never change (`tasks.data.benchmarks`), so `benchmark.<name>.accuracy` logged on
every run is a figure MLflow can chart over versions: the same pairs, version after version. The
per-pair scores are kept beside the run, since the gate compares a challenger with the champion pair
by pair when a benchmark is named in `GateChecks.no_regression_on`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from rmcore.evaluation.summary import flat_metrics, metric_name
from rmcore.models.scoring import ScoringConfig
from tasks.data.benchmarks import Benchmark, read_benchmark
from tasks.evaluate import pair_metrics, pairs_summary
from tasks.registry.models import load_model
from tasks.registry.scorers import score_pairs


@dataclass
class BenchmarkScore:
    """One model on one benchmark: its figures and where its per-pair scores are."""

    benchmark: Benchmark  # the pinned pairs scored; the gate scores the champion on the same file
    n_pairs: int
    accuracy: float
    scores_path: str  # the [N] scored frame (reward_chosen, reward_rejected, correct, truncated)
    metrics: dict[str, float] = field(default_factory=dict)  # accuracy, accuracy_low/high, slice.*, calibration.*

    @property
    def name(self) -> str:
        return self.benchmark.name


def benchmark_metrics(scores: list[BenchmarkScore]) -> dict[str, float]:
    """Every figure under `benchmark.<name>.`, for the run's metrics."""
    return {f"benchmark.{metric_name(s.name)}.{key}": value for s in scores for key, value in s.metrics.items()}


def benchmark_tags(scores: list[BenchmarkScore]) -> dict[str, str]:
    """One short tag per benchmark for the version: its accuracy and interval on how many pairs."""
    tags = {}
    for s in scores:
        low, high = s.metrics.get("accuracy_low", float("nan")), s.metrics.get("accuracy_high", float("nan"))
        tags[f"benchmark.{metric_name(s.name)}"] = f"{s.accuracy:.4f} [{low:.4f}, {high:.4f}] n={s.n_pairs}"
    return tags


@task(name="score-benchmarks", cache_policy=NO_CACHE, log_prints=False)
def score_benchmarks(
    model: str,
    benchmarks: list[Benchmark],
    out_dir: str,
    scoring: ScoringConfig = ScoringConfig(),
) -> list[BenchmarkScore]:
    """Load the model once and score it on each benchmark; the scored frames go under `out_dir/<name>.parquet`."""
    if not benchmarks:
        return []
    loaded, tokenizer = load_model(model, trust_remote_code=scoring.trust_remote_code)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    scores = []
    for benchmark in benchmarks:
        pairs = read_benchmark(benchmark)
        scored = score_pairs(loaded, tokenizer, pairs, scoring)
        path = folder / f"{benchmark.name}.parquet"
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
