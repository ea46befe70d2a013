"""How a run reports a model's benchmark scores: every figure under `benchmark.<name>.`, one tag per benchmark."""

from __future__ import annotations

from tasks.benchmark_scores import BenchmarkScore, benchmark_metrics, benchmark_tags
from tasks.data.benchmarks import Benchmark


def score(name: str, accuracy: float, low: float, high: float, n_pairs: int) -> BenchmarkScore:
    benchmark = Benchmark(
        name=name,
        path=f"/home/benchmarks/{name}.parquet",
        n_pairs=n_pairs,
        digest="0" * 64,
        source=f"{name}.jsonl",
        pinned_at="2026-01-01T00:00:00+00:00",
    )
    metrics = {"accuracy": accuracy, "accuracy_low": low, "accuracy_high": high, "calibration.ece": 0.125}
    return BenchmarkScore(benchmark, n_pairs, accuracy, f"/run/eval/benchmarks/{name}.parquet", metrics)


def test_every_figure_is_a_metric_under_the_benchmarks_name():
    scores = [score("easy", 0.75, 0.5, 0.875, 30), score("hard", 0.5, 0.25, 0.75, 20)]
    assert benchmark_metrics(scores) == {
        "benchmark.easy.accuracy": 0.75,
        "benchmark.easy.accuracy_low": 0.5,
        "benchmark.easy.accuracy_high": 0.875,
        "benchmark.easy.calibration.ece": 0.125,
        "benchmark.hard.accuracy": 0.5,
        "benchmark.hard.accuracy_low": 0.25,
        "benchmark.hard.accuracy_high": 0.75,
        "benchmark.hard.calibration.ece": 0.125,
    }


def test_each_benchmark_gets_one_tag_with_its_accuracy_interval_and_size():
    tags = benchmark_tags([score("easy", 0.75, 0.5, 0.875, 30)])
    assert tags == {"benchmark.easy": "0.7500 [0.5000, 0.8750] n=30"}
    assert benchmark_tags([]) == {} and benchmark_metrics([]) == {}
