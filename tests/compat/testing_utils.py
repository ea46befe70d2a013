"""The helpers TRL's tests import from `trl` and `tests/testing_utils.py`, for the ported tests.

`maybe_apply_chat_template` and `_tokenize` are TRL v0.12.2's preprocessing (trl/data_utils.py,
trl/trainer/reward_trainer.py; Apache-2.0), kept as the reference the v0.12.2 tests compare against.
"""

from __future__ import annotations

from typing import Any

import pytest
from transformers.testing_utils import require_peft  # noqa: F401  (re-exported for the ported tests)


class TrlTestCase:
    """TRL's base test class: a temporary `self.tmp_dir` per test."""

    @pytest.fixture(autouse=True)
    def set_tmp_dir(self, tmp_path):
        self.tmp_dir = str(tmp_path)


def _is_conversational(example: dict[str, Any]) -> bool:
    keys = [k for k in ("prompt", "chosen", "rejected", "completion", "messages") if k in example]
    if keys and isinstance(example[keys[0]], list):
        first = example[keys[0]][0]
        return isinstance(first, dict) and "role" in first
    return False


def maybe_apply_chat_template(example: dict[str, Any], tokenizer: Any) -> dict[str, Any]:
    """TRL v0.12.2: template the prompt (with generation prompt) and each reply after it, as text."""
    if not _is_conversational(example):
        return example
    output: dict[str, Any] = {}
    if "prompt" in example:
        prompt = tokenizer.apply_chat_template(example["prompt"], tokenize=False, add_generation_prompt=True)
        output["prompt"] = prompt
        for side in ("chosen", "rejected"):
            full = tokenizer.apply_chat_template(example["prompt"] + example[side], tokenize=False)
            output[side] = full[len(prompt) :]
    else:
        for side in ("chosen", "rejected"):
            output[side] = tokenizer.apply_chat_template(example[side], tokenize=False)
    return output


def _tokenize(batch: dict[str, list[Any]], tokenizer: Any) -> dict[str, list[Any]]:
    """TRL v0.12.2: tokenize chosen and rejected (without the prompt) into the four token columns."""
    out: dict[str, list[Any]] = {k: [] for k in ("input_ids_chosen", "attention_mask_chosen")}
    out.update({k: [] for k in ("input_ids_rejected", "attention_mask_rejected")})
    for chosen, rejected in zip(batch["chosen"], batch["rejected"], strict=True):
        c, r = tokenizer(chosen), tokenizer(rejected)
        out["input_ids_chosen"].append(c["input_ids"])
        out["attention_mask_chosen"].append(c["attention_mask"])
        out["input_ids_rejected"].append(r["input_ids"])
        out["attention_mask_rejected"].append(r["attention_mask"])
    return out
