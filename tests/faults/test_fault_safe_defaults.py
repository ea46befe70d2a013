"""Unsafe inputs and settings: pickled weights, remote code, a public bind address, paths that leave the data root.

Checks: model weights are only read and written as safetensors and every `torch.load` in the project
passes `weights_only=True`; `trust_remote_code` is off unless a flag turns it on; servers bind loopback
unless told otherwise; `..` and symlinks that leave the data root are refused.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import fault_helpers as fh
import pytest

from deployments.config import ScheduleConfig, ServerConfig
from deployments.servers import process_specs
from rmcore.data.safety import PathEscapeError, is_under, resolve_under
from rmcore.models.loading import check_model_folder, load_reward_model
from rmcore.training.config import RewardConfig

PACKAGES = ("rmcore", "tasks", "flows", "deployments", "rewardflow", "examples", "benchmarks")


def project_sources() -> list[Path]:
    return [p for package in PACKAGES for p in sorted((fh.REPO_ROOT / package).rglob("*.py"))]


def test_every_torch_load_is_weights_only():
    """Inject: nothing; scan the sources. Check each torch.load call passes weights_only=True (pickles run code)."""
    offenders = []
    for path in project_sources():
        text = path.read_text()
        for match in re.finditer(r"torch\.load\(", text):
            call = text[match.start() : text.find(")", match.end()) + 1]
            if "weights_only=True" not in call:
                offenders.append(f"{path.relative_to(fh.REPO_ROOT)}: {call}")
    assert not offenders, offenders


def test_remote_code_is_off_unless_flagged():
    """Inject: nothing. Check every trust_remote_code default is False and no source hard-codes True."""
    assert inspect.signature(load_reward_model).parameters["trust_remote_code"].default is False
    assert RewardConfig(output_dir="x", report_to="none").trust_remote_code is False
    hard_coded = [str(p) for p in project_sources() if "trust_remote_code=True" in p.read_text()]
    assert not hard_coded, hard_coded


def test_trained_model_is_safetensors_only_and_pickles_are_refused(tmp_path):
    """Inject: a model folder holding only a pickled pytorch_model.bin. Check it is refused, naming the folder."""
    from datasets import Dataset

    from tasks.training.train import TrainJob, build_reward_config, train_reward_model

    model_dir = fh.save_tiny_model(tmp_path / "base")
    config = build_reward_config(tmp_path / "run", {"max_steps": 2, "save_steps": 1, "max_length": 32})
    result = train_reward_model(Dataset.from_list(fh.pair_rows(16)), None, config, TrainJob(str(model_dir)))
    saved = {p.name for p in Path(result.model_dir).iterdir()}
    assert "model.safetensors" in saved and not {n for n in saved if n.endswith((".bin", ".pt", ".pth", ".pkl"))}
    for checkpoint in Path(result.output_dir).glob("checkpoint-*"):
        assert (checkpoint / "model.safetensors").is_file() and not (checkpoint / "pytorch_model.bin").exists()

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "pytorch_model.bin").write_bytes(b"not really a pickle")
    (pickled / "tokenizer.json").write_text("{}")
    with pytest.raises(ValueError, match=f"{pickled}: no safetensors weights"):
        check_model_folder(str(pickled), weights=True)


def test_servers_bind_loopback_unless_told_otherwise(tmp_path):
    """Inject: a public bind address without and with --allow_remote. Check refused, then allowed; default loopback."""
    config = ServerConfig(home=str(tmp_path))
    assert config.host == "127.0.0.1"
    for spec in process_specs(config, ScheduleConfig()):
        if "--host" in spec.argv:
            assert spec.argv[spec.argv.index("--host") + 1] == "127.0.0.1", spec.argv
    with pytest.raises(ValueError, match="--allow_remote"):
        ServerConfig(home=str(tmp_path), host="0.0.0.0")
    assert ServerConfig(home=str(tmp_path), host="0.0.0.0", allow_remote=True).host == "0.0.0.0"


def test_paths_leaving_the_data_root_are_refused(tmp_path):
    """Inject: '..', an absolute path elsewhere, a symlink out, a symlinked folder out. Check each is refused."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "pairs.jsonl").write_text("{}\n")
    (root / "sub" / "ok.jsonl").write_text("{}\n")
    (root / "link.jsonl").symlink_to(outside / "pairs.jsonl")
    (root / "dirlink").symlink_to(outside)

    assert resolve_under("sub/ok.jsonl", root) == (root / "sub" / "ok.jsonl").resolve()
    assert resolve_under(root / "sub" / ".." / "sub" / "ok.jsonl", root) == (root / "sub" / "ok.jsonl").resolve()
    for bad in ("../outside/pairs.jsonl", str(outside / "pairs.jsonl"), "link.jsonl", "dirlink/pairs.jsonl"):
        with pytest.raises(PathEscapeError, match="outside the data root"):
            resolve_under(bad, root)
        assert not is_under(bad, root)


def test_secrets_nested_in_params_are_masked(tmp_path):
    """Inject: a token inside a dict-valued flow param (training={'hub_token': ...}). Check the param masks it."""
    from tasks.tracking.runs import ensure_experiment, log_params, redact, start_run
    from tasks.tracking.store import client

    assert redact({"training": {"hub_token": "s3cret", "lr": 1}, "x": [{"api_key": "k"}]}) == {
        "training": {"hub_token": "***", "lr": 1},
        "x": [{"api_key": "***"}],
    }
    fh.sqlite_store(tmp_path)
    run_id = start_run(ensure_experiment("nested-secrets", tmp_path))
    log_params(run_id, {"flow.training": {"hub_token": "s3cret", "max_steps": 3}, "mlflow_tracking_password": "p"})
    params = client().get_run(run_id).data.params
    assert params == {"flow.training": "{'hub_token': '***', 'max_steps': 3}"}
