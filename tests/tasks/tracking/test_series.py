"""Training metrics land in MLflow as series with their steps (curves), not single points."""

from __future__ import annotations

import pickle

from tasks.tracking.runs import ensure_experiment, start_run
from tasks.tracking.series import MlflowSeriesCallback, series_entries
from tasks.tracking.store import client
from tests.tasks import mlflow_fixtures as fx
from tests.tasks.training.test_progress import tiny_trainer

mlflow_home, tracking_uri = fx.mlflow_home, fx.tracking_uri


def test_series_entries_keep_numbers_at_their_step_and_skip_the_summary():
    entries = series_entries({"loss": 0.7, "learning_rate": 1e-4, "epoch": 1, "note": "x", "flag": True}, 5, 1000)
    assert {(m.key, m.value, m.step, m.timestamp) for m in entries} == {
        ("loss", 0.7, 5, 1000),
        ("learning_rate", 1e-4, 5, 1000),
        ("epoch", 1.0, 5, 1000),
    }
    assert series_entries({"train_runtime": 3.0, "train_loss": 0.6}, 4, 0) == []


def test_every_logged_step_becomes_a_point_of_the_curve(tmp_path, mlflow_home, tracking_uri):
    run_id = start_run(ensure_experiment("exp-series", mlflow_home), "series")
    callback = pickle.loads(pickle.dumps(MlflowSeriesCallback(run_id, tracking_uri)))  # travels to workers
    trainer = tiny_trainer(tmp_path, callback, max_steps=4)
    trainer.train()
    mlflow_client = client()
    for key in ("loss", "learning_rate", "padding_efficiency", "train_pairs_per_second"):
        history = mlflow_client.get_metric_history(run_id, key)
        assert [m.step for m in history] == [1, 2, 3, 4], key
    losses = [m.value for m in mlflow_client.get_metric_history(run_id, "loss")]
    assert all(value > 0 for value in losses)
    assert "train_runtime" not in mlflow_client.get_run(run_id).data.metrics


def test_a_store_failure_warns_once_and_training_goes_on(tmp_path, caplog):
    callback = MlflowSeriesCallback("no-such-run", f"sqlite:///{tmp_path}/missing/dir/x.db")
    trainer = tiny_trainer(tmp_path, callback, max_steps=2)
    trainer.train()
    assert trainer.state.global_step == 2
    assert sum("training curves stop here" in r.getMessage() for r in caplog.records) == 1
