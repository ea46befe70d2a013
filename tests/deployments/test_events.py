"""The data-arrived event: its resource, payload and id, and `announce_batch` sending it or refusing the batch
(the trigger it starts is covered by test_service.py)."""

from __future__ import annotations

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.events import DATA_ARRIVED, NotAnnounced, announce_batch, arrival_payload, event_id, store_resource
from tasks.data.ingest import IngestReport


def test_payload_holds_the_data_hash_and_counts():
    report = IngestReport(sources=["a.jsonl"], read=10, good=7, quarantined=3, by_rule={"non_empty": 3}, data_hash="h")
    payload = arrival_payload(report)
    assert payload == {
        "data_hash": "h",
        "new_pairs": 7,
        "read": 10,
        "quarantined": 3,
        "by_rule": {"non_empty": 3},
        "sources": ["a.jsonl"],
    }


def test_one_event_id_per_store_state():
    assert event_id(DATA_ARRIVED, "h1") == event_id(DATA_ARRIVED, "h1")
    assert event_id(DATA_ARRIVED, "h1") != event_id(DATA_ARRIVED, "h2")


def test_resource_names_the_store_of_one_home(tmp_path):
    a, b = store_resource(tmp_path / "a"), store_resource(tmp_path / "b")
    assert a["prefect.resource.id"].startswith("rewardflow.store.") and a != b
    assert a["prefect.resource.name"] == str((tmp_path / "a").resolve())


def stored_report() -> IngestReport:
    return IngestReport(sources=["a.jsonl"], read=4, good=4, quarantined=0, by_rule={}, data_hash="h-announce")


def test_announce_batch_sends_the_event_of_the_store_state(prefect_harness, tmp_path):
    sent = announce_batch(tmp_path, stored_report())
    assert sent.event == DATA_ARRIVED and sent.id == event_id(DATA_ARRIVED, "h-announce")
    assert sent.payload["new_pairs"] == 4 and sent.resource.id == store_resource(tmp_path)["prefect.resource.id"]


def test_announce_batch_refuses_when_the_server_cannot_be_reached(tmp_path):
    # Port 9: nothing listens, as when the home's Prefect server is down. emit_event would still return the
    # event (its background worker fails later, unseen); the batch must not be stored unannounced.
    url = "http://127.0.0.1:9/api"
    refused = rf"event custom\.arrived could not be emitted to {url} \(.*\), so the batch was not stored"
    with temporary_settings(updates={PREFECT_API_URL: url}):
        with pytest.raises(NotAnnounced, match=refused):
            announce_batch(tmp_path, stored_report(), "custom.arrived")
