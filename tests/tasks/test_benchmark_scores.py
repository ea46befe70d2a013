"""Scoring a model on pinned benchmarks: the same figures as the held-out report, under `benchmark.<name>.`."""

from __future__ import annotations

import pandas as pd

from tasks.benchmark_scores import benchmark_metrics, benchmark_tags, score_benchmarks
from tasks.data.benchmarks import pin_benchmark
from tests.tasks import mlflow_fixtures as fx

model_dirs = fx.model_dirs


def test_a_model_is_scored_on_each_benchmark_with_slices_and_calibration(model_dirs, tmp_path):
    home = tmp_path / "home"
    for name, seed in (("easy", 1), ("hard", 2)):
        source = tmp_path / f"{name}.jsonl"
        fx.synthetic_pairs(30, seed=seed).to_json(source, orient="records", lines=True)
        pin_benchmark(home, str(source))
    from tasks.data.benchmarks import pinned_benchmarks

    good = score_benchmarks.fn(str(model_dirs["good"]), pinned_benchmarks(home), str(tmp_path / "scores"))
    bad = score_benchmarks.fn(str(model_dirs["bad"]), pinned_benchmarks(home), str(tmp_path / "bad"))
    assert [s.name for s in good] == ["easy", "hard"] and all(s.n_pairs == 30 for s in good)
    for ours, theirs in zip(good, bad, strict=True):  # the "bad" model is the good one negated
        assert ours.accuracy > theirs.accuracy
        assert len(pd.read_parquet(ours.scores_path)) == 30
    metrics = benchmark_metrics(good)
    assert {"benchmark.easy.accuracy", "benchmark.easy.accuracy_low", "benchmark.hard.calibration.ece"} <= set(metrics)
    assert any(key.startswith("benchmark.easy.slice.length") for key in metrics)
    assert benchmark_tags(good)["benchmark.easy"].endswith("n=30")


def test_no_benchmark_loads_no_model(tmp_path):
    assert score_benchmarks.fn("/does/not/exist", [], str(tmp_path)) == []
