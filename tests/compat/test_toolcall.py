"""TRL's toolcall data through rmcore, beside the ported tests: the same token ids as TRL v1.9.0's
RewardTrainer, in both shapes the dataset reaches users (the hub's, `tools` as JSON text and Arrow's
nulls; the current script's, datasets' Json messages and `tools` as a list), and prompt sharing intact."""

from __future__ import annotations

import json

import pytest

from rmcore import RewardConfig, RewardTrainer
from rmcore.data.pairs import prepare_pairs
from rmcore.forward.prefix_sharing import common_prefix_length
from tests.compat.hub import QWEN_TOKENS, hub, load_dataset, word_tokenizer

SHAPES = ["trl-internal-testing/toolcall", "trl-internal-testing/toolcall@json"]


@pytest.fixture(scope="module")
def qwen():
    return word_tokenizer(**QWEN_TOKENS)


def trl_tokenize(row: dict, tokenizer) -> tuple[list[int], list[int]]:
    """TRL v1.9.0 `RewardTrainer` tokenize_fn (trl/trainer/reward_trainer.py) for an explicit-prompt row."""
    tools = row.get("tools")
    tools = json.loads(tools) if isinstance(tools, str) else tools
    return tuple(
        tokenizer.apply_chat_template(
            row["prompt"] + row[side], tools=tools, return_dict=True, **row.get("chat_template_kwargs", {})
        )["input_ids"]
        for side in ("chosen", "rejected")
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_token_ids_are_trls(qwen, shape):
    dataset = load_dataset(shape, "preference", split="train")
    prepared = prepare_pairs(dataset, qwen, max_length=1024)
    for row, chosen, rejected in zip(
        dataset, prepared["input_ids_chosen"], prepared["input_ids_rejected"], strict=True
    ):
        assert (chosen, rejected) == trl_tokenize(row, qwen)
        assert "<tool_call>" in qwen.decode(chosen) or "tool" in qwen.decode(chosen)


@pytest.mark.parametrize("shape", SHAPES)
def test_shared_prefix_is_the_templated_prompt(qwen, shape):
    """Prefix sharing shares the longest common token prefix: it starts with the whole templated prompt
    (tools block included) and never reaches past the point where chosen and rejected differ."""
    import torch

    dataset = load_dataset(shape, "preference", split="train")
    prepared = prepare_pairs(dataset, qwen, max_length=1024)
    for row, chosen, rejected in zip(
        dataset, prepared["input_ids_chosen"], prepared["input_ids_rejected"], strict=True
    ):
        tools = json.loads(row["tools"]) if isinstance(row["tools"], str) else row["tools"]
        prompt = qwen.apply_chat_template(row["prompt"], tools=tools, add_generation_prompt=True, return_dict=True)
        prompt_ids = prompt["input_ids"]
        shared = common_prefix_length(torch.tensor(chosen), torch.tensor(rejected))
        assert shared >= len(prompt_ids) and chosen[: len(prompt_ids)] == prompt_ids
        assert chosen[:shared] == rejected[:shared] and chosen[shared] != rejected[shared]


def test_chat_template_kwargs_per_row_reach_the_template():
    marked = word_tokenizer(**{**QWEN_TOKENS, "template": "{{ marker }}" + QWEN_TOKENS["template"]})
    dataset = load_dataset("trl-internal-testing/toolcall", "preference", split="train")
    dataset = dataset.map(lambda row: {"chat_template_kwargs": {"marker": "Tokyo"}})
    prepared = prepare_pairs(dataset, marked, max_length=1024)
    for i, row in enumerate(dataset):
        assert prepared["input_ids_chosen"][i] == list(trl_tokenize(row, marked)[0])
    assert marked.decode(prepared["input_ids_chosen"][0]).startswith("Tokyo")


def test_evaluate_scores_tool_call_pairs(tmp_path):
    """Training and evaluation both read the current script's shape (datasets' Json messages)."""
    dataset = load_dataset("trl-internal-testing/toolcall@json", "preference")
    args = RewardConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, max_steps=2, report_to="none")
    trainer = RewardTrainer(
        model=hub("trl-internal-testing/tiny-Qwen2ForCausalLM-2.5"),
        args=args,
        train_dataset=dataset["train"],
        eval_dataset=dataset["test"],
    )
    trainer.train()
    metrics = trainer.evaluate()
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0 and metrics["eval_loss"] == metrics["eval_loss"]
