"""`score_texts`: batched, longest first, no grad, in the caller's order; `score_texts_truncated` adds the flags."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from rmcore import score_texts
from rmcore.data.tokenization import tokenize_texts
from rmcore.forward.rewards import compute_rewards
from rmcore.models.scoring import ScoringConfig, score_texts_truncated

TEXTS = ["no", "human tell me a joke assistant the cat sat on the mat", "hello how are you", "yes </s>"]


def test_scores_come_back_in_input_order_whatever_the_batch_size(decoder):
    model, tokenizer = decoder
    one_by_one = []
    for text in TEXTS:
        encoded = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            one_by_one.append(compute_rewards(model, encoded["input_ids"], encoded["attention_mask"]).item())
    for batch_size in (1, 3, 32):
        assert score_texts(model, tokenizer, TEXTS, ScoringConfig(batch_size=batch_size)) == pytest.approx(
            one_by_one, abs=1e-5
        )


def test_no_grad_and_training_mode_restored(make_gpt2, gpt2_tokenizer):
    model = make_gpt2().train()
    scores = score_texts(model, gpt2_tokenizer, TEXTS)
    assert all(isinstance(s, float) for s in scores)
    assert model.training
    assert all(p.grad is None for p in model.parameters())


def test_long_text_is_scored_on_its_ending(minilm, minilm_tokenizer):
    ending = "the assistant refused politely"
    long = " ".join(["filler"] * 600) + " " + ending
    (long_score,) = score_texts(minilm.eval(), minilm_tokenizer, [long], ScoringConfig(max_length=16))
    kept = minilm_tokenizer(long, add_special_tokens=False)["input_ids"][-14:]
    (short_score,) = score_texts(minilm, minilm_tokenizer, [minilm_tokenizer.decode(kept)])
    assert long_score == pytest.approx(short_score, abs=1e-5)


def test_truncated_flags_come_with_the_same_rewards(minilm, minilm_tokenizer):
    texts = ["short", " ".join(["filler"] * 40), "a b c"]
    rewards, cut = score_texts_truncated(minilm.eval(), minilm_tokenizer, texts, ScoringConfig(max_length=16))
    assert cut == [False, True, False] == tokenize_texts(texts, minilm_tokenizer, 16)[1]
    assert rewards == score_texts(minilm, minilm_tokenizer, texts, ScoringConfig(max_length=16))


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
    from rmcore.forward.packing import supports_packing

    # the tiny decoders know only the words of their test texts
    decoder_texts = list(text_pairs["chosen"]) + list(text_pairs["rejected"]) + TEXTS
    for (model, tokenizer), texts in ((decoder, decoder_texts), ((bert_with_minilm_vocab, minilm_tokenizer), hh_texts)):
        assert supports_packing(model)
        packed = score_texts(model, tokenizer, texts, ScoringConfig(batch_size=8, max_length=128))
        assert packed == pytest.approx(_padded_scores(model, tokenizer, texts, 8, 128), abs=1e-5)


MIXED = ["no", "hello", "human tell me a joke assistant the cat sat on the mat sure here it is", "yes please thanks"]


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "padded"])
def test_default_scoring_is_fp32_and_independent_of_the_batch(
    decoder, bert_with_minilm_vocab, minilm_tokenizer, packed, monkeypatch
):
    """A text's reward alone, in a batch of longer and shorter texts, and in batches of any size agree to 1e-5."""
    if not packed:  # the padded path: the reward is read at each row's last real token
        monkeypatch.setattr("rmcore.models.scoring.supports_packing", lambda model: False)
    for model, tokenizer in (decoder, (bert_with_minilm_vocab, minilm_tokenizer)):
        alone = [score_texts(model, tokenizer, [text])[0] for text in MIXED]
        for batch_size in (2, 32):
            batched = score_texts(model, tokenizer, MIXED, ScoringConfig(batch_size=batch_size))
            assert batched == pytest.approx(alone, abs=1e-5)
        assert score_texts(model, tokenizer, MIXED) == score_texts(
            model, tokenizer, MIXED, ScoringConfig(precision="fp32")
        )
        assert score_texts(model, tokenizer, MIXED, config=ScoringConfig()) == pytest.approx(alone, abs=1e-5)


def test_bf16_is_an_explicit_choice(make_llama, llama_tokenizer):
    model = make_llama()
    fp32 = score_texts(model, llama_tokenizer, MIXED)
    bf16 = score_texts(model, llama_tokenizer, MIXED, config=ScoringConfig(precision="bf16"))
    assert bf16 != fp32 and bf16 == pytest.approx(fp32, abs=0.05)
    assert ScoringConfig(precision="bf16").precision_in_effect == "bf16"
    assert ScoringConfig().precision_in_effect == "fp32"


def test_scoring_config_names_a_bad_field_and_round_trips():
    import copy
    import pickle

    for bad, message in (
        ({"precision": "fp16"}, "precision must be one of fp32, bf16, auto"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"max_length": 0}, "max_length"),
    ):
        with pytest.raises(ValueError, match=message):
            ScoringConfig(**bad)
    config = ScoringConfig(batch_size=8, max_length=64, precision="auto")
    assert pickle.loads(pickle.dumps(config)) == config == copy.deepcopy(config)
    assert all(f.metadata.get("help") for f in dataclasses.fields(ScoringConfig))
