"""Scoring eval pairs with a model folder or an MLflow URI, and the evaluate task's outputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rmcore import ScoringConfig, load_reward_model, score_texts
from tasks.evaluate import evaluate_model, pair_metrics
from tasks.registry.models import frame_texts, load_model, score_pairs
from tests.tasks import mlflow_fixtures as fx
from tests.tiny_models import save_tiny_remote_bert

mlflow_home, tracking_uri, model_dirs = fx.mlflow_home, fx.tracking_uri, fx.model_dirs
SHARED_PAIRS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "hh-rlhf-harmless-base-1800.jsonl.gz"


def test_score_pairs_scores_prompt_plus_reply_in_the_given_order(model_dirs):
    model, tokenizer = load_reward_model(model_dirs["good"])
    pairs = fx.synthetic_pairs(12)
    scored = score_pairs(model, tokenizer, pairs, ScoringConfig(batch_size=5))
    assert list(scored.columns) == ["reward_chosen", "reward_rejected", "correct", "truncated"]
    expected = score_texts(model, tokenizer, [p + c for p, c in zip(pairs.prompt, pairs.chosen, strict=True)])
    np.testing.assert_allclose(scored["reward_chosen"], expected, rtol=1e-2, atol=1e-2)
    assert (scored["correct"] == (scored["reward_chosen"] > scored["reward_rejected"])).all()
    assert not scored["truncated"].any()


def test_short_max_length_marks_pairs_truncated(model_dirs):
    model, tokenizer = load_reward_model(model_dirs["good"])
    pairs = pd.DataFrame({"chosen": ["sun " * 30, "sun"], "rejected": ["rain", "rain"]})
    scored = score_pairs(model, tokenizer, pairs, ScoringConfig(max_length=8))
    assert scored["truncated"].tolist() == [True, False]
    assert pair_metrics(scored)["truncated"] == 1


def test_either_side_cut_marks_the_pair_truncated(model_dirs):
    model, tokenizer = load_reward_model(model_dirs["good"])
    long = "sun " * 30
    pairs = pd.DataFrame({"chosen": [long, "sun", "sun"], "rejected": ["rain", long, "rain"]})
    assert score_pairs(model, tokenizer, pairs, ScoringConfig(max_length=8))["truncated"].tolist() == [
        True,
        True,
        False,
    ]


def test_score_pairs_tokenizes_each_eval_text_once(model_dirs, monkeypatch):
    """Rewards and truncation flags come from one tokenization of each text, not one each."""
    model, tokenizer = load_reward_model(model_dirs["good"])
    pairs = fx.synthetic_pairs(6)
    encoded: list[str] = []
    call = type(tokenizer).__call__

    def counting(self, text=None, *args, **kwargs):
        encoded.extend([text] if isinstance(text, str) else list(text or []))
        return call(self, text, *args, **kwargs)

    monkeypatch.setattr(type(tokenizer), "__call__", counting)
    score_pairs(model, tokenizer, pairs, ScoringConfig(max_length=8))
    texts = [p + side for p, c, r in zip(pairs.prompt, pairs.chosen, pairs.rejected, strict=True) for side in (c, r)]
    assert {text: encoded.count(text) for text in texts} == dict.fromkeys(texts, 1)


def test_pair_metrics_adds_n_pairs_to_the_reward_metrics():
    scored = pd.DataFrame(
        {"reward_chosen": [1.0, 0.0, 2.0], "reward_rejected": [0.0, 1.0, 2.0], "truncated": [False, True, False]}
    )
    metrics = pair_metrics(scored)
    assert metrics["n_pairs"] == 3 and metrics["truncated"] == 1
    assert metrics["accuracy"] == pytest.approx(1 / 3)  # the tie counts as wrong
    assert metrics["mean_margin"] == pytest.approx(0.0)


def test_frame_texts_joins_prompt_and_reply_as_training_does():
    frame = pd.DataFrame({"prompt": ["Q: ", ""], "chosen": ["yes", "a"], "rejected": ["no", "b"]})
    assert frame_texts(frame) == (["Q: yes", "a"], ["Q: no", "b"])
    assert frame_texts(frame.drop(columns="prompt")) == (["yes", "a"], ["no", "b"])


def test_load_model_refuses_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model folder"):
        load_model(tmp_path / "nope")


def test_load_model_reads_a_runs_uri(mlflow_home, tracking_uri, model_dirs):
    run_id = fx.log_candidate(mlflow_home, "exp-evaluate", model_dirs["good"])
    model, tokenizer = load_model(f"runs:/{run_id}/model")
    local, _ = load_reward_model(model_dirs["good"])
    pairs = fx.synthetic_pairs(6)
    np.testing.assert_array_equal(
        score_pairs(model, tokenizer, pairs)["reward_chosen"], score_pairs(local, tokenizer, pairs)["reward_chosen"]
    )


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


@pytest.mark.skipif(not SHARED_PAIRS.exists(), reason="shared hh-rlhf pairs not present")
def test_real_hh_rlhf_pairs_are_scored_with_left_truncation_counted(model_dirs):
    pairs = pd.read_json(SHARED_PAIRS, lines=True).head(24)
    model, tokenizer = load_reward_model(model_dirs["good"])
    metrics = pair_metrics(score_pairs(model, tokenizer, pairs, ScoringConfig(max_length=64)))
    assert metrics["n_pairs"] == 24
    assert 0 < metrics["truncated"] <= 24  # hh-rlhf dialogues run past 64 tokens
    assert 0.0 <= metrics["accuracy"] <= 1.0
