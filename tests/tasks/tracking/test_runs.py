"""Tracking against the real shared MLflow SQLite store: params, metrics, data and reports."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlflow
import pytest

from rmcore import RewardConfig
from tasks.tracking import runs as tracking
from tasks.tracking.model_card import model_card
from tasks.tracking.store import client
from tests.tasks import mlflow_fixtures as fx

mlflow_home, tracking_uri, model_dirs = fx.mlflow_home, fx.tracking_uri, fx.model_dirs


def new_run(home: Path, experiment: str) -> str:
    return tracking.start_run(tracking.ensure_experiment(experiment, home), run_name="t", tags={"kind": "test"})


def test_ensure_experiment_is_idempotent_and_stores_artifacts_under_home(mlflow_home, tracking_uri):
    first = tracking.ensure_experiment("exp-ensure", mlflow_home)
    assert tracking.ensure_experiment("exp-ensure", mlflow_home) == first
    location = client().get_experiment(first).artifact_location
    assert location == (mlflow_home.resolve() / "mlflow" / "artifacts" / "exp-ensure").as_uri()


def test_config_params_hold_every_field_as_short_strings_without_secrets(tmp_path):
    config = RewardConfig(output_dir=str(tmp_path), report_to="none", hub_token="hf_secret", run_name="x" * 900)
    params = tracking.config_params(config)
    assert "hub_token" not in params and "hf_secret" not in json.dumps(params)
    assert params["learning_rate"] == "0.0001"
    assert params["eval_strategy"] == "no"  # an enum logged by its value
    assert len(params["run_name"]) == tracking.MAX_PARAM_LENGTH and params["run_name"].endswith("…")
    assert len(params) > tracking.PARAM_BATCH  # so logging must batch
    assert all(not tracking.is_secret(name) for name in params)


@pytest.mark.parametrize("name", ["HF_TOKEN", "MLFLOW_TRACKING_PASSWORD", "PREFECT_API_AUTH_STRING", "db_secret"])
def test_secret_names_are_recognised(name):
    assert tracking.is_secret(name)


def test_url_passwords_are_masked_wherever_a_value_holds_one():
    params = {"tracking_uri": "https://me:s3cret@mlflow.example/path", "nested": {"urls": ["http://a:b@host:5000"]}}
    assert tracking.redact(params) == {
        "tracking_uri": "https://me:***@mlflow.example/path",
        "nested": {"urls": ["http://a:***@host:5000"]},
    }
    assert tracking.redact("sqlite:///home/mlflow.db") == "sqlite:///home/mlflow.db"  # no user part: unchanged


def test_a_store_url_with_a_password_is_logged_without_it(mlflow_home, tracking_uri):
    run_id = new_run(mlflow_home, "exp-url-password")
    tracking.log_params(run_id, {"flow.tracking_uri": "https://me:s3cret@mlflow.example"})
    tracking.end_run(run_id)
    assert client().get_run(run_id).data.params["flow.tracking_uri"] == "https://me:***@mlflow.example"


def test_log_config_metrics_and_tags_land_in_the_run(mlflow_home, tracking_uri, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_should_not_appear")
    run_id = new_run(mlflow_home, "exp-params")
    config = RewardConfig(output_dir=str(tmp_path), report_to="none", learning_rate=0.0)
    logged = tracking.log_config(run_id, config)
    tracking.log_metrics(run_id, {"accuracy": 0.75, "n_pairs": 40, "note": "text", "flag": True}, prefix="eval_")
    tracking.set_tags(run_id, {"data_digest": "abc", "HF_TOKEN": os.environ["HF_TOKEN"], "none": None})
    tracking.end_run(run_id)

    run = client().get_run(run_id)
    assert len(run.data.params) == logged == len(tracking.config_params(config))
    assert run.data.params["learning_rate"] == "0.0"
    assert run.data.metrics == {"eval_accuracy": 0.75, "eval_n_pairs": 40.0}
    assert run.data.tags["data_digest"] == "abc" and run.data.tags["kind"] == "test"
    assert "hf_should_not_appear" not in json.dumps({**run.data.tags, **run.data.params})
    assert run.info.status == "FINISHED"


def test_log_dataset_records_the_pairs_with_their_digest(mlflow_home, tracking_uri):
    pairs = fx.synthetic_pairs(10)
    run_id = new_run(mlflow_home, "exp-data")
    digest = tracking.log_dataset(run_id, pairs, name="hh-eval", source="/data/eval.parquet", context="eval")

    inputs = client().get_run(run_id).inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [("hh-eval", digest)]
    assert {t.key: t.value for t in inputs[0].tags}["mlflow.data.context"] == "eval"
    assert json.loads(inputs[0].dataset.profile)["num_rows"] == 10


def test_data_digest_is_stable_and_changes_with_the_content():
    pairs = fx.synthetic_pairs(10)
    assert tracking.data_digest(pairs) == tracking.data_digest(pairs.copy())
    changed = pairs.copy()
    changed.loc[3, "chosen"] += "!"
    assert tracking.data_digest(changed) != tracking.data_digest(pairs)


def test_reports_and_model_card_are_logged_as_artifacts(mlflow_home, tracking_uri, tmp_path):
    run_id = new_run(mlflow_home, "exp-reports")
    plot = tmp_path / "eval_rewards.png"
    plot.write_bytes(b"\x89PNG fake")
    assert tracking.log_files(run_id, [plot, tmp_path / "missing.png"], "plots") == ["eval_rewards.png"]
    tracking.log_json(run_id, {"bad_rows": 3, "by_rule": {"empty": 3}}, "quarantine_summary.json")
    card = model_card("reward-model", "tiny-bert", "abc", {"accuracy": 0.8}, {"hub_token": "x", "lr": 1})
    tracking.log_text(run_id, card, "model_card.md")

    names = {a.path for a in client().list_artifacts(run_id)}
    assert names == {"plots", "quarantine_summary.json", "model_card.md"}
    assert "| accuracy | 0.8000 |" in card and "hub_token" not in card
    summary = mlflow.artifacts.load_dict(f"runs:/{run_id}/quarantine_summary.json")
    assert summary["by_rule"] == {"empty": 3}


def test_run_url_links_to_the_ui_only_for_a_server(monkeypatch):
    monkeypatch.delenv(tracking.MLFLOW_UI_ENV, raising=False)
    assert tracking.run_url("http://127.0.0.1:5000/", "1", "abc") == "http://127.0.0.1:5000/#/experiments/1/runs/abc"
    assert tracking.run_url("sqlite:///x.db", "1", "abc").startswith("runs:/abc")


def test_run_url_links_to_the_server_reading_the_store_file(monkeypatch):
    monkeypatch.setenv(tracking.MLFLOW_UI_ENV, "http://127.0.0.1:5000")
    assert tracking.run_url("sqlite:///x.db", "1", "abc") == "http://127.0.0.1:5000/#/experiments/1/runs/abc"


def test_start_tracking_run_task_creates_a_running_run_in_the_home_store(mlflow_home, tracking_uri):
    run_id = tracking.start_tracking_run.fn(str(mlflow_home), "exp-task", tags={"data_digest": "d1"})
    run = client().get_run(run_id)
    assert run.info.status == "RUNNING" and run.data.tags["data_digest"] == "d1"
    tracking.end_tracking_run.fn(run_id, "FAILED")
    assert client().get_run(run_id).info.status == "FAILED"
