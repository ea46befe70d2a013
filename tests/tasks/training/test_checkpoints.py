"""`tasks.training.checkpoints`: which checkpoint folders count as complete, on hand-made folders (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.training.checkpoints import (
    MARKER,
    REQUIRED_FILES,
    discard_incomplete,
    is_complete,
    mark_complete,
    newest_complete_checkpoint,
)


def fake_checkpoint(root: Path, step: int, marked: bool = True, skip: str | None = None) -> Path:
    folder = root / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    for name in (*REQUIRED_FILES, "model.safetensors"):
        if name != skip:
            (folder / name).write_bytes(b"x" * (step + 10))
    if marked:
        mark_complete(folder)
    return folder


def test_newest_complete_skips_unmarked_and_truncated(tmp_path):
    fake_checkpoint(tmp_path, 2)
    fake_checkpoint(tmp_path, 10)
    fake_checkpoint(tmp_path, 12, marked=False)
    truncated = fake_checkpoint(tmp_path, 14)
    (truncated / "optimizer.pt").write_bytes(b"x")  # a file cut short after the marker was written
    assert newest_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-10"  # numeric, not text, order
    assert not is_complete(truncated)

    removed = discard_incomplete(tmp_path)

    assert sorted(p.name for p in removed) == ["checkpoint-12", "checkpoint-14"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-10", "checkpoint-2"]


def test_mark_complete_refuses_a_checkpoint_without_optimizer(tmp_path):
    folder = fake_checkpoint(tmp_path, 4, marked=False, skip="optimizer.pt")
    with pytest.raises(FileNotFoundError, match="optimizer.pt"):
        mark_complete(folder)
    assert not (folder / MARKER).exists()


def test_marker_is_valid_json_and_a_torn_marker_is_incomplete(tmp_path):
    folder = fake_checkpoint(tmp_path, 6)
    assert set(json.loads((folder / MARKER).read_text())["files"]) == {*REQUIRED_FILES, "model.safetensors"}
    (folder / MARKER).write_text('{"files": {"model.saf')
    assert not is_complete(folder) and newest_complete_checkpoint(tmp_path) is None


def test_no_output_dir_means_nothing_to_resume(tmp_path):
    assert newest_complete_checkpoint(tmp_path / "missing") is None
