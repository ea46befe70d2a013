"""A trained model's scores on the pinned benchmarks, and how a run reports them: metrics and version tags.

Each benchmark's pairs never change (`tasks.data.benchmarks`), so `benchmark.<name>.accuracy` logged on
every run is a figure MLflow can chart over versions: the same pairs, version after version. The
per-pair scores are kept beside the run, since the gate compares a challenger with the champion pair
by pair when a benchmark is named in `GateChecks.no_regression_on`. The scoring itself is part of the
evaluate step (`tasks.evaluate.score_benchmarks`), which holds the model it loaded for the held-out pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rmcore.evaluation.summary import metric_name
from tasks.data.benchmarks import Benchmark


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
