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

from prefect.client.orchestration import get_client
from prefect.events import Event
from prefect.events.clients import get_events_client
from prefect.events.related import related_resources_from_run_context
from prefect.settings import PREFECT_API_URL
from prefect.utilities.asyncutils import run_coro_as_sync

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


def arrival_event(home: str | Path, report: IngestReport, event: str = DATA_ARRIVED) -> Event:
    """The arrival event of a stored batch: about the home's store, with the report's counts, one id per store state."""
    payload = arrival_payload(report)
    return Event(
        event=event, resource=store_resource(home), payload=payload, id=event_id(event, str(payload["data_hash"]))
    )


async def send_confirmed(event: Event) -> None:
    """Send one event to the Prefect API in effect and wait until the server has read it.

    Not `emit_event`: that hands the event to a background worker and returns it even when the server is
    down, so a failure would go unseen. Here a server that cannot be reached raises. The event keeps the
    links to the flow run it is sent from (the inbox sensor's), as the background worker would add them.
    """
    async with get_client() as orchestration, get_events_client(reconnection_attempts=2, checkpoint_every=1) as events:
        involved = {resource.id for resource in event.involved_resources}
        event.related += await related_resources_from_run_context(client=orchestration, exclude=involved)
        await events.emit(event)  # checkpoint_every=1: returns once the server answered a ping after the event


class NotAnnounced(RuntimeError):
    """The arrival event could not be sent, so the batch was taken back out of the store."""


def announce_batch(home: str | Path, report: IngestReport, event: str = DATA_ARRIVED) -> Event:
    """Send the arrival event of a batch just stored, or raise so that `ingest_files` takes it back out.

    `ingest_files` calls this under the store's lock: a batch stored but never announced would not start
    the training it should, so it is stored and announced, or neither, and a rerun finds it new.

    Args:
        home: pipeline home whose store received the batch.
        report: the batch's ingest report; its `arrival_payload` is the event's payload.
        event: event name the deployment trigger expects.

    Returns:
        The event, as the server received it.

    Raises:
        NotAnnounced: the Prefect API in effect could not be reached or refused the event (the cause is chained).
    """
    arrival = arrival_event(home, report, event)
    try:
        run_coro_as_sync(send_confirmed(arrival))
    except Exception as err:
        url = PREFECT_API_URL.value() or "the Prefect API (PREFECT_API_URL is not set)"
        raise NotAnnounced(
            f"event {event} could not be emitted to {url} ({type(err).__name__}: {err}), so the batch was not stored"
        ) from err
    return arrival
