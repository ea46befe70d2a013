"""A night's batch with replies three times longer is held: stored, not trained on, and the run says so."""

from __future__ import annotations

import json

from mlflow import MlflowClient

from flows.params import RewardFlowParams
from flows.reward_model import reward_model
from rmcore.checks.compare import PromotionRule
from tasks.data.holds import read_holds
from tasks.data.ingest import ingest_files
from tests.flows.conftest import synthetic_pairs

NAME = "flow-test-held-batches"


def tripled(pairs: list[dict]) -> list[dict]:
    """The same prompts with each reply written three times over."""
    out = []
    for p in pairs:
        prompt, chosen = p["chosen"].rsplit("\n\nAssistant:", 1)
        rejected = p["rejected"].rsplit("\n\nAssistant:", 1)[1]
        turn = f"{prompt}\n\nAssistant:"
        out.append({"chosen": turn + chosen * 3, "rejected": turn + rejected * 3})
    return out


def test_a_held_batch_is_stored_but_the_flow_skips_it(prefect_harness, mlflow_store, tmp_path, synthetic_file):
    home = tmp_path / "home"
    assert ingest_files([str(synthetic_file)], home).status == "ok"
    batch = tmp_path / "night.jsonl"
    batch.write_text("\n".join(json.dumps(p) for p in tripled(synthetic_pairs(300, seed=1)[240:])) + "\n")
    params = RewardFlowParams(
        home=str(home),
        dataset_name=str(batch),
        registered_model_name=NAME,
        experiment_name=NAME,
        tracking_uri=mlflow_store,
        eval_fraction=0.2,
        training={"max_steps": 1, "per_device_train_batch_size": 16, "max_length": 64, "disable_tqdm": True},
        promotion=PromotionRule(n_resamples=200),
    )
    summary = reward_model(params)

    (held,) = read_holds(home / "store")
    assert summary["held_batches"] == [held]
    assert summary["n_train"] + summary["n_eval"] == 240  # the 60 held pairs are stored but not used
    run = MlflowClient(mlflow_store).get_run(summary["mlflow_run_id"])
    assert run.data.tags["data.held_batches"] == held
    assert run.data.metrics["ingest_health.status"] == 2.0
    assert run.data.metrics["ingest_health.chosen_length_psi"] > 0.25
    assert "slice.length_q1.accuracy" in {k.removeprefix("eval_") for k in run.data.metrics}
