"""What the MLflow UI shows: run names, the model-training experiment tag, the logit table, the decision."""

from __future__ import annotations

import datetime
import json

from rmcore.checks.compare import Decision
from rmcore.checks.gate import slice_summary
from tasks.registry.register import register_candidate
from tasks.tracking.logged_model import log_logged_model
from tasks.tracking.run_view import (
    LOGIT_TABLE_ARTIFACT,
    NOTE_TAG,
    decision_description,
    describe_version,
    log_logit_table,
    name_run,
    outcome_line,
    run_name,
    show_decision,
    version_reference,
    version_url,
    with_version,
)
from tasks.tracking.runs import (
    EXPERIMENT_KIND_TAG,
    MLFLOW_UI_ENV,
    MODEL_TRAINING,
    ensure_experiment,
    log_metrics,
    log_params,
    start_run,
)
from tasks.tracking.store import client
from tests.tasks import mlflow_fixtures as fx

mlflow_home, tracking_uri, model_dirs = fx.mlflow_home, fx.tracking_uri, fx.model_dirs

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


def test_names_for_people(monkeypatch):
    assert run_name("reward-model", datetime.datetime(2026, 12, 1, 2, 0, 41)) == "reward-model 2026-12-01 02:00"
    # the version before the date: the runs table cuts long names from the right
    assert with_version("reward-model 2026-12-01 02:00", "3") == "reward-model v3 2026-12-01 02:00"
    assert with_version("my exp 2026-12-01 02:00", "12") == "my exp v12 2026-12-01 02:00"
    assert with_version("x", "2") == "v2 x"
    assert with_version("x", None) == "x"
    assert version_url("http://127.0.0.1:5000/", "rm", "3") == "http://127.0.0.1:5000/#/models/rm/versions/3"
    monkeypatch.delenv(MLFLOW_UI_ENV, raising=False)
    assert version_url("sqlite:///x.db", "rm", "3") is None
    assert version_reference("sqlite:///x.db", "rm", "3") == "models:/rm/3 (store sqlite:///x.db)"
    # the runner of `rewardflow up` writes the store file the MLflow server beside it shows
    monkeypatch.setenv(MLFLOW_UI_ENV, "http://127.0.0.1:5001")
    assert version_url("sqlite:///x.db", "rm", "3") == "http://127.0.0.1:5001/#/models/rm/versions/3"


SLICES = [
    {"check": "slice", "name": "length=q1", "checked": True, "regressed": False},
    {"check": "slice", "name": "length=q4", "checked": True, "regressed": True},
    {"check": "slice", "name": "source=b", "checked": False, "regressed": False},
    {"check": "length_bias", "worse": False},
]


def test_decision_description_gives_both_figures_the_interval_the_slices_and_links():
    text = decision_description(
        DECISION, "3", "http://mlflow/#/experiments/1/runs/abc", "http://prefect/runs/flow-run/f"
    )
    assert text.splitlines()[0] == (
        "**Promoted to champion**: the challenger is better: the interval of the gain is above 0"
    )
    assert "Challenger v3: accuracy 0.7100. Champion v2: accuracy 0.6200." in text
    assert "interval [0.0300, 0.1500] on 150 held-out pairs" in text
    assert "Slices: no slice checks" in text
    assert "Training run: [http://mlflow/#/experiments/1/runs/abc](http://mlflow/#/experiments/1/runs/abc)" in text
    assert text.endswith("Prefect flow run: [http://prefect/runs/flow-run/f](http://prefect/runs/flow-run/f)")
    first = decision_description(Decision(True, "no champion yet", {"challenger_accuracy": 0.6}), "1")
    assert "Champion none: accuracy n/a" in first
    local = decision_description(DECISION, "3", "runs:/abc (store sqlite:///x.db)")
    assert "Training run: runs:/abc (store sqlite:///x.db) (`runs:/abc (store sqlite:///x.db)`)" not in local
    assert "Training run: runs:/abc" in local


def test_slices_summarised_in_one_phrase():
    blocked = Decision(False, "a slice regresses", {}, checks=SLICES, blocked_by=["slice:length=q4"])
    assert slice_summary(blocked) == "2 of 3 slices checked, 1 regress (length=q4)"
    assert slice_summary(Decision(True, "ok", {}, checks=SLICES[:1])) == "1 of 1 slices checked, none regresses"
    assert slice_summary(DECISION) == "no slice checks"


def test_the_outcome_line_holds_decision_accuracies_interval_and_version():
    line = outcome_line(DECISION, "rm", "3", "http://mlflow/#/models/rm/versions/3")
    assert line == (
        "rm v3 promoted to champion: accuracy 0.7100 vs champion v2 0.6200, difference +0.0900 "
        "[+0.0300, +0.1500] on 150 pairs; http://mlflow/#/models/rm/versions/3"
    )
    blocked = Decision(False, "a slice regresses", {"challenger_accuracy": 0.5}, blocked_by=["slice:length=q4"])
    assert outcome_line(blocked, "rm", "4", "models:/rm/4").startswith(
        "rm v4 not promoted (blocked by slice:length=q4): accuracy 0.5000 vs champion none n/a, difference n/a on 0"
    )


def test_experiments_are_model_training_and_the_table_and_description_land(tmp_path, mlflow_home, tracking_uri):
    experiment_id = ensure_experiment("exp-run-view", mlflow_home)
    mlflow_client = client()
    assert mlflow_client.get_experiment(experiment_id).tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING
    mlflow_client.delete_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG)  # an experiment made before the tag
    assert ensure_experiment("exp-run-view", mlflow_home) == experiment_id
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
    assert mlflow_client.get_model_version("rm-run-view", version).description.startswith("**Promoted to champion**")


def test_show_decision_links_run_version_and_logged_model_and_withdraws_a_rejected_challenger(
    mlflow_home, tracking_uri, model_dirs, monkeypatch
):
    """On a real store: the run's description links the version and the flow run, the Logged Model
    shows its metrics, params and version, and a rejected version no longer holds `challenger`."""
    monkeypatch.setenv(MLFLOW_UI_ENV, "http://127.0.0.1:5999")
    experiment_id = ensure_experiment("exp-show-decision", mlflow_home)
    name, mlflow_client = "rm-show-decision", client()
    versions = []
    for label in ("first", "second"):
        run_id = start_run(experiment_id, "draft", {"prefect.flow_run_url": f"http://prefect/runs/flow-run/{label}"})
        log_params(run_id, {"learning_rate": 1e-4, "max_steps": 4, "output_dir": "/tmp/x"})
        log_metrics(run_id, {"accuracy": 0.75, "margin.mean": 0.3}, prefix="eval_")
        uri = log_logged_model(run_id, str(model_dirs["good"]), name)
        versions.append((run_id, register_candidate(run_id, uri, name)))
    (first_run, first), (second_run, second) = versions
    title = with_version("rm 2026-12-01 02:00", second)
    rejected = Decision(False, "not better", {"challenger_accuracy": 0.75, "champion_accuracy": 0.75, "n_pairs": 8.0})
    mlflow_client.set_registered_model_alias(name, "champion", first)
    line = show_decision.fn(second_run, title, name, second, rejected, "")

    assert line.startswith(f"{name} v{second} not promoted: accuracy 0.7500")
    assert line.endswith(f"http://127.0.0.1:5999/#/models/{name}/versions/{second}")
    run = mlflow_client.get_run(second_run)
    assert run.info.run_name == f"rm v{second} 2026-12-01 02:00"
    note = run.data.tags[NOTE_TAG]
    assert f"[models:/{name}/{second}]" not in note and f"/#/models/{name}/versions/{second})" in note
    assert "[http://prefect/runs/flow-run/second](http://prefect/runs/flow-run/second)" in note
    assert "challenger" not in mlflow_client.get_registered_model(name).aliases  # rejected: alias withdrawn
    model_id = mlflow_client.get_model_version(name, second).source.removeprefix("models:/")
    model = mlflow_client.get_logged_model(model_id)
    assert {m.key: m.value for m in model.metrics} == {"eval_accuracy": 0.75, "eval_margin.mean": 0.3}
    assert model.params == {"learning_rate": "0.0001", "max_steps": "4"}
    assert json.loads(model.tags["mlflow.modelVersions"]) == [{"name": name, "version": second}]
    assert model.tags[NOTE_TAG].startswith("**Not promoted**: not better")
    assert show_decision.fn(second_run, title, name, second, rejected, "") == line  # idempotent
    assert json.loads(mlflow_client.get_logged_model(model_id).tags["mlflow.modelVersions"]) == [
        {"name": name, "version": second}
    ]
