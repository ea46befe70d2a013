"""`rewardflow run` end to end on a real Prefect test server and the session's MLflow SQLite store."""

from __future__ import annotations

import contextlib
import json
import os

import pytest
from mlflow import MlflowClient

from deployments.config import ServerConfig
from deployments.servers import new_record, write_record
from rewardflow import run_cmd
from tasks.tracking.store import resolve_tracking_uri
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


@pytest.mark.parametrize("environment", [None, "http://team-server:5000"])
def test_the_servers_of_the_home_stand_in_for_its_file_not_for_the_environment(tmp_path, monkeypatch, environment):
    """With `rewardflow up` running for the home, `rewardflow run` without --tracking_uri reaches the home's
    store through its MLflow server, unless $MLFLOW_TRACKING_URI names a store: that comes first everywhere."""
    import flows.reward_model

    home = tmp_path / "home"
    home.mkdir()
    record = new_record(ServerConfig(home=str(home), prefect_port=4313, mlflow_port=5313))
    record["processes"]["toy"] = {"pid": os.getpid(), "url": "", "log": ""}  # alive: the record counts as running
    write_record(home, record)
    if environment is None:
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", environment)
    stores = []

    def flow_store(params):  # the store the flow opens for these params
        stores.append(resolve_tracking_uri(params.tracking_uri, params.home))
        return {}

    monkeypatch.setattr(flows.reward_model, "reward_model", flow_store)
    monkeypatch.setattr(run_cmd, "prefect_api", lambda home, server_url: contextlib.nullcontext())
    assert run_cmd.main(["--home", str(home)]) == 0
    assert stores == [environment or record["mlflow_tracking_uri"]]
