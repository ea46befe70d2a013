"""Quarantine: every refused row kept verbatim with its reasons, one JSON object a line, under `HOME/quarantine/`.

Nothing read is lost: a bad row is written here with its source file, line, the rules it broke and a
short message, so it can be fixed and fed back. Files are written atomically (tasks.atomic).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tasks.atomic import write_atomic


def _json_line(row: dict[str, Any]) -> str:
    """UTF-8 text where possible; strings with lone surrogates (undecodable CSV bytes) fall back to \\u escapes."""
    line = json.dumps(row, ensure_ascii=False, default=str)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(row, default=str)
    return line


def quarantine_text(bad_rows: list[dict[str, Any]]) -> str:
    return "".join(_json_line(row) + "\n" for row in bad_rows)


def write_quarantine(bad_rows: list[dict[str, Any]], quarantine_dir: Path) -> Path | None:
    """Write the bad rows to a new file named by time and content hash; None when there are none."""
    if not bad_rows:
        return None
    data = quarantine_text(bad_rows).encode("utf-8")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    quarantine_dir = Path(quarantine_dir)
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    target = quarantine_dir / f"quarantine-{stamp}-{hashlib.sha256(data).hexdigest()[:12]}.jsonl"
    return write_atomic(target, data)


class QuarantineWriter:
    """Bad rows appended chunk by chunk to a temporary file; `close` renames it as `write_quarantine` names files.

    Chunked ingest cannot hold every bad row of a 10 GB file, so the content hash is kept as it goes.
    """

    def __init__(self, quarantine_dir: Path) -> None:
        self.quarantine_dir = Path(quarantine_dir)
        self.temp = self.quarantine_dir / f".quarantine-{os.getpid()}-{id(self)}.tmp"
        self.digest = hashlib.sha256()
        self.rows = 0
        self._handle = None

    def write(self, bad_rows: list[dict[str, Any]]) -> None:
        if not bad_rows:
            return
        if self._handle is None:
            self.quarantine_dir.mkdir(parents=True, exist_ok=True)
            self._handle = self.temp.open("wb")
        data = quarantine_text(bad_rows).encode("utf-8")
        self._handle.write(data)
        self.digest.update(data)
        self.rows += len(bad_rows)

    def close(self) -> Path | None:
        """The quarantine file holding every row written; None when there were none."""
        if self._handle is None:
            return None
        self._handle.close()
        self._handle = None
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        target = self.quarantine_dir / f"quarantine-{stamp}-{self.digest.hexdigest()[:12]}.jsonl"
        os.replace(self.temp, target)
        return target

    def abort(self) -> None:
        """Drop the rows written so far (the batch could not be read to its end; nothing was stored)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self.temp.unlink(missing_ok=True)


def rule_table(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of the summary table: one per rule, then the totals that must add up."""
    rows = [{"rule": rule, "rows": count} for rule, count in sorted(summary["by_rule"].items())]
    return rows + [{"rule": f"({name})", "rows": summary[name]} for name in ("read", "good", "quarantined")]


def in_prefect_run() -> bool:
    """Inside a Prefect flow or task run; the command line never imports Prefect just to ask."""
    if "prefect" not in sys.modules:
        return False
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def publish_rule_counts(summary: dict[str, Any], key: str = "quarantine-rule-counts") -> bool:
    """A Prefect table artifact of the counts per rule, only inside a flow or task run. Returns whether it was made."""
    if not in_prefect_run():
        return False
    from prefect.artifacts import create_table_artifact

    description = f"{summary['read']} rows read: {summary['good']} good, {summary['quarantined']} quarantined"
    create_table_artifact(rule_table(summary), key=key, description=description)
    return True
