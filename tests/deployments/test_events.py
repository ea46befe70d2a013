"""The data-arrived event: its resource, payload and id (sending it is covered by test_service.py)."""

from __future__ import annotations

from deployments.events import DATA_ARRIVED, arrival_payload, event_id, store_resource
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
