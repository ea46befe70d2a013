"""The `rewardflow.data.arrived` event: new pairs reached the store, so the `nightly` deployment retrains.

Emitted only when an ingest stored new pairs; its id is derived from the store's data hash, so even a
repeated emission of one store state is one event to Prefect's triggers (they skip ids already seen).
`announce_batch` is the one "announce it or refuse the batch" step both ingest doors (the inbox sensor and
`rewardflow ingest`) hand to `tasks.data.ingest.ingest_files`.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect.events import Event, emit_event
from prefect.events.worker import EventsWorker
from prefect.settings import PREFECT_API_URL

if TYPE_CHECKING:  # the data tasks are imported only where a batch is ingested (the inbox sensor runs each minute)
    from tasks.data.ingest import IngestReport

DATA_ARRIVED = "rewardflow.data.arrived"


def store_resource(home: str | Path) -> dict[str, str]:
    """The resource the event is about: the data store of one pipeline home."""
    home = str(Path(home).resolve())
    digest = hashlib.sha256(home.encode()).hexdigest()[:12]
    return {"prefect.resource.id": f"rewardflow.store.{digest}", "prefect.resource.name": home}


def arrival_payload(report: IngestReport) -> dict[str, Any]:
    """The event payload of an ingest report: data hash and counts.

    `new_pairs` is the report's `good`: rows already in the store are not good, so it counts only new pairs.
    """
    return {
        "data_hash": report.data_hash,
        "new_pairs": report.good,
        "read": report.read,
        "quarantined": report.quarantined,
        "by_rule": dict(report.by_rule),
        "sources": [str(s) for s in report.sources],
    }


def event_id(event: str, data_hash: str) -> uuid.UUID:
    """One id per (event, store state): Prefect's triggers act once per id."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{event}:{data_hash}")


def emit_data_arrived(
    home: str | Path, payload: dict[str, Any], event: str = DATA_ARRIVED, flush: bool = True
) -> Event | None:
    """Send the event to the Prefect API in the current settings; returns it, or None if none was sent.

    Args:
        home: pipeline home whose store received the pairs.
        payload: at least `data_hash`; counts are shown in the Prefect UI's event feed.
        event: event name the deployment trigger expects.
        flush: wait until the event left this process (needed in short-lived commands).
    """
    sent = emit_event(
        event=event, resource=store_resource(home), payload=payload, id=event_id(event, str(payload["data_hash"]))
    )
    if flush:
        EventsWorker.drain_all(timeout=30)
    return sent


class NotAnnounced(RuntimeError):
    """The arrival event could not be emitted, so the batch was taken back out of the store."""


def announce_batch(home: str | Path, report: IngestReport, event: str = DATA_ARRIVED, flush: bool = True) -> Event:
    """Emit the arrival event of a batch just stored, or raise so that `ingest_files` takes it back out.

    `ingest_files` calls this under the store's lock: a batch stored but never announced would never be
    trained on, so it is stored and announced, or neither, and a rerun finds it new.

    Args:
        home: pipeline home whose store received the batch.
        report: the batch's ingest report; its `arrival_payload` is the event's payload.
        event: event name the deployment trigger expects.
        flush: wait until the event left this process (short-lived commands); inside a flow run, False.

    Returns:
        The event sent.

    Raises:
        NotAnnounced: Prefect sent nothing (no API it may emit to in the current settings).
    """
    sent = emit_data_arrived(home, arrival_payload(report), event, flush=flush)
    if sent is None:
        url = PREFECT_API_URL.value() or "the Prefect API (PREFECT_API_URL is not set)"
        raise NotAnnounced(f"event {event} could not be emitted to {url}, so the batch was not stored")
    return sent
