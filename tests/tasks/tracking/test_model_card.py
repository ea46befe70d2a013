"""The model card: what the model is, how it scored, and how a client loads the champion."""

from __future__ import annotations

from tasks.tracking.model_card import model_card


def test_the_card_says_how_to_load_the_champion_and_hides_secrets():
    card = model_card("rm-x", "tiny-bert", "abc", {"accuracy": 0.8}, {"hub_token": "s3cret", "lr": 1})
    assert 'mlflow.pyfunc.load_model("models:/rm-x@champion")' in card
    assert "rmcore.RewardFunction(root)" in card and "artifacts/model" in card
    assert "| accuracy | 0.8000 |" in card and "s3cret" not in card
