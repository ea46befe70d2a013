"""The model as an MLflow Logged Model: linked to its run, registered from `models:/<id>`, loadable."""

from __future__ import annotations

import mlflow

from rmcore import load_reward_model
from tasks.registry.register import register_candidate
from tasks.tracking.logged_model import log_logged_model, logged_model_id
from tasks.tracking.runs import client, ensure_experiment, start_run
from tests.tasks import mlflow_fixtures as fx

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
