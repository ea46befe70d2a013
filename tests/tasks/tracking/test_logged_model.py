"""The model folder in MLflow: a Logged Model linked to its run, registered from `models:/<id>`, loadable;
or run artifacts; an adapter is merged first."""

from __future__ import annotations

from pathlib import Path

import mlflow

from rmcore import load_reward_model
from rmcore.models import lora_config
from tasks.registry.register import register_candidate
from tasks.tracking.logged_model import log_logged_model, log_model_dir, logged_model_id
from tasks.tracking.runs import client, ensure_experiment, start_run
from tests.tasks import mlflow_fixtures as fx
from tests.tiny_models import save_tiny_remote_bert

mlflow_home, tracking_uri, model_dirs = fx.mlflow_home, fx.tracking_uri, fx.model_dirs


def test_logged_model_ids():
    assert logged_model_id("models:/m-0123abc") == "m-0123abc"
    assert logged_model_id("models:/reward-model/3") is None
    assert logged_model_id("model") is None


def test_the_model_is_a_logged_model_of_the_run_and_the_version_links_it(
    tmp_path, mlflow_home, tracking_uri, model_dirs
):
    run_id = start_run(ensure_experiment("exp-logged-model", mlflow_home, tracking_uri), "logged")
    uri = log_logged_model(run_id, str(model_dirs["good"]), "rm-logged")
    model_id = logged_model_id(uri)
    mlflow_client = client(tracking_uri)
    model = mlflow_client.get_logged_model(model_id)
    assert (model.name, model.source_run_id, str(model.status)) == ("rm-logged", run_id, "READY")
    assert [o.model_id for o in mlflow_client.get_run(run_id).outputs.model_outputs] == [model_id]

    version = register_candidate(run_id, uri, "rm-logged")
    assert mlflow_client.get_model_version("rm-logged", version).source == uri
    folder = mlflow.artifacts.download_artifacts(f"models:/rm-logged/{version}", dst_path=str(tmp_path / "dl"))
    loaded, tokenizer = load_reward_model(folder)
    assert loaded.config.num_labels == 1 and tokenizer is not None


def test_log_model_dir_logs_safetensors_and_tokenizer(mlflow_home, tracking_uri, model_dirs):
    run_id = start_run(ensure_experiment("exp-model", mlflow_home), "t")
    log_model_dir(run_id, model_dirs["good"])
    names = {Path(a.path).name for a in client().list_artifacts(run_id, "model")}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= names


def test_a_lora_adapter_is_logged_merged_so_it_loads_without_its_base(mlflow_home, tracking_uri, model_dirs, tmp_path):
    from peft import get_peft_model

    model, tokenizer = load_reward_model(model_dirs["good"])
    adapter = get_peft_model(model, lora_config(r=2, alpha=4, target_modules=["query", "value"]))
    adapter.save_pretrained(tmp_path / "adapter")
    tokenizer.save_pretrained(tmp_path / "adapter")
    run_id = start_run(ensure_experiment("exp-lora", mlflow_home), "t")

    log_model_dir(run_id, tmp_path / "adapter")

    local = mlflow.artifacts.download_artifacts(f"runs:/{run_id}/model", dst_path=str(tmp_path / "dl"))
    assert not (Path(local) / "adapter_config.json").exists()
    merged, _ = load_reward_model(local)
    assert type(merged).__name__ == "BertForSequenceClassification"


def test_an_adapter_on_a_base_with_its_own_code_is_merged_with_trust_remote_code(mlflow_home, tracking_uri, tmp_path):
    from peft import get_peft_model

    base = save_tiny_remote_bert(tmp_path / "remote-base")
    model, tokenizer = load_reward_model(base, trust_remote_code=True)
    adapter = get_peft_model(model, lora_config(r=2, alpha=4, target_modules=["query", "value"]))
    adapter.save_pretrained(tmp_path / "adapter")
    tokenizer.save_pretrained(tmp_path / "adapter")
    run_id = start_run(ensure_experiment("exp-lora-remote", mlflow_home), "t")

    uri = log_logged_model(run_id, str(tmp_path / "adapter"), "rm-remote", trust_remote_code=True)

    local = mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "dl"))
    assert not (Path(local) / "adapter_config.json").exists()
    merged, _ = load_reward_model(local, trust_remote_code=True)  # the model code travels with the weights
    assert type(merged).__name__ == "TinyRemoteForSequenceClassification"
