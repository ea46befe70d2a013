"""Moving `champion` by hand, and clearing what a killed run left ungated, on a real MLflow SQLite store."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from rewardflow import models_cmd, promote_cmd, rollback_cmd
from rmcore.checks.compare import PromotionRule
from rmcore.models.loading import model_folder_in
from tasks.registry.champion import REASON_TAG, ROLLED_BACK_TAG, version_rows
from tasks.registry.gate import gate_and_promote
from tasks.registry.lookup import OWNER_TAG, is_abandoned
from tasks.registry.models import resolve_location
from tasks.registry.register import CHALLENGER, CHAMPION, aliases, register_candidate
from tasks.registry.scorers import score_model
from tasks.tracking.store import client
from tests.tasks import mlflow_fixtures as fx

mlflow_home, tracking_uri, model_dirs = fx.mlflow_home, fx.tracking_uri, fx.model_dirs
PAIRS = fx.synthetic_pairs()


def scorer(uri: str):
    return score_model(uri, PAIRS)


def gated(home: Path, name: str, model_dir: Path, lock: Path) -> str:
    """Register a model folder and gate it; returns its version."""
    run_id = fx.log_candidate(home, f"exp-{name}", model_dir)
    version = register_candidate(run_id, "model", name, {}, lock)
    correct = score_model(str(model_dir), PAIRS)["correct"].to_numpy(dtype=float)
    gate_and_promote(name, version, correct, scorer, PromotionRule(n_resamples=200, first_champion_floor=None), lock)
    return version


def dead_owner() -> str:
    """The owner tag of a process that has ended (as a run killed with -9 leaves it)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = psutil.Process(child.pid).create_time()
    child.wait()
    return f"{socket.gethostname()}:{child.pid}:{started:.3f}"


def test_promote_and_rollback_move_champion_with_the_reason_recorded(mlflow_home, tracking_uri, model_dirs, capsys):
    name, lock = "rm-hand", mlflow_home / "registry.lock"
    flags = ["--home", str(mlflow_home), "--registered_model_name", name]
    bad = gated(mlflow_home, name, model_dirs["bad"], lock)  # first model: champion
    good = gated(mlflow_home, name, model_dirs["good"], lock)  # better: champion
    assert aliases(name)[CHAMPION] == good

    assert rollback_cmd.main([*flags, "--reason", "serving alerts on v2"]) == 0
    assert aliases(name)[CHAMPION] == bad
    assert "serving alerts on v2" in client().get_model_version(name, good).tags[ROLLED_BACK_TAG]
    assert client().get_model_version(name, bad).tags[REASON_TAG] == "serving alerts on v2"

    assert promote_cmd.main([good, *flags, "--reason", "alerts were a false alarm"]) == 0
    assert aliases(name)[CHAMPION] == good
    assert f"{name} version {good} is now champion (was {bad})" in capsys.readouterr().out

    assert models_cmd.main([*flags, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["versions"]
    assert [(r["version"], r["aliases"]) for r in listed] == [(good, [CHAMPION]), (bad, [])]  # no longer challenger
    assert listed[0]["decision"] == "promoted, promoted by hand" and listed[0]["accuracy"] > 0.5
    assert listed[1]["reason"] == "serving alerts on v2"  # why it was champion again for a while


def test_a_version_whose_files_are_gone_is_not_promoted_and_rollback_skips_it(
    mlflow_home, tracking_uri, model_dirs, capsys
):
    name, lock = "rm-broken", mlflow_home / "registry.lock"
    flags = ["--home", str(mlflow_home), "--registered_model_name", name]
    first = gated(mlflow_home, name, model_dirs["bad"], lock)
    second = gated(mlflow_home, name, model_dirs["good"], lock)
    artifacts = Path(resolve_location(f"models:/{name}/{first}").artifacts.removeprefix("file://"))
    (model_folder_in(artifacts) / "model.safetensors").unlink()

    assert promote_cmd.main([first, *flags, "--reason", "try"]) == 1
    err = capsys.readouterr().err
    assert f"version {first}" in err and "lack model.safetensors" in err and "the champion is unchanged" in err
    assert aliases(name)[CHAMPION] == second

    assert rollback_cmd.main(flags) == 0  # the only earlier champion cannot load: the alias goes
    assert CHAMPION not in aliases(name)
    assert "the next run's model becomes champion" in capsys.readouterr().out


def test_a_version_left_ungated_by_a_dead_run_is_shown_then_cleared_by_the_next(mlflow_home, tracking_uri, model_dirs):
    name, lock = "rm-abandoned", mlflow_home / "registry.lock"
    champion = gated(mlflow_home, name, model_dirs["good"], lock)
    run_id = fx.log_candidate(mlflow_home, f"exp-{name}", model_dirs["bad"])
    orphan = register_candidate(run_id, "model", name, {}, lock)  # registered, then "killed" before the gate
    assert not is_abandoned(client().get_model_version(name, orphan).tags)  # this process is alive
    client().set_model_version_tag(name, orphan, OWNER_TAG, dead_owner())
    rows = {r.version: r for r in version_rows(name)}
    assert rows[orphan].decision == "ungated (abandoned)" and rows[orphan].aliases == [CHALLENGER]

    run_id = fx.log_candidate(mlflow_home, f"exp-{name}", model_dirs["bad"])
    newer = register_candidate(run_id, "model", name, {}, lock)
    remaining = sorted(str(v.version) for v in client().search_model_versions(f"name='{name}'"))
    assert remaining == sorted([champion, newer]) and aliases(name) == {CHAMPION: champion, CHALLENGER: newer}


def test_rollback_without_a_champion_says_so(mlflow_home, tracking_uri, capsys):
    assert rollback_cmd.main(["--home", str(mlflow_home), "--registered_model_name", "rm-none-at-all"]) == 1
    assert "has no champion to roll back" in capsys.readouterr().err


def test_models_of_a_home_without_a_store_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # MLflow sets it with the process-wide store
    assert models_cmd.main(["--home", str(tmp_path)]) == 1
    assert "no MLflow store at" in capsys.readouterr().err
    assert not (tmp_path / "mlflow").exists()


@pytest.mark.parametrize("version", ["v2", "latest"])
def test_promote_wants_a_version_number(version, tmp_path, capsys):
    assert promote_cmd.main([version, "--home", str(tmp_path), "--reason", "x"]) == 2
    assert "VERSION must be a version number" in capsys.readouterr().err
