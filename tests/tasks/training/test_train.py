"""tasks/training/train.py: the train task's own decisions — config building, and training in several processes."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset
from transformers import AutoTokenizer

from rmcore.data.tokenization import tokenize_pairs
from rmcore.training.launch import LaunchArguments
from tasks.training.train import TrainJob, build_reward_config, train_reward_model
from tests.tiny_models import save_tiny_bert


def test_unknown_override_is_named(tmp_path):
    with pytest.raises(ValueError, match="learning_rat"):
        build_reward_config(tmp_path, {"learning_rat": 1e-4})


@pytest.fixture
def tiny_model_dir(tmp_path):
    out = save_tiny_bert(tmp_path / "tiny", max_positions=64)
    return out, AutoTokenizer.from_pretrained(out)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_processes_train_and_rank_zero_writes_the_result(tiny_model_dir, tmp_path):
    """num_processes=2 relaunches under accelerate (gloo on CPU); the caller gets rank 0's result back."""
    path, tokenizer = tiny_model_dir
    pairs = {"chosen": [f"kind answer {i}" for i in range(16)], "rejected": [f"rude {i}" for i in range(16)]}
    dataset = Dataset.from_dict(pairs).map(
        tokenize_pairs, batched=True, fn_kwargs={"tokenizer": tokenizer, "max_length": 32}
    )
    config = build_reward_config(
        tmp_path / "run", {"max_steps": 2, "per_device_train_batch_size": 4, "bf16": False, "use_cpu": True}
    )
    result = train_reward_model(dataset, None, config, TrainJob(str(path), launch=LaunchArguments(num_processes=2)))
    state = json.loads((tmp_path / "run" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["train_batch_size"] == 4 and result.train_metrics["train_samples_per_second"] > 0
    rng_files = sorted(p.name for p in (tmp_path / "run" / "checkpoint-2").glob("rng_state*.pth"))
    assert rng_files == ["rng_state_0.pth", "rng_state_1.pth"], "each of the 2 ranks saves its own RNG state"
    assert (tmp_path / "run" / "model.safetensors").is_file() and result.model_dir == str(tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["train"]["train_loss"] == pytest.approx(result.train_metrics["train_loss"])
    assert result.train_metrics["train_loss"] > 0
