"""The scored frame every door reads (rewards of prompt + reply, `correct`, `truncated`), and scorers that
share one load of a model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rmcore import ScoringConfig, load_reward_model, score_texts
from tasks.registry.scorers import ModelsLoadedOnce, frame_texts, pairs_scorer, score_pairs
from tests.tasks import mlflow_fixtures as fx

mlflow_home, tracking_uri, model_dirs = fx.mlflow_home, fx.tracking_uri, fx.model_dirs


def test_score_pairs_scores_prompt_plus_reply_in_the_given_order(model_dirs):
    model, tokenizer = load_reward_model(model_dirs["good"])
    pairs = fx.synthetic_pairs(12)
    scored = score_pairs(model, tokenizer, pairs, ScoringConfig(batch_size=5))
    assert list(scored.columns) == ["reward_chosen", "reward_rejected", "correct", "truncated"]
    expected = score_texts(model, tokenizer, [p + c for p, c in zip(pairs.prompt, pairs.chosen, strict=True)])
    np.testing.assert_allclose(scored["reward_chosen"], expected, rtol=1e-2, atol=1e-2)
    assert (scored["correct"] == (scored["reward_chosen"] > scored["reward_rejected"])).all()
    assert not scored["truncated"].any()


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


def test_frame_texts_joins_prompt_and_reply_as_training_does():
    frame = pd.DataFrame({"prompt": ["Q: ", ""], "chosen": ["yes", "a"], "rejected": ["no", "b"]})
    assert frame_texts(frame) == (["Q: yes", "a"], ["Q: no", "b"])
    assert frame_texts(frame.drop(columns="prompt")) == (["yes", "a"], ["no", "b"])


def test_scorers_over_different_pairs_return_the_scored_frame_from_one_load_of_a_model(
    mlflow_home, tracking_uri, model_dirs, monkeypatch
):
    """The gate scores the champion on the eval pairs and on each benchmark; the evaluate step scores the
    trained model on both too. One `ModelsLoadedOnce` serves every scorer with one fetch and load."""
    import tasks.registry.models as models

    loads = []
    load_reward_model = models.load_reward_model
    monkeypatch.setattr(models, "load_reward_model", lambda *args: loads.append(args) or load_reward_model(*args))
    source = f"runs:/{fx.log_candidate(mlflow_home, 'exp-scorers', model_dirs['good'])}/model"
    pairs = fx.synthetic_pairs(8)
    shared = ModelsLoadedOnce(ScoringConfig())
    on_eval, on_benchmark = pairs_scorer(pairs, shared), pairs_scorer(pairs.iloc[:2], shared)
    scored = on_eval(source)
    assert isinstance(scored, pd.DataFrame) and list(scored.columns) == [
        "reward_chosen",
        "reward_rejected",
        "correct",
        "truncated",
    ]
    assert len(scored) == len(pairs)
    on_two = on_benchmark(source)["reward_chosen"]
    np.testing.assert_allclose(on_two, scored["reward_chosen"].iloc[:2], rtol=1e-5)  # the same model
    assert len(loads) == 1  # the eval pairs and the benchmark share one load
