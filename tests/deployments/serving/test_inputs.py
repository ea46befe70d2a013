"""Request texts, limits and response bodies of the reward server (pure)."""

from __future__ import annotations

import pytest

from deployments.serving.inputs import (
    RequestTexts,
    TooLargeError,
    check_limits,
    check_tokens,
    classify_texts,
    pair_rewards,
    request_texts,
    score_body,
)
from deployments.serving.schemas import ClassifyRequest, ScoreRequest


def test_pairs_become_prompt_plus_each_side_in_order():
    request = ScoreRequest(pairs=[{"prompt": "P:", "chosen": "a", "rejected": "b"}, {"chosen": "c", "rejected": "d"}])
    assert request_texts(request, tokenizer=None) == RequestTexts("pairs", ["P:a", "P:b", "c", "d"], items=2)


def test_classify_input_is_one_text_or_a_list():
    assert classify_texts(ClassifyRequest(input="one"), tokenizer=None) == RequestTexts("input", ["one"])
    assert classify_texts(ClassifyRequest(input=["a", "b"]), tokenizer=None).texts == ["a", "b"]
    for bad in ({"input": []}, {}, {"input": "a", "messages": [{"role": "user", "content": "x"}]}):
        with pytest.raises(ValueError, match="input"):
            ClassifyRequest(**bad)


def test_limits_name_the_field_the_index_and_the_flag():
    check_limits("query", ["a", "b"], max_texts=2, max_chars=1)
    with pytest.raises(TooLargeError, match=r"query: 3 texts .* limit is 2 texts \(--max_texts\)"):
        check_limits("query", ["a", "b", "c"], max_texts=2, max_chars=10)
    with pytest.raises(TooLargeError, match=r"pairs\[1\]: 4 characters, the limit is 3 per text \(--max_chars\)"):
        check_limits("pairs", ["a", "b", "c", "dddd"], max_texts=10, max_chars=3, items=2)


def test_the_token_limit_counts_tokens_after_truncation():
    assert check_tokens("query", [[1, 2], [3]], max_tokens=3, max_length=2) == 3
    with pytest.raises(
        TooLargeError,
        match=r"query: 4 tokens after truncation to 2 per text, the limit is 3 tokens per request \(--max_tokens\)",
    ):
        check_tokens("query", [[1, 2], [3, 4]], max_tokens=3, max_length=2)


def test_score_body_normalises_and_shapes_pairs():
    stats = {"mean": 1.0, "std": 2.0}
    body = score_body("pairs", [3.0, 1.0], stats, True, "4", 0)
    assert body["rewards"] == [{"chosen": 1.0, "rejected": 0.0, "margin": 1.0}]
    assert body["raw"] == pair_rewards([3.0, 1.0]) and body["count"] == 1 and body["normalized"] is True
    plain = score_body("texts", [3.0], None, True, "4", None)
    assert plain["rewards"] == [3.0] and plain["normalized"] is False and plain["reward_stats"] is None
