"""`score_texts`: batched, longest first, no grad, in the caller's order."""

from __future__ import annotations

import pytest
import torch

from rmcore import score_texts
from rmcore.rewards import compute_rewards

TEXTS = ["no", "human tell me a joke assistant the cat sat on the mat", "hello how are you", "yes </s>"]


def test_scores_come_back_in_input_order_whatever_the_batch_size(decoder):
    model, tokenizer = decoder
    one_by_one = []
    for text in TEXTS:
        encoded = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            one_by_one.append(compute_rewards(model, encoded["input_ids"], encoded["attention_mask"]).item())
    for batch_size in (1, 3, 32):
        assert score_texts(model, tokenizer, TEXTS, batch_size=batch_size, bf16=False) == pytest.approx(
            one_by_one, abs=1e-5
        )


def test_no_grad_and_training_mode_restored(make_gpt2, gpt2_tokenizer):
    model = make_gpt2().train()
    scores = score_texts(model, gpt2_tokenizer, TEXTS, bf16=False)
    assert all(isinstance(s, float) for s in scores)
    assert model.training
    assert all(p.grad is None for p in model.parameters())


def test_long_text_is_scored_on_its_ending(minilm, minilm_tokenizer):
    ending = "the assistant refused politely"
    long = " ".join(["filler"] * 600) + " " + ending
    (long_score,) = score_texts(minilm.eval(), minilm_tokenizer, [long], max_length=16, bf16=False)
    kept = minilm_tokenizer(long, add_special_tokens=False)["input_ids"][-14:]
    (short_score,) = score_texts(minilm, minilm_tokenizer, [minilm_tokenizer.decode(kept)], bf16=False)
    assert long_score == pytest.approx(short_score, abs=1e-5)


def test_empty_input_gives_empty_output(make_gpt2, gpt2_tokenizer):
    assert score_texts(make_gpt2(), gpt2_tokenizer, []) == []
