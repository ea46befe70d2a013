"""Held batches: stored (so their pairs count as seen) but not trained on until a person releases them.

A batch whose health check says `hold` keeps its store files; their names go into `HOME/store/holds.json`
with the reasons. Training reads `trainable_files` (every store file not held); duplicate checks still
read every file, so a resent held batch is not stored twice. `rewardflow release BATCH` removes the hold.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock

from tasks.atomic import write_atomic

HOLDS_FILE = "holds.json"


def holds_path(store_dir: Path) -> Path:
    return Path(store_dir) / HOLDS_FILE


def read_holds(store_dir: Path) -> dict[str, dict[str, Any]]:
    """batch id -> {files, reasons, held_at, sources} of every batch on hold ({} when none)."""
    path = holds_path(store_dir)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); fix or remove it to release every batch") from err


def _write_holds(store_dir: Path, holds: dict[str, dict[str, Any]]) -> None:
    write_atomic(holds_path(store_dir), json.dumps(holds, indent=2, sort_keys=True))


def _lock(store_dir: Path) -> FileLock:
    Path(store_dir).mkdir(parents=True, exist_ok=True)
    return FileLock(str(Path(store_dir) / ".holds.lock"))


def hold_batch(store_dir: Path, batch_id: str, files: list[str], reasons: list[str], sources: list[str]) -> None:
    """Put a stored batch on hold: its files are left out of training until released."""
    with _lock(store_dir):
        holds = read_holds(store_dir)
        holds[batch_id] = {
            "files": sorted(Path(f).name for f in files),
            "reasons": list(reasons),
            "sources": [str(s) for s in sources],
            "held_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        _write_holds(store_dir, holds)


def release_batch(store_dir: Path, batch_id: str) -> dict[str, Any]:
    """Lift the hold of one batch (a unique prefix of its id is enough); returns what was held.

    Raises:
        ValueError: no held batch has that id (the message lists the held ones).
    """
    with _lock(store_dir):
        holds = read_holds(store_dir)
        matches = [b for b in holds if b.startswith(batch_id)] if batch_id else []
        if len(matches) != 1:
            held = ", ".join(sorted(holds)) or "none"
            what = "matches several held batches" if matches else "is not a held batch"
            raise ValueError(f"{batch_id!r} {what} in {Path(store_dir)}; held: {held}")
        entry = holds.pop(matches[0])
        _write_holds(store_dir, holds)
    return {"batch": matches[0], **entry}


def held_file_names(store_dir: Path) -> set[str]:
    """Names of the store files of every held batch."""
    return {name for entry in read_holds(store_dir).values() for name in entry["files"]}
