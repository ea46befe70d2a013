"""One path for one job: `rewardflow train` and the `reward-model` flow give the same model and accuracy.

Both doors read and validate the same file, split it by pair hash, tokenize, train and evaluate with the
same functions; with the same inputs and seed the saved weights and the held-out scores must agree.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from flows.params import RewardFlowParams
from flows.reward_model import reward_model
from rewardflow import train_cmd
from rmcore.checks.compare import PromotionRule
from tests.flows.conftest import synthetic_pairs
from tests.tiny_models import save_tiny_bert

TRAINING = {"max_steps": 4, "per_device_train_batch_size": 8, "max_length": 48, "learning_rate": 1e-3}
TRAINING |= {"use_cpu": True, "bf16": False, "disable_tqdm": True, "report_to": "none"}


def as_flags(values: dict) -> list[str]:
    return [part for key, value in values.items() for part in (f"--{key}", str(value).lower())]


@pytest.mark.timeout(900)
def test_same_inputs_and_seed_give_the_same_model_and_accuracy_by_either_door(prefect_harness, mlflow_store, tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in synthetic_pairs(96, seed=3)))
    base = save_tiny_bert(tmp_path / "base", hidden=32)
    out = tmp_path / "cli"
    argv = ["--dataset_name", str(data), "--output_dir", str(out), "--model_name_or_path", str(base)]
    assert train_cmd.main([*argv, "--eval_fraction", "0.25", "--seed", "3", *as_flags(TRAINING)]) == 0

    params = RewardFlowParams(
        home=str(tmp_path / "home"),
        dataset_name=str(data),
        model_name_or_path=str(base),
        eval_fraction=0.25,
        seed=3,
        training=TRAINING,
        tracking_uri=mlflow_store,
        registered_model_name="one-path-model",
        experiment_name="one-path",
        promotion=PromotionRule(n_resamples=200),
    )
    summary = reward_model(params)

    cli_scores = pd.read_parquet(out / "eval" / "eval_scores.parquet")
    flow_scores = pd.read_parquet(f"{summary['run_dir']}/eval/eval_scores.parquet")
    assert len(cli_scores) == summary["n_eval"] > 0
    assert cli_scores["correct"].mean() == pytest.approx(summary["accuracy"])
    assert cli_scores["reward_chosen"].to_numpy() == pytest.approx(flow_scores["reward_chosen"].to_numpy(), abs=1e-6)
    cli_weights = load_file(out / "model.safetensors")
    flow_weights = load_file(f"{summary['run_dir']}/train/model.safetensors")
    assert cli_weights.keys() == flow_weights.keys()
    for name, tensor in cli_weights.items():
        assert torch.allclose(tensor, flow_weights[name], atol=1e-6), name
    initial = load_file(base / "model.safetensors")
    trained = [n for n in initial if n in cli_weights and not torch.equal(initial[n], cli_weights[n])]
    assert trained, "training changed the weights: equal untrained models would prove nothing"
