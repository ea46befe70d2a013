"""One fetch for every MLflow URI kind, resolved in the given store, never in MLflow's process-wide default.

The process-wide store here is the session's shared one; each test's models live in the store of another
home. Before the fix, a registered version (source `models:/m-...`) was looked up in the default and
`./mlflow.db` appeared in the working folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from rmcore import load_reward_model
from rmcore.models.loading import model_folder_in
from rmcore.models.scoring import ScoringConfig
from tasks.registry.models import ModelUnavailableError, fetch_model, load_model, registry_flags, resolve_location
from tasks.registry.scorers import score_model, score_pairs
from tasks.tracking.logged_model import log_logged_model
from tasks.tracking.runs import ensure_experiment, start_run
from tasks.tracking.store import default_tracking_uri, use_tracking
from tests.tasks import mlflow_fixtures as fx
from tests.tasks.mlflow_fixtures import log_model_dir

mlflow_home, tracking_uri, model_dirs = fx.mlflow_home, fx.tracking_uri, fx.model_dirs
PAIRS = fx.synthetic_pairs()
NAME = "models-test"


@pytest.fixture
def other_home(tmp_path, tracking_uri, model_dirs, monkeypatch) -> dict:
    """A home whose own store holds a registered champion (a Logged Model) and a run artifact; cwd is empty.

    That store stays the process-wide one, as after an entry point opened it."""
    home = tmp_path / "home"
    uri = use_tracking(default_tracking_uri(home))  # as the flow that registered it did
    run_id = start_run(ensure_experiment("exp", home))
    logged = log_logged_model(run_id, str(model_dirs["good"]), NAME)
    log_model_dir(run_id, model_dirs["good"], "model")
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(NAME)
    version = client.create_model_version(NAME, source=logged, run_id=run_id, model_id=logged.removeprefix("models:/"))
    client.set_registered_model_alias(NAME, "champion", version.version)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return {"home": home, "uri": uri, "run_id": run_id, "logged": logged, "version": str(version.version), "cwd": work}


def test_every_uri_kind_resolves_in_the_opened_store_and_nothing_lands_in_the_cwd(other_home, model_dirs, tmp_path):
    run_id = other_home["run_id"]
    expected = score_model(str(model_dirs["good"]), PAIRS)
    for source in (f"models:/{NAME}@champion", f"models:/{NAME}/1", other_home["logged"], f"runs:/{run_id}/model"):
        scored = score_model(source, PAIRS, ScoringConfig(batch_size=8))
        np.testing.assert_allclose(scored["reward_chosen"], expected["reward_chosen"], rtol=1e-5, err_msg=source)
    assert list(other_home["cwd"].iterdir()) == []  # no stray ./mlflow.db
    location = resolve_location(f"models:/{NAME}@champion")
    assert (location.name, location.version) == (NAME, "1")
    assert location.artifacts.startswith("file://") and "/models/m-" in location.artifacts


def test_a_champion_with_missing_files_is_named_with_what_is_missing_and_the_fix(other_home, tmp_path):
    home = other_home["home"]
    artifacts = Path(resolve_location(f"models:/{NAME}@champion").artifacts.removeprefix("file://"))
    (model_folder_in(artifacts) / "model.safetensors").unlink()
    with pytest.raises(ModelUnavailableError) as caught:
        fetch_model(f"models:/{NAME}@champion", tmp_path / "dl")
    message = str(caught.value)
    assert f"'{NAME}' version 1" in message and "lack model.safetensors" in message
    assert f"rewardflow rollback --home {home}" in message and "rewardflow promote VERSION" in message


def test_an_unknown_alias_is_a_clear_error_naming_the_store(other_home, tmp_path):
    with pytest.raises(ModelUnavailableError, match="models:/models-test@nope: not found in the MLflow store"):
        fetch_model(f"models:/{NAME}@nope", tmp_path / "dl")


def test_registry_flags_name_the_home_of_a_home_store(tmp_path):
    assert registry_flags(default_tracking_uri(tmp_path)) == f"--home {tmp_path.resolve()}"
    assert registry_flags("http://127.0.0.1:5000") == "--tracking_uri http://127.0.0.1:5000"


def test_load_model_refuses_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model folder"):
        load_model(tmp_path / "nope")


def test_load_model_reads_a_runs_uri(mlflow_home, tracking_uri, model_dirs):
    run_id = fx.log_candidate(mlflow_home, "exp-evaluate", model_dirs["good"])
    model, tokenizer = load_model(f"runs:/{run_id}/model")
    local, _ = load_reward_model(model_dirs["good"])
    pairs = fx.synthetic_pairs(6)
    np.testing.assert_array_equal(
        score_pairs(model, tokenizer, pairs)["reward_chosen"], score_pairs(local, tokenizer, pairs)["reward_chosen"]
    )
