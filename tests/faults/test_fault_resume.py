"""Fault: the machine dies mid-training (SIGKILL after a checkpoint) and leaves a half-written checkpoint.

Checks: running the same work again skips (and deletes) the half-written checkpoint, resumes from the
newest complete one, and ends with weights allclose (atol 1e-5) to an uninterrupted run with the same seed.
"""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import fault_helpers as fh
import pytest
import torch

from tasks.training.checkpoints import MARKER, is_complete, newest_complete_checkpoint

MAX_STEPS = 10
KILL_AFTER = 4


def wait_for_line(proc, text: str, timeout: float = 120.0) -> list[str]:
    """Read the child's output until a line holds `text`; fail with the output if it exits or times out."""
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if text in line:
            return lines
    proc.kill()
    pytest.fail(f"child never printed {text!r}:\n{''.join(lines)}")


def half_written_copy(complete: Path, step: int) -> Path:
    """What a kill during a save leaves: a later checkpoint folder with a truncated weights file, no marker."""
    folder = complete.parent / f"checkpoint-{step}"
    shutil.copytree(complete, folder)
    (folder / MARKER).unlink()
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return fh.save_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def test_sigkill_after_checkpoint_then_rerun_matches_uninterrupted_run(model_dir, tmp_path):
    """Inject SIGKILL right after checkpoint-4 is complete, plus a torn checkpoint-6; check resume is exact."""
    uninterrupted = fh.start_child(model_dir, tmp_path / "uninterrupted", MAX_STEPS)
    killed_dir = tmp_path / "killed"
    victim = fh.start_child(model_dir, killed_dir, MAX_STEPS, PAUSE_AFTER_STEP=str(KILL_AFTER))
    wait_for_line(victim, f"paused after checkpoint-{KILL_AFTER}")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    assert not (killed_dir / "model.safetensors").exists(), "the victim must die before finishing"
    assert newest_complete_checkpoint(killed_dir).name == f"checkpoint-{KILL_AFTER}"
    torn = half_written_copy(killed_dir / f"checkpoint-{KILL_AFTER}", KILL_AFTER + 2)
    assert not is_complete(torn)

    rerun = fh.start_child(model_dir, killed_dir, MAX_STEPS)
    output = "".join(wait_for_line(rerun, "done "))
    assert rerun.wait(timeout=60) == 0
    assert f"checkpoint-{KILL_AFTER + 2}: incomplete checkpoint" in output, output
    assert f"resuming from {killed_dir / f'checkpoint-{KILL_AFTER}'}" in output, output
    assert "".join(wait_for_line(uninterrupted, "done ")) and uninterrupted.wait(timeout=60) == 0

    expected, resumed = fh.weights(tmp_path / "uninterrupted"), fh.weights(killed_dir)
    base = fh.weights(model_dir)
    assert any(not torch.equal(base[k], expected[k]) for k in expected), "training must move the weights"
    for name, tensor in expected.items():
        torch.testing.assert_close(resumed[name], tensor, atol=1e-5, rtol=0, msg=f"{name} differs after resume")
    assert is_complete(killed_dir / f"checkpoint-{MAX_STEPS}")


def test_finished_work_is_not_trained_again(model_dir, tmp_path):
    """Inject a rerun of work that already finished; check it returns the saved model without training."""
    from datasets import Dataset

    from tasks.training.train import TrainJob, build_reward_config, train_reward_model

    config = build_reward_config(tmp_path / "run", {"max_steps": 2, "max_length": 32, "report_to": "none"})
    pairs = Dataset.from_list(fh.pair_rows(16))
    first = train_reward_model(pairs, None, config, TrainJob(str(model_dir)))
    stamp = Path(first.model_dir, "model.safetensors").stat().st_mtime_ns
    for checkpoint in (tmp_path / "run").glob("checkpoint-*"):
        shutil.rmtree(checkpoint)  # a second training would write them again
    again = train_reward_model(pairs, None, config, TrainJob(str(model_dir)))
    assert not list((tmp_path / "run").glob("checkpoint-*")), "finished work was trained again"
    assert again.model_dir == first.model_dir and again.train_metrics == first.train_metrics
    assert Path(again.model_dir, "model.safetensors").stat().st_mtime_ns == stamp
