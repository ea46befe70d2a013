"""Checkpoints a killed run can trust: a folder counts only once a marker says every file was written.

The Trainer writes a checkpoint file by file (weights, optimizer, scheduler, RNG state, trainer state),
so a run killed mid-save leaves a folder that looks like a checkpoint but would load half a state.
After each save a callback writes `checkpoint.complete.json` (atomically, see tasks.atomic) naming
the files and their sizes; resuming picks the newest folder whose marker matches its files.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from transformers import TrainerCallback

from rmcore.models.loading import WEIGHT_FILES
from tasks.atomic import write_atomic

MARKER = "checkpoint.complete.json"
# What a checkpoint needs to resume exactly where it stopped (weights alone would restart the optimizer).
REQUIRED_FILES = ("trainer_state.json", "optimizer.pt", "scheduler.pt", "rng_state.pth")
CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_files(folder: Path) -> dict[str, int]:
    """name -> size of the plain files in a checkpoint folder, the marker excluded."""
    return {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file() and p.name != MARKER}


def mark_complete(folder: str | Path) -> Path:
    """Record that `folder` holds a whole checkpoint. Raises if a required file is missing."""
    folder = Path(folder)
    files = checkpoint_files(folder)
    # One process saves rng_state.pth; N processes save rng_state_<rank>.pth each.
    present = set(files) | ({"rng_state.pth"} if any(re.fullmatch(r"rng_state_\d+\.pth", f) for f in files) else set())
    missing = [name for name in REQUIRED_FILES if name not in present]
    if missing or not set(files) & set(WEIGHT_FILES):
        raise FileNotFoundError(f"{folder}: checkpoint lacks {missing or list(WEIGHT_FILES)}; not marked complete")
    marker = folder / MARKER
    write_atomic(marker, json.dumps({"files": files}, indent=1))
    return marker


def is_complete(folder: str | Path) -> bool:
    """True when the marker exists and every file it lists is there with the size it had when marked."""
    marker = Path(folder) / MARKER
    try:
        listed = json.loads(marker.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    present = checkpoint_files(Path(folder))
    return all(present.get(name) == size for name, size in listed.items())


def checkpoint_dirs(output_dir: str | Path) -> list[Path]:
    """`checkpoint-N` folders under `output_dir`, oldest step first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := CHECKPOINT_DIR.match(p.name))]
    return [p for _, p in sorted(found)]


def newest_complete_checkpoint(output_dir: str | Path) -> Path | None:
    """The highest-step checkpoint that is complete; incomplete ones are skipped, never loaded."""
    complete = [p for p in checkpoint_dirs(output_dir) if is_complete(p)]
    return complete[-1] if complete else None


def discard_incomplete(output_dir: str | Path) -> list[Path]:
    """Delete checkpoint folders without a valid marker, so the resumed run can save the same step again."""
    removed = [p for p in checkpoint_dirs(output_dir) if not is_complete(p)]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


class CompleteCheckpointCallback(TrainerCallback):
    """Marks each checkpoint complete right after the Trainer has written all of it."""

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            mark_complete(Path(args.output_dir) / f"checkpoint-{state.global_step}")
        return control
