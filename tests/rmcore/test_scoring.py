"""`score_texts`: batched, longest first, no grad, in the caller's order; `score_texts_truncated` adds the flags."""

from __future__ import annotations

import pytest
import torch

from rmcore import score_texts
from rmcore.rewards import compute_rewards
from rmcore.scoring import score_texts_truncated
from rmcore.tokenization import tokenize_texts

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


def test_truncated_flags_come_with_the_same_rewards(minilm, minilm_tokenizer):
    texts = ["short", " ".join(["filler"] * 40), "a b c"]
    rewards, cut = score_texts_truncated(minilm.eval(), minilm_tokenizer, texts, max_length=16, bf16=False)
    assert cut == [False, True, False] == tokenize_texts(texts, minilm_tokenizer, 16)[1]
    assert rewards == score_texts(minilm, minilm_tokenizer, texts, max_length=16, bf16=False)


def test_empty_input_gives_empty_output(make_gpt2, gpt2_tokenizer):
    assert score_texts(make_gpt2(), gpt2_tokenizer, []) == []
    assert score_texts_truncated(make_gpt2(), gpt2_tokenizer, []) == ([], [])


@pytest.fixture
def hh_texts(shared_pairs_path) -> list[str]:
    import gzip
    import json

    with gzip.open(shared_pairs_path, "rt") as f:
        rows = [json.loads(next(f)) for _ in range(12)]
    return [r["chosen"] for r in rows] + [r["rejected"] for r in rows]


def _padded_scores(model, tokenizer, texts, batch_size, max_length):
    tokenizer.truncation_side = "left"  # as training and score_texts truncate
    scores = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        enc = tokenizer(chunk, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        with torch.no_grad():
            scores += compute_rewards(model, enc["input_ids"], enc["attention_mask"]).tolist()
    return scores


def test_packed_scores_equal_the_padded_path(decoder, text_pairs, bert_with_minilm_vocab, minilm_tokenizer, hh_texts):
    """score_texts packs (no pad token computed) and matches padded batches of compute_rewards (1e-5, fp32)."""
    from rmcore.packing import supports_packing

    # the tiny decoders know only the words of their test texts
    decoder_texts = list(text_pairs["chosen"]) + list(text_pairs["rejected"]) + TEXTS
    for (model, tokenizer), texts in ((decoder, decoder_texts), ((bert_with_minilm_vocab, minilm_tokenizer), hh_texts)):
        assert supports_packing(model)
        packed = score_texts(model, tokenizer, texts, batch_size=8, max_length=128, bf16=False)
        assert packed == pytest.approx(_padded_scores(model, tokenizer, texts, 8, 128), abs=1e-5)
