"""What `rewardflow ingest` shows beyond its counts: the slow phase between two lines, the batch's MLflow
run with the health figures, and the flow run its event started or why none did."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd

from rewardflow.ingest_view import batch_run_line, now_utc, phased, triggered_run_line
from tasks.data.ingest import ingest_files
from tasks.tracking.store import client, default_tracking_uri, resolve_tracking_uri, use_tracking
from tests.rewardflow.test_ingest_cmd import write_batch


def test_the_champion_scoring_is_announced_and_timed():
    shown: list[str] = []
    scorer = phased(lambda batch: (np.array([1.0, 0.0, 1.0, 1.0]), 0.7), shown.append)
    correct, heldout = scorer(pd.DataFrame({"chosen": ["a"] * 4, "rejected": ["b"] * 4}))
    assert heldout == 0.7 and correct.tolist() == [1.0, 0.0, 1.0, 1.0]
    assert shown[0] == "Health check: the champion, if any, scores the 4 new pair(s) (about a minute on a CPU)..."
    assert shown[1].startswith("Health check: champion accuracy 0.750 on them (") and shown[1].endswith("s)")
    shown.clear()
    phased(lambda batch: None, shown.append)(pd.DataFrame({"chosen": ["a"]}))
    assert shown[1].startswith("Health check: no champion to score them")
    assert phased(None, shown.append) is None


def test_each_stored_batch_is_an_mlflow_run_with_the_health_figures(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    home = tmp_path / "home"
    ingest_files([write_batch(tmp_path / "a.jsonl", 0, 120)], home)
    report = ingest_files([write_batch(tmp_path / "b.jsonl", 1000, 60)], home)
    use_tracking(resolve_tracking_uri(None, home))  # as `rewardflow ingest` opens the store
    line = batch_run_line(home, report)
    assert line.startswith(f"Health figures: MLflow run 'ingest {report.batch_id}': runs:/")
    uri = default_tracking_uri(home)
    assert mlflow.get_tracking_uri() == uri
    mlflow_client = client()
    experiment = mlflow_client.get_experiment_by_name("reward-model")
    (run,) = mlflow_client.search_runs([experiment.experiment_id])
    assert run.info.run_name == f"ingest {report.batch_id}" and run.info.status == "FINISHED"
    assert run.data.tags["rewardflow.run_kind"] == "ingest" and run.data.tags["ingest.status"] == report.status
    assert run.data.metrics["ingest_good"] == 60
    assert run.data.metrics["ingest_health.chosen_length_psi"] == report.health_figures["health.chosen_length_psi"]
    table = mlflow_client.load_table(experiment.experiment_id, "ingest/health.json", run_ids=[run.info.run_id])
    assert "chosen_length_psi" in set(table["check"])
    nothing = ingest_files([write_batch(tmp_path / "b.jsonl", 1000, 60)], home)  # the same pairs: none new
    assert batch_run_line(home, nothing) is None


def test_with_no_automation_listening_ingest_says_no_training_starts(prefect_harness):
    from prefect.settings import PREFECT_API_URL

    line = triggered_run_line(PREFECT_API_URL.value(), "rewardflow.test.nobody-listens", now_utc(), wait=1)
    assert line.startswith("No automation on http://127.0.0.1:")
    assert "listens for rewardflow.test.nobody-listens" in line and "no training starts now" in line
