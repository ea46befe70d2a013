"""`rewardflow run` end to end on a real Prefect test server and the session's MLflow SQLite store."""

from __future__ import annotations

import json

from mlflow import MlflowClient

from rewardflow import run_cmd
from tests.flows.conftest import synthetic_pairs
from tests.tiny_models import save_tiny_bert


def test_run_trains_registers_and_passes_every_given_flag_on(prefect_harness, mlflow_store, tmp_path, capsys):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in synthetic_pairs(80, seed=1)))
    base = save_tiny_bert(tmp_path / "base", hidden=32)
    argv = ["--home", str(tmp_path / "home"), "--dataset_name", str(data), "--model_name_or_path", str(base)]
    argv += ["--tracking_uri", mlflow_store, "--registered_model_name", "run-cmd-model", "--experiment_name", "run-cmd"]
    argv += ["--eval_fraction", "0.25", "--max_eval_pairs", "16", "--seed", "7", "--promotion_n_resamples", "200"]
    argv += ["--promotion_first_champion_floor", "none"]  # three steps on a tiny model: at chance
    argv += ["--max_steps", "3", "--per_device_train_batch_size", "8", "--max_length", "48", "--disable_tqdm", "true"]
    argv += ["--bf16", "false", "--use_cpu", "--learning_rate", "3e-4"]
    assert run_cmd.main(argv) == 0
    out = capsys.readouterr().out
    assert "reward-model run" in out and "promoted" in out

    client = MlflowClient(mlflow_store)
    experiment = client.get_experiment_by_name("run-cmd")
    (run,) = [r for r in client.search_runs([experiment.experiment_id]) if "registered_version" in r.data.tags]
    params = run.data.params
    assert (params["bf16"], params["use_cpu"], params["max_steps"], params["seed"]) == ("False", "True", "3", "7")
    assert params["learning_rate"] == "0.0003" and params["flow.max_eval_pairs"] == "16"
    assert params["flow.eval_fraction"] == "0.25" and params["flow.promotion"].count("200") == 1
    assert run.data.tags["gate.decision"] == "promoted" and run.info.status == "FINISHED"
    assert str(client.get_registered_model("run-cmd-model").aliases["champion"]) == run.data.tags["registered_version"]
