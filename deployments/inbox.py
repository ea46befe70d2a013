"""The inbox sensor: a small scheduled flow that ingests files dropped into HOME/inbox/ and announces them.

It lives apart from the training flow so that each sensor run (every minute) imports only what ingest
needs, not the training stack; the data tasks are imported only when a file is actually waiting.
"""

from __future__ import annotations

import shutil
import time
from functools import partial
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from deployments.events import DATA_ARRIVED, NotAnnounced, announce_batch, arrival_payload
from rmcore.data.safety import is_under

SKIPPED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")


def ready_files(inbox: Path, now: float, settle_seconds: float = 2.0) -> list[Path]:
    """Files in the inbox that look complete: not hidden, not a partial download, untouched for a moment."""
    if not inbox.is_dir():
        return []
    files = [p for p in sorted(inbox.iterdir()) if p.is_file() and not p.name.startswith(".")]
    files = [p for p in files if is_under(p, inbox)]  # a symlink out of the inbox is not ours to read
    files = [p for p in files if not p.name.endswith(SKIPPED_SUFFIXES)]
    return [p for p in files if now - p.stat().st_mtime >= settle_seconds]


def escaping_links(inbox: Path) -> list[Path]:
    """Visible entries of the inbox that are links resolving outside it: refused, never opened."""
    if not inbox.is_dir():
        return []
    entries = [p for p in sorted(inbox.iterdir()) if p.is_symlink() and not p.name.startswith(".")]
    return [p for p in entries if not is_under(p, inbox)]


def refuse_links(links: list[Path], inbox: Path, logger: Any) -> list[str]:
    """Move links out of the inbox to inbox/failed/ (the link itself: its target is never read), one line each."""
    reasons = [f"{link.name}: a link to {link.resolve()}, outside the inbox {inbox}; not read" for link in links]
    for reason in reasons:
        logger.error("inbox file refused, moved to %s: %s", inbox / "failed", reason)
    move_all(links, inbox / "failed")
    return reasons


def move_all(files: list[Path], folder: Path) -> None:
    """Move handled files aside, so the sensor never reads one twice (a clash gets a time suffix)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        target = folder / path.name
        if target.exists():
            target = folder / f"{path.stem}.{time.time_ns()}{path.suffix}"
        shutil.move(str(path), target)


@flow(name="inbox-sensor")
def inbox_sensor(home: str, event: str = DATA_ARRIVED) -> dict[str, Any]:
    """Ingest what was dropped into HOME/inbox/; files move to inbox/done/ (or inbox/failed/ on a bad file).

    A batch is stored together with its arrival event or not at all: when the event cannot be emitted, the
    files stay in the inbox and the next sensor run ingests them again.
    """
    logger = get_run_logger()
    inbox = Path(home) / "inbox"
    refused = refuse_links(escaping_links(inbox), inbox, logger)
    files = ready_files(inbox, time.time())
    if not files:
        return {"files": 0, "emitted": False, **({"refused": refused} if refused else {})}
    from tasks.data.config import DataConfig
    from tasks.data.health import publish_health
    from tasks.data.ingest import ingest_files
    from tasks.tracking.run_log import log_ingest_run
    from tasks.tracking.store import resolve_tracking_uri, use_tracking

    use_tracking(resolve_tracking_uri(None, home))  # no flag here: the environment, else the home's store
    try:
        announce = partial(announce_batch, home, event=event)  # sent and confirmed under the store's lock
        report = ingest_files([str(p) for p in files], Path(home), DataConfig(), announce=announce)
    except NotAnnounced as err:
        logger.error("inbox: %s; %d file(s) stay in %s for the next run", err, len(files), inbox)
        return {"files": len(files), "emitted": False, "error": str(err)}
    except ValueError as err:
        logger.error("inbox files rejected, moved to %s: %s", inbox / "failed", err)
        move_all(files, inbox / "failed")
        return {"files": len(files), "emitted": False, "error": str(err)}
    move_all(files, inbox / "done")
    if report.health:  # the `ingest-health` table and the MLflow run `ingest <batch>`, as every ingest path
        publish_health(report.health, report.batch_id or "")
        log_ingest_run(home, report)
    payload = arrival_payload(report)
    emitted = payload.get("new_pairs", 0) > 0 and report.status != "hold"  # announced while it was stored
    logger.info("inbox: %d file(s), %s; event %s", len(files), payload, "emitted" if emitted else "not emitted")
    return {"files": len(files), "emitted": emitted, **payload, **({"refused": refused} if refused else {})}
