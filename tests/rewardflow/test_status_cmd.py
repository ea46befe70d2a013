"""`rewardflow status` with the servers down: the registry, the last run and the held batches, read from
the home's own MLflow store file and data store."""

from __future__ import annotations

from pathlib import Path

from rewardflow import status_cmd
from tasks.data.holds import hold_batch
from tasks.tracking.runs import ensure_experiment, log_metrics, set_tags, start_run
from tasks.tracking.store import client, default_tracking_uri, use_tracking


def status(home: Path, capsys) -> tuple[int, list[str]]:
    code = status_cmd.main(["--home", str(home)])
    return code, capsys.readouterr().out.splitlines()


def test_an_empty_home_says_none_yet_everywhere(tmp_path, capsys):
    code, lines = status(tmp_path / "fresh", capsys)
    assert code == 0
    assert "  champion    none yet" in lines and "  challenger  none awaiting the gate" in lines
    assert any(line.startswith("Last run: none yet") for line in lines)
    assert "Held batches: none" in lines
    assert lines[-1].startswith("Servers: none running (start them with `rewardflow up --home ")
    assert not (tmp_path / "fresh" / "mlflow").exists(), "status creates no store"


def test_champion_challenger_last_run_and_held_batches_from_the_store_file(tmp_path, capsys):
    home = tmp_path / "home"
    use_tracking(default_tracking_uri(home))
    mlflow_client = client()
    experiment_id = ensure_experiment("reward-model", home)
    mlflow_client.create_registered_model("reward-model")
    versions = []
    for n, decision in enumerate(("promoted", None), start=1):
        run_id = start_run(experiment_id, f"reward-model v{n} 2026-12-0{n} 02:00")
        log_metrics(run_id, {"accuracy": 0.6 + n / 100}, prefix="eval_")
        if decision:
            set_tags(run_id, {"gate.decision": decision, "gate.reason": "no champion yet"})
        version = mlflow_client.create_model_version("reward-model", source=str(tmp_path), run_id=run_id).version
        versions.append(version)
    mlflow_client.set_model_version_tag("reward-model", versions[0], "gate.challenger_accuracy", "0.61")
    mlflow_client.set_model_version_tag("reward-model", versions[0], "gate.n_pairs", "43")
    mlflow_client.set_model_version_tag("reward-model", versions[0], "gate.decision", "promoted")
    mlflow_client.set_registered_model_alias("reward-model", "champion", versions[0])
    mlflow_client.set_registered_model_alias("reward-model", "challenger", versions[1])
    start_run(experiment_id, "ingest abc", {"rewardflow.run_kind": "ingest"})  # not a training run
    hold_batch(home / "store", "0123456789ab", ["pairs-x.parquet"], ["chosen_length_psi 0.40 >= 0.25"], ["new.jsonl"])

    code, lines = status(home, capsys)
    assert code == 0
    assert "  champion    v1  accuracy 0.6100 on 43 held-out pairs (promoted)  models:/reward-model@champion" in lines
    assert "  challenger  v2  not gated yet (awaiting the gate)  models:/reward-model@challenger" in lines
    (last,) = [line for line in lines if line.startswith("Last run:")]
    assert last.startswith("Last run: 'reward-model v2 2026-12-02 02:00' RUNNING, eval accuracy 0.6200; no gate")
    assert (
        "  0123456789ab: chosen_length_psi 0.40 >= 0.25  (release: rewardflow release 0123456789ab --home "
        in "\n".join(lines)
    )
