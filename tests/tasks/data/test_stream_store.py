"""tasks/data/store.py `stream_store`: the store as a tokenized IterableDataset that RewardTrainer trains from."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from datasets import IterableDataset
from transformers import AutoTokenizer

from rmcore import RewardConfig, RewardTrainer
from rmcore.models.loading import default_model_path
from tasks.data.ingest import ingest_files
from tasks.data.store import append_to_store, pair_id, read_store, stream_store
from tests.tiny_models import tiny_bert

TOKEN_COLUMNS = {"input_ids_chosen", "attention_mask_chosen", "input_ids_rejected", "attention_mask_rejected"}


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(default_model_path())


@pytest.fixture
def home(tmp_path, write_pairs):
    chosen = [f"Human: q{i} Assistant: a fine answer {i}" for i in range(60)]
    rows = [{"chosen": c, "rejected": f"Human: q{i} Assistant: no"} for i, c in enumerate(chosen)]
    ingest_files([str(write_pairs(tmp_path / "pairs.jsonl", rows))], tmp_path / "home")
    return tmp_path / "home"


def test_splits_partition_the_store_and_rows_are_tokenized(home, tokenizer):
    train = stream_store(home / "store", "train", tokenizer, max_length=32, eval_fraction=0.2)
    evaluation = stream_store(home / "store", "eval", tokenizer, max_length=32, eval_fraction=0.2)
    assert isinstance(train, IterableDataset)
    train_rows, eval_rows = list(train), list(evaluation)
    stored = read_store(home / "store", eval_fraction=0.2)
    assert (len(train_rows), len(eval_rows)) == ((stored.split == "train").sum(), (stored.split == "eval").sum())
    assert TOKEN_COLUMNS | {"truncated"} <= set(train_rows[0]) and "chosen" not in train_rows[0]
    assert max(len(r["input_ids_chosen"]) for r in train_rows) <= 32


def test_margin_column_is_filled_when_only_some_files_have_it(tmp_path, tokenizer):
    with_margin = pd.DataFrame({"chosen": ["a"], "rejected": ["b"], "margin": [2.0], "pair_id": [pair_id("a", "b")]})
    plain = pd.DataFrame({"chosen": ["c"], "rejected": ["d"], "pair_id": [pair_id("c", "d")]})
    append_to_store(tmp_path, with_margin)
    append_to_store(tmp_path, plain)
    rows = list(stream_store(tmp_path, "train", tokenizer, max_length=16, eval_fraction=0.0))
    assert sorted(r["margin"] for r in rows) == [0.0, 2.0]


def test_empty_store_and_bad_split_are_refused_by_name(tmp_path, tokenizer):
    with pytest.raises(ValueError, match="no pair files"):
        stream_store(tmp_path, "train", tokenizer, 16)
    with pytest.raises(ValueError, match="'test'"):
        stream_store(tmp_path, "test", tokenizer, 16)


def test_reward_trainer_trains_from_the_stream_with_max_steps(home, tokenizer, tmp_path):
    model, _ = tiny_bert(max_positions=64)
    before = model.classifier.weight.detach().clone()
    args = RewardConfig(
        output_dir=str(tmp_path / "out"), max_steps=3, per_device_train_batch_size=4, report_to="none",
        bf16=False, use_cpu=True, learning_rate=1e-2, logging_steps=1, disable_tqdm=True,
    )  # fmt: skip
    stream = stream_store(home / "store", "train", tokenizer, max_length=32)
    trainer = RewardTrainer(model=model, args=args, processing_class=tokenizer, train_dataset=stream)
    trainer.train()
    assert trainer.state.global_step == 3
    assert not torch.equal(before, model.classifier.weight.detach())
    assert all("loss" in entry for entry in trainer.state.log_history[:3])
