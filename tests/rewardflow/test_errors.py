"""One last line per failure, the traceback in the log file: real failures of real components."""

from __future__ import annotations

import errno
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from rewardflow.errors import INTERRUPTED, explain, run_command
from rmcore.training.interrupt import TrainingInterrupted

REPO = Path(__file__).resolve().parents[2]


def read_only_store_error(tmp_path: Path) -> Exception:
    """What MLflow raises when its SQLite file can only be read (opened read-only, as root ignores chmod)."""
    db = tmp_path / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()  # create and migrate
    read_only = MlflowClient(tracking_uri=f"sqlite:///file:{db}?mode=ro&uri=true")
    with pytest.raises(Exception) as caught:
        read_only.create_experiment("nope")
    return caught.value


def test_a_read_only_store_says_so_and_that_the_registry_is_unchanged(tmp_path):
    failure = explain(read_only_store_error(tmp_path), "run")
    assert failure.line("run") == (
        "rewardflow run: the MLflow store is read-only; the model registry and its champion are unchanged; "
        "make the store file and its folder writable (chmod u+w), or pass --tracking_uri"
    )
    assert failure.code == 1


def test_a_store_that_stays_locked_and_a_server_that_is_down(tmp_path, monkeypatch):
    db = tmp_path / "locked.db"
    holder = sqlite3.connect(db)
    holder.execute("create table t(x)")
    holder.execute("begin exclusive")
    with pytest.raises(sqlite3.OperationalError) as locked:
        sqlite3.connect(db, timeout=0).execute("insert into t values (1)")
    assert "locked by another process" in explain(locked.value, "run").what

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(Exception) as down:
        MlflowClient(tracking_uri="http://127.0.0.1:9").search_experiments()
    failure = explain(down.value, "run")
    assert failure.what.startswith("the MLflow server is unreachable")
    assert "rewardflow up" in failure.todo


def test_a_full_disk_and_ctrl_c():
    try:
        raise OSError(errno.ENOSPC, "No space left on device", "/x/checkpoint-4")
    except OSError as err:
        wrapped = RuntimeError("task failed")
        wrapped.__cause__ = err
        failure = explain(wrapped, "train")
    assert failure.what == "the disk is full (No space left on device)"
    assert failure.unchanged == "no model was saved to the output folder"

    stop = explain(TrainingInterrupted(12, 32, "/out/checkpoint-12"), "train")
    assert stop.code == INTERRUPTED == 130
    assert stop.line("train") == (
        "rewardflow train: training stopped by Ctrl-C at step 12/32; checkpoint saved at /out/checkpoint-12; "
        "no model was saved to the output folder; "
        "resume with the same command plus --resume_from_checkpoint /out/checkpoint-12"
    )
    assert "it resumes from that checkpoint" in explain(TrainingInterrupted(1, 2, "/c"), "run").todo


def test_run_command_prints_one_line_and_logs_the_traceback(tmp_path, capsys):
    def main(argv):
        raise read_only_store_error(tmp_path)

    home = tmp_path / "home"
    assert run_command(main, ["--home", str(home)], "run") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rewardflow run: the MLflow store is read-only")
    assert err[0].endswith(f"(details: {home / 'logs' / 'rewardflow.log'})")
    log = (home / "logs" / "rewardflow.log").read_text()
    assert "Traceback" in log and "readonly database" in log


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rewardflow.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
        timeout=600,
    )


def test_rewardflow_train_with_a_missing_model_ends_in_one_line(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"chosen": f"good {i}", "rejected": f"bad {i}"}) + "\n" for i in range(8)))
    done = cli(
        "train",
        "--dataset_name",
        str(pairs),
        "--model_name_or_path",
        str(tmp_path / "no-such-model"),
        "--output_dir",
        str(tmp_path / "out"),
        cwd=tmp_path,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr
    assert "no-such-model" in lines[-1] and "does not exist" in lines[-1]


def complete_checkpoint(folder: Path) -> Path:
    """A checkpoint folder with the files a resume needs, marked complete as the trainer's callback does."""
    from tasks.training.checkpoints import mark_complete

    folder.mkdir(parents=True)
    for name in ("trainer_state.json", "optimizer.pt", "scheduler.pt", "rng_state.pth", "model.safetensors"):
        (folder / name).write_text("x")
    mark_complete(folder)
    return folder


def test_a_full_disk_names_what_to_do_and_the_last_complete_checkpoint(tmp_path, capsys, monkeypatch):
    """As safetensors' Rust writer reports it (no errno), raised out of `rewardflow train`'s own main."""
    from rewardflow import train_cmd

    out = tmp_path / "out"
    complete_checkpoint(out / "checkpoint-4")
    (out / "checkpoint-6").mkdir()  # half written: not offered

    def full(*args, **kwargs):
        raise RuntimeError("Error while serializing: No space left on device (os error 28)")

    monkeypatch.setattr(train_cmd, "train_from_files", full)  # the disk fills while saving
    assert run_command(train_cmd.main, ["--dataset_name", "x.jsonl", "--output_dir", str(out)], "train") == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("rewardflow train: the disk is full (No space left on device); ")
    assert f"rerun the same command: it resumes from the last complete checkpoint, {out / 'checkpoint-4'}" in line
    assert "os error 28" not in line

    empty = explain(OSError(errno.ENOSPC, "No space left on device"), "run", ["--home", str(tmp_path / "h")])
    assert empty.todo.endswith("no complete checkpoint was saved, so it starts over")


def test_run_names_the_newest_complete_checkpoint_of_its_home(tmp_path):
    home = tmp_path / "home"
    complete_checkpoint(home / "runs" / "abc" / "train" / "checkpoint-8")
    failure = explain(OSError(errno.ENOSPC, "No space left on device"), "run", ["--home", str(home)])
    assert failure.todo.endswith(f"last complete checkpoint, {home / 'runs' / 'abc' / 'train' / 'checkpoint-8'}")


@pytest.mark.parametrize("where", ["file", "under-a-file", "read-only"])
def test_output_dir_that_cannot_be_written_fails_before_reading_in_one_line(tmp_path, capsys, where):
    import os

    from rewardflow import train_cmd

    (tmp_path / "a-file").write_text("x")
    read_only = tmp_path / "ro"
    read_only.mkdir(mode=0o500)
    output_dir = {
        "file": tmp_path / "a-file",
        "under-a-file": tmp_path / "a-file" / "out",
        "read-only": Path("/sys/rewardflow-out") if os.geteuid() == 0 else read_only / "out",  # root ignores modes
    }[where]
    argv = ["--dataset_name", str(tmp_path / "never-read.jsonl"), "--output_dir", str(output_dir)]
    assert train_cmd.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"rewardflow train: error: --output_dir {output_dir}")
    assert "never-read" not in err[0]  # refused before the data is looked at
