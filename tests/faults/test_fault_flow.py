"""Faults met by whole flow runs on a real Prefect test server and a real MLflow SQLite store.

The runs share one home and build on each other, in order: the disk fills while checkpointing, then
while logging the model; a clean rerun then registers once, and another rerun of the same work adds
nothing. A data path that leaves the data root is refused. Throughout, canary secrets sit in the
environment, and the last test checks that none reached the logs, params, tags, artifacts or run folder.
"""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import fault_helpers as fh
import pytest
import torch
from mlflow import MlflowClient

from flows.params import RewardFlowParams
from flows.reward_model import reward_model
from rmcore.checks.compare import PromotionRule
from rmcore.data.safety import PathEscapeError
from tasks.training.checkpoints import is_complete

NAME = "faults-flow-model"
CANARIES = {
    "HF_TOKEN": "hf_canary_7f3a9c1e",
    "MLFLOW_TRACKING_PASSWORD": "mlflow_canary_52be0d",
    "PREFECT_API_AUTH_STRING": "prefect_canary_c4e81f",
}


@pytest.fixture(scope="module", autouse=True)
def canary_secrets():
    """The three secrets set to unique values for every flow run of this module."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CANARIES.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("faults-flow-home")
    (home / "data").mkdir()
    (home / "data" / "pairs.jsonl").write_text("\n".join(json.dumps(r) for r in fh.pair_rows(96)) + "\n")
    fh.save_tiny_model(home / "base-model")
    return home


def params(home: Path, **overrides) -> RewardFlowParams:
    training = {
        "max_steps": 6,
        "save_steps": 2,
        "per_device_train_batch_size": 8,
        "max_length": 48,
        "learning_rate": 1e-2,
        "logging_steps": 2,
        "bf16": False,
        "use_cpu": True,
        "disable_tqdm": True,
    }
    values = {
        "home": str(home),
        "dataset_name": "pairs.jsonl",
        "data_root": str(home / "data"),
        "model_name_or_path": str(home / "base-model"),
        "registered_model_name": NAME,
        "experiment_name": NAME,
        "eval_fraction": 0.25,
        "training": training,
        "promotion": PromotionRule(rule="bootstrap", n_resamples=200),
        "register_retries": 0,
    }
    return RewardFlowParams(**{**values, **overrides})


def registry(home: Path) -> tuple[list[str], dict[str, str]]:
    fh.sqlite_store(home)
    try:
        return fh.registry_state(NAME)
    except Exception as err:  # not registered yet
        if "RESOURCE_DOES_NOT_EXIST" in str(err):
            return [], {}
        raise


def last_run_status(home: Path) -> str:
    client = MlflowClient(fh.sqlite_store(home))
    experiment = client.get_experiment_by_name(NAME)
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.status


def train_dir(home: Path) -> Path:
    (folder,) = (home / "runs").iterdir()  # every run here is the same work, hence one folder
    return folder / "train"


def test_disk_full_while_checkpointing_fails_cleanly(prefect_harness, home, monkeypatch):
    """Inject: ENOSPC when the optimizer of checkpoint-4 is written. Check error, checkpoint-2 intact, no version."""
    real_save = torch.save

    def full_disk(obj, f, *args, **kwargs):
        if str(f).endswith("checkpoint-4/optimizer.pt"):
            raise OSError(errno.ENOSPC, "No space left on device", str(f))
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="no space left on device") as failure:
        reward_model(params(home))
    assert failure.value.errno == errno.ENOSPC and "checkpoint-2 is intact" in str(failure.value)
    train = train_dir(home)
    assert is_complete(train / "checkpoint-2") and not is_complete(train / "checkpoint-4")
    assert registry(home) == ([], {})
    assert last_run_status(home) == "FAILED"


def test_disk_full_while_logging_the_model_fails_cleanly(prefect_harness, home, monkeypatch):
    """Inject: ENOSPC when the weights are copied into the MLflow artifact store. Check no version, run FAILED."""
    real_copy = shutil.copy2

    def full_disk(src, dst, *args, **kwargs):
        if "mlflow/artifacts" in str(dst) and str(dst).endswith("model.safetensors"):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_copy(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copy2", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        reward_model(params(home))
    train = train_dir(home)
    assert (train / "metrics.json").is_file(), "training resumed from checkpoint-2 and finished"
    assert not (train / "checkpoint-4").exists() or is_complete(train / "checkpoint-4")
    assert registry(home) == ([], {})
    assert last_run_status(home) == "FAILED"


def test_rerun_registers_exactly_once(prefect_harness, home):
    """Inject: the same work run twice more after the failures. Check one version, the second run reuses it."""
    first = reward_model(params(home))
    assert registry(home) == ([first["version"]], {"champion": first["version"], "challenger": first["version"]})
    again = reward_model(params(home))
    assert again["version"] == first["version"] and again["reused_version"] is True
    assert again["promoted"] == first["promoted"] and again["idempotency_key"] == first["idempotency_key"]
    assert registry(home)[0] == [first["version"]]
    tags = MlflowClient(fh.sqlite_store(home)).get_model_version(NAME, first["version"]).tags
    assert tags["rewardflow.idempotency_key"] == first["idempotency_key"]


def test_data_path_escaping_the_data_root_is_refused(prefect_harness, home, tmp_path):
    """Inject: dataset_name '../…' and a symlink inside the root pointing out. Check both refused, store unchanged."""
    outside = tmp_path / "outside.jsonl"
    outside.write_text((home / "data" / "pairs.jsonl").read_text())
    link = home / "data" / "link.jsonl"
    link.symlink_to(outside)
    before = sorted(p.name for p in (home / "store").iterdir())
    for name in (f"../../{outside.parent.name}/{outside.name}", str(outside), "link.jsonl"):
        with pytest.raises(PathEscapeError, match="outside the data root"):
            reward_model(params(home, dataset_name=name))
    assert sorted(p.name for p in (home / "store").iterdir()) == before


def test_canary_secrets_never_reach_logs_params_tags_or_artifacts(prefect_harness, home, capfd):
    """Inject: unique canary values in HF_TOKEN, MLFLOW_TRACKING_PASSWORD, PREFECT_API_AUTH_STRING for every run.

    One more run (another seed, so it trains, logs and registers) under captured output; then grep the
    MLflow store (params, tags, metrics, artifacts), the run folders, the captured output and the Prefect logs.
    """
    summary = reward_model(params(home, seed=7))
    captured = capfd.readouterr()
    output = captured.out + captured.err + prefect_log_text()
    assert not places_with(list(CANARIES.values()), home, output), "canary secrets leaked"
    # The same search finds what is meant to be there: the grep looks in the right places.
    found = places_with([summary["idempotency_key"], "Training on"], home, output)
    assert any("mlflow.db" in p for p in found) and "output/logs: Training on" in found, found


def places_with(values: list[str], home: Path, output: str) -> list[str]:
    """Where any of `values` appears: files under home (MLflow DB, artifacts, runs, store), then output/logs."""
    needles = [value.encode() for value in values]
    places = [str(p) for p in home.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles)]
    return places + [f"output/logs: {value}" for value in values if value in output]


def prefect_log_text() -> str:
    """Every log line the Prefect test server holds (all flow and task runs of the session)."""
    from prefect.client.orchestration import get_client

    lines = []
    with get_client(sync_client=True) as client:
        for page in range(50):
            logs = client.read_logs(limit=200, offset=200 * page)
            lines += [log.message for log in logs]
            if len(logs) < 200:
                break
    return "\n".join(lines)
