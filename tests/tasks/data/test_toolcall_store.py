"""Conversations with tool calls through the data path: read, validated, stored, read back and rendered as TRL
renders them, from the files users bring (JSONL and Parquet of TRL's toolcall dataset, nulls and all)."""

from __future__ import annotations

import json

import pytest

from rmcore.data.pairs import prepare_pairs
from tasks.data.config import DataConfig
from tasks.data.load import read_pair_records
from tasks.data.store import append_to_store, read_store, store_frame, store_pairs, stream_store
from tasks.data.validate import validate_records
from tasks.registry.scorers import frame_texts
from tests.compat.hub import QWEN_TOKENS, build_dataset, word_tokenizer

SHAPES = ["trl-internal-testing/toolcall", "trl-internal-testing/toolcall@json"]


@pytest.fixture(scope="module")
def qwen():
    return word_tokenizer(**QWEN_TOKENS)


def trl_ids(row: dict, tokenizer, side: str, tokenize: bool = True) -> list[int] | str:
    """TRL v1.9.0's RewardTrainer tokenization of one side of a conversational row with tools (or its text)."""
    tools = json.loads(row["tools"]) if isinstance(row["tools"], str) else row["tools"]
    messages = row["prompt"] + row[side]
    if not tokenize:
        return tokenizer.apply_chat_template(messages, tools=tools, tokenize=False)
    return tokenizer.apply_chat_template(messages, tools=tools, return_dict=True)["input_ids"]


def original_row(rows: list[dict], stored_prompt: str) -> dict:
    return next(r for r in rows if r["prompt"] == json.loads(stored_prompt))


def write(dataset, folder, fmt: str):
    path = folder / f"toolcall.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in dataset))
    else:
        dataset.to_parquet(str(path))
    return path


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_tool_calls_survive_validation_and_the_store(tmp_path, qwen, shape, fmt):
    dataset = build_dataset(shape, "preference")["train"]
    rows = list(dataset)
    path = write(dataset, tmp_path, fmt)
    result = validate_records(read_pair_records([str(path)]), DataConfig(), set())
    assert result.bad == [] and len(result.good) == len(rows)
    store = tmp_path / "store"
    append_to_store(store, result.good)

    stored = read_store(store)
    assert set(stored.columns) >= {"chosen", "rejected", "prompt", "tools", "pair_id"}
    assert json.loads(stored.chosen[0])[0]["tool_calls"][0]["function"]["name"] == "start_timer"

    tokens = prepare_pairs(store_pairs(store, list(stored.pair_id), tmp_path / "cache"), qwen, max_length=1024)
    for i, prompt in enumerate(stored.prompt):
        original = original_row(rows, prompt)
        assert tokens["input_ids_chosen"][i] == trl_ids(original, qwen, "chosen")
        assert tokens["input_ids_rejected"][i] == trl_ids(original, qwen, "rejected")

    frame = store_frame(store, list(stored.pair_id))
    chosen_texts, rejected_texts = frame_texts(frame, tokenizer=qwen)
    for i, prompt in enumerate(frame.prompt):
        assert chosen_texts[i] == trl_ids(original_row(rows, prompt), qwen, "chosen", tokenize=False)
        assert rejected_texts[i] == trl_ids(original_row(rows, prompt), qwen, "rejected", tokenize=False)


def test_streamed_store_renders_tool_calls_too(tmp_path, qwen):
    dataset = build_dataset("trl-internal-testing/toolcall", "preference")["train"]
    result = validate_records(read_pair_records([str(write(dataset, tmp_path, "jsonl"))]), DataConfig(), set())
    append_to_store(tmp_path / "store", result.good)
    streamed = list(stream_store(tmp_path / "store", "train", qwen, max_length=1024, eval_fraction=0.0))
    expected = {tuple(trl_ids(row, qwen, "chosen")) for row in dataset}
    assert len(streamed) == len(dataset)
    assert {tuple(row["input_ids_chosen"]) for row in streamed} == expected
