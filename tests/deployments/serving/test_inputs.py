"""Request texts, limits and response bodies of the reward server (pure)."""

from __future__ import annotations

import pytest

from deployments.serving.inputs import TooLargeError, check_limits, pair_rewards, request_texts, score_body
from deployments.serving.schemas import ScoreRequest


def test_pairs_become_prompt_plus_each_side_in_order():
    request = ScoreRequest(pairs=[{"prompt": "P:", "chosen": "a", "rejected": "b"}, {"chosen": "c", "rejected": "d"}])
    assert request_texts(request, tokenizer=None) == ("pairs", ["P:a", "P:b", "c", "d"])


def test_limits_name_the_field_the_index_and_the_flag():
    check_limits("query", ["a", "b"], max_texts=2, max_chars=1)
    with pytest.raises(TooLargeError, match=r"query: 3 texts .* limit is 2 texts \(--max-texts\)"):
        check_limits("query", ["a", "b", "c"], max_texts=2, max_chars=10)
    with pytest.raises(TooLargeError, match=r"pairs\[1\]: 4 characters, the limit is 3 per text \(--max-chars\)"):
        check_limits("pairs", ["a", "b", "c", "dddd"], max_texts=10, max_chars=3, items=2)


def test_score_body_normalises_and_shapes_pairs():
    stats = {"mean": 1.0, "std": 2.0}
    body = score_body("pairs", [3.0, 1.0], stats, True, "4", 0)
    assert body["rewards"] == [{"chosen": 1.0, "rejected": 0.0, "margin": 1.0}]
    assert body["raw"] == pair_rewards([3.0, 1.0]) and body["count"] == 1 and body["normalized"] is True
    plain = score_body("texts", [3.0], None, True, "4", None)
    assert plain["rewards"] == [3.0] and plain["normalized"] is False and plain["reward_stats"] is None
