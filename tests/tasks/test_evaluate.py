"""Evaluating a model folder or an MLflow URI on eval pairs: the metrics and what the evaluate task writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from rmcore import ScoringConfig, load_reward_model
from tasks.evaluate import evaluate_model, pair_metrics
from tasks.registry.models import load_model
from tasks.registry.scorers import score_pairs
from tests.tasks import mlflow_fixtures as fx
from tests.tiny_models import save_tiny_remote_bert

mlflow_home, tracking_uri, model_dirs = fx.mlflow_home, fx.tracking_uri, fx.model_dirs
SHARED_PAIRS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "hh-rlhf-harmless-base-1800.jsonl.gz"


def test_short_max_length_marks_pairs_truncated(model_dirs):
    model, tokenizer = load_reward_model(model_dirs["good"])
    pairs = pd.DataFrame({"chosen": ["sun " * 30, "sun"], "rejected": ["rain", "rain"]})
    scored = score_pairs(model, tokenizer, pairs, ScoringConfig(max_length=8))
    assert scored["truncated"].tolist() == [True, False]
    assert pair_metrics(scored)["truncated"] == 1


def test_pair_metrics_adds_n_pairs_to_the_reward_metrics():
    scored = pd.DataFrame(
        {"reward_chosen": [1.0, 0.0, 2.0], "reward_rejected": [0.0, 1.0, 2.0], "truncated": [False, True, False]}
    )
    metrics = pair_metrics(scored)
    assert metrics["n_pairs"] == 3 and metrics["truncated"] == 1
    assert metrics["accuracy"] == pytest.approx(1 / 3)  # the tie counts as wrong
    assert metrics["mean_margin"] == pytest.approx(0.0)


def test_evaluate_model_task_writes_scores_plots_and_logit_table(model_dirs, tmp_path):
    pairs_path = tmp_path / "eval.parquet"
    fx.synthetic_pairs(20).to_parquet(pairs_path)
    result = evaluate_model.fn(
        str(model_dirs["good"]), str(pairs_path), str(tmp_path / "out"), scoring=ScoringConfig(batch_size=8)
    )
    assert result.metrics["n_pairs"] == 20 and result.metrics["accuracy"] > 0.6
    assert len(pd.read_parquet(result.scored_path)) == 20
    names = sorted(Path(p).name for p in result.artifacts)
    assert names == ["eval_logit_table.json", "eval_reliability.png", "eval_rewards.png", "eval_summary.json"]
    assert all(Path(p).stat().st_size > 0 for p in result.artifacts)
    assert result.summary["overall"]["n"] == 20
    assert 0.0 <= result.metrics["calibration.ece"] <= 1.0 and "slice.chosen_longer_yes.accuracy" in result.metrics


def test_evaluate_model_stores_the_reward_scale_in_the_model_folder(model_dirs, tmp_path):
    from rmcore.models.normalization import read_reward_stats, reward_stats

    folder = tmp_path / "model"
    shutil.copytree(model_dirs["good"], folder)
    pairs_path = tmp_path / "eval.parquet"
    fx.synthetic_pairs(12).to_parquet(pairs_path)
    result = evaluate_model.fn(str(folder), str(pairs_path), str(tmp_path / "out"), scoring=ScoringConfig(batch_size=8))
    scored = pd.read_parquet(result.scored_path)
    expected = reward_stats([*scored["reward_chosen"], *scored["reward_rejected"]])
    stored = read_reward_stats(folder)
    assert {k: stored[k] for k in expected} == pytest.approx(expected)
    assert (
        result.metrics["reward_stats.mean"] == pytest.approx(expected["mean"])
        and result.metrics["reward_stats.n"] == 24
    )
    load_reward_model(folder)  # the extra config key does not get in the way of loading


def test_a_model_with_its_own_code_is_evaluated_only_with_trust_remote_code(mlflow_home, tracking_uri, tmp_path):
    folder = save_tiny_remote_bert(tmp_path / "remote")
    pairs_path = tmp_path / "eval.parquet"
    fx.synthetic_pairs(8).to_parquet(pairs_path)
    with pytest.raises(ValueError, match="custom code"):
        evaluate_model.fn(str(folder), str(pairs_path), str(tmp_path / "refused"))

    result = evaluate_model.fn(
        str(folder), str(pairs_path), str(tmp_path / "out"), scoring=ScoringConfig(trust_remote_code=True)
    )

    assert result.metrics["n_pairs"] == 8
    run_id = fx.log_candidate(mlflow_home, "exp-evaluate-remote", folder)
    model, _ = load_model(f"runs:/{run_id}/model", trust_remote_code=True)
    assert type(model).__name__ == "TinyRemoteForSequenceClassification"


def pinned(home: Path, tmp_path: Path) -> list:
    """Two pinned benchmarks of 30 pairs each, under `home`."""
    from tasks.data.benchmarks import pin_benchmark, pinned_benchmarks

    for name, seed in (("easy", 1), ("hard", 2)):
        source = tmp_path / f"{name}.jsonl"
        fx.synthetic_pairs(30, seed=seed).to_json(source, orient="records", lines=True)
        pin_benchmark(home, str(source))
    return pinned_benchmarks(home)


def test_the_evaluate_step_scores_each_benchmark_with_the_model_it_loaded_for_the_eval_pairs(
    model_dirs, tmp_path, monkeypatch
):
    import tasks.registry.models as models

    loads = []
    load_reward_model = models.load_reward_model
    monkeypatch.setattr(models, "load_reward_model", lambda *args: loads.append(args) or load_reward_model(*args))
    benchmarks = pinned(tmp_path / "home", tmp_path)
    pairs_path = tmp_path / "eval.parquet"
    fx.synthetic_pairs(12).to_parquet(pairs_path)
    evaluated = {
        side: evaluate_model.fn(str(model_dirs[side]), str(pairs_path), str(tmp_path / side), benchmarks=benchmarks)
        for side in ("good", "bad")
    }
    assert len(loads) == 2  # one per model, for its eval pairs and both benchmarks
    good, bad = evaluated["good"].benchmarks, evaluated["bad"].benchmarks
    assert [s.name for s in good] == ["easy", "hard"] and all(s.n_pairs == 30 for s in good)
    for ours, theirs in zip(good, bad, strict=True):  # the "bad" model is the good one negated
        assert ours.accuracy > theirs.accuracy
        assert ours.scores_path == str(tmp_path / "good" / "benchmarks" / f"{ours.name}.parquet")
        assert len(pd.read_parquet(ours.scores_path)) == 30
    assert {"accuracy_low", "calibration.ece"} <= set(good[0].metrics)
    assert any(key.startswith("slice.length") for key in good[0].metrics)


def test_without_benchmarks_the_evaluate_step_writes_no_benchmark_scores(model_dirs, tmp_path):
    pairs_path = tmp_path / "eval.parquet"
    fx.synthetic_pairs(6).to_parquet(pairs_path)
    result = evaluate_model.fn(str(model_dirs["good"]), str(pairs_path), str(tmp_path / "out"))
    assert result.benchmarks == [] and not (tmp_path / "out" / "benchmarks").exists()


def test_benchmarks_are_scored_even_with_no_eval_pairs(model_dirs, tmp_path):
    pairs_path = tmp_path / "eval.parquet"
    fx.synthetic_pairs(6).iloc[:0].to_parquet(pairs_path)
    result = evaluate_model.fn(
        str(model_dirs["good"]), str(pairs_path), str(tmp_path / "out"), benchmarks=pinned(tmp_path / "home", tmp_path)
    )
    assert result.metrics["n_pairs"] == 0 and [s.n_pairs for s in result.benchmarks] == [30, 30]


@pytest.mark.skipif(not SHARED_PAIRS.exists(), reason="shared hh-rlhf pairs not present")
def test_real_hh_rlhf_pairs_are_scored_with_left_truncation_counted(model_dirs):
    pairs = pd.read_json(SHARED_PAIRS, lines=True).head(24)
    model, tokenizer = load_reward_model(model_dirs["good"])
    metrics = pair_metrics(score_pairs(model, tokenizer, pairs, ScoringConfig(max_length=64)))
    assert metrics["n_pairs"] == 24
    assert 0 < metrics["truncated"] <= 24  # hh-rlhf dialogues run past 64 tokens
    assert 0.0 <= metrics["accuracy"] <= 1.0
