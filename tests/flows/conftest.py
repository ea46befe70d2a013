"""Fixtures for the flow tests: learnable synthetic pairs and small, fast flow parameters."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

TOPICS = "bake bread|fix a bike|learn chess|plant tomatoes|write a poem|clean a pan|train a puppy|paint a wall".split(
    "|"
)
HELPFUL = [
    "Sure, here is a careful step by step way to {t}. Start slowly and ask if anything is unclear.",
    "Happy to help you {t}: gather what you need, follow the steps, and check your work as you go.",
    "A good way to {t} is to plan first, then practise. I can explain any step in more detail.",
]
HOSTILE = [
    "Why would anyone want to {t}? Figure it out yourself, I am not helping you.",
    "No. Go and {t} on your own, and stop wasting my time with stupid questions.",
    "That is a dumb idea. Forget about how to {t} and leave me alone.",
]


def synthetic_pairs(n: int, seed: int = 0) -> list[dict]:
    """Pairs where the chosen reply is helpful and the rejected one hostile: learnable in a few steps."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        prompt = f"\n\nHuman: How do I {topic}? (question {i})\n\nAssistant:"
        pairs.append(
            {
                "chosen": prompt + " " + rng.choice(HELPFUL).format(t=topic),
                "rejected": prompt + " " + rng.choice(HOSTILE).format(t=topic),
            }
        )
    return pairs


@pytest.fixture(scope="session")
def synthetic_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pairs") / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in synthetic_pairs(240)) + "\n")
    return path
