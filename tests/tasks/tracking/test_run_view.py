"""What the MLflow UI shows: run names, the model-training experiment tag, the logit table, the decision."""

from __future__ import annotations

import datetime
import json

from rmcore.compare import Decision
from tasks.tracking.run_view import (
    LOGIT_TABLE_ARTIFACT,
    decision_description,
    describe_version,
    log_logit_table,
    name_run,
    run_name,
    version_url,
    with_version,
)
from tasks.tracking.runs import EXPERIMENT_KIND_TAG, MODEL_TRAINING, client, ensure_experiment, start_run
from tests.tasks import mlflow_fixtures as fx

mlflow_home, tracking_uri = fx.mlflow_home, fx.tracking_uri

DECISION = Decision(
    True,
    "the challenger is better: the interval of the gain is above 0",
    {
        "challenger_accuracy": 0.71,
        "champion_accuracy": 0.62,
        "diff": 0.09,
        "diff_low": 0.03,
        "diff_high": 0.15,
        "n_pairs": 150.0,
        "champion_version": 2.0,
    },
)


def test_names_for_people():
    assert run_name("reward-model", datetime.datetime(2026, 12, 1, 2, 0, 41)) == "reward-model 2026-12-01 02:00"
    assert with_version("reward-model 2026-12-01 02:00", "3") == "reward-model 2026-12-01 02:00 v3"
    assert with_version("x", None) == "x"
    assert version_url("http://127.0.0.1:5000/", "rm", "3") == "http://127.0.0.1:5000/#/models/rm/versions/3"
    assert version_url("sqlite:///x.db", "rm", "3") is None


def test_decision_description_gives_both_figures_the_interval_and_why():
    text = decision_description(DECISION, "3", "http://mlflow/#/experiments/1/runs/abc")
    assert text.splitlines()[0] == "Promoted to champion: the challenger is better: the interval of the gain is above 0"
    assert "Challenger v3: accuracy 0.7100. Champion v2: accuracy 0.6200." in text
    assert "interval [0.0300, 0.1500] on 150 held-out pairs" in text
    assert text.endswith("Training run: http://mlflow/#/experiments/1/runs/abc")
    first = decision_description(Decision(True, "no champion yet", {"challenger_accuracy": 0.6}), "1")
    assert "Champion none: accuracy n/a" in first


def test_experiments_are_model_training_and_the_table_and_description_land(tmp_path, mlflow_home, tracking_uri):
    experiment_id = ensure_experiment("exp-run-view", mlflow_home, tracking_uri)
    mlflow_client = client(tracking_uri)
    assert mlflow_client.get_experiment(experiment_id).tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING
    mlflow_client.delete_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG)  # an experiment made before the tag
    assert ensure_experiment("exp-run-view", mlflow_home, tracking_uri) == experiment_id
    assert mlflow_client.get_experiment(experiment_id).tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING

    run_id = start_run(experiment_id, "draft")
    name_run(run_id, "reward-model 2026-12-01 02:00 v1")
    assert mlflow_client.get_run(run_id).info.run_name == "reward-model 2026-12-01 02:00 v1"
    rows = [{"chosen": "a", "rejected": "b", "reward_chosen": 1.5, "reward_rejected": 0.5, "correct": True}]
    table = tmp_path / "eval_logit_table.json"
    table.write_text(json.dumps(rows))
    assert log_logit_table(run_id, [str(tmp_path / "plot.png"), str(table)]) == LOGIT_TABLE_ARTIFACT
    loaded = mlflow_client.load_table(experiment_id, LOGIT_TABLE_ARTIFACT, run_ids=[run_id])
    assert loaded[["chosen", "reward_chosen"]].values.tolist() == [["a", 1.5]]
    assert log_logit_table(run_id, []) is None

    mlflow_client.create_registered_model("rm-run-view")
    version = mlflow_client.create_model_version("rm-run-view", source=str(tmp_path), run_id=run_id).version
    describe_version("rm-run-view", version, decision_description(DECISION, version))
    assert mlflow_client.get_model_version("rm-run-view", version).description.startswith("Promoted to champion")
