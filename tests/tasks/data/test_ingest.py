"""tasks/data/ingest.py and the data-in tasks inside a real Prefect flow run (temporary API and database)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort

from tasks.data.config import DataConfig
from tasks.data.ingest import ingest, ingest_files
from tasks.data.load import SourceError
from tasks.data.store import read_store
from tasks.data.validate import DataQualityError


def test_ingest_stores_good_quarantines_bad_and_adds_up(bad_corpus, tmp_path):
    home = tmp_path / "home"
    report = ingest_files(bad_corpus.files, home, DataConfig())
    assert (report.read, report.good, report.quarantined) == (
        bad_corpus.read,
        len(bad_corpus.good),
        len(bad_corpus.bad),
    )
    assert report.good + report.quarantined == report.read
    assert len(Path(report.quarantine_path).read_text(encoding="utf-8").splitlines()) == report.quarantined
    stored = read_store(home / "store")
    assert sorted(stored.chosen) == sorted(bad_corpus.good.values())
    assert Path(report.store_file).parent == home / "store"


def test_second_ingest_of_the_same_rows_stores_nothing_and_passes(tmp_path, write_pairs):
    """Yesterday's file again: every row is quarantined as already stored, and the run goes on."""
    home = tmp_path / "home"
    path = write_pairs(tmp_path / "day1.jsonl", [{"chosen": "a", "rejected": "b"}, {"chosen": "c", "rejected": "d"}])
    first = ingest_files([str(path)], home)
    again = ingest_files([str(path)], home)
    assert (first.good, again.good, again.by_rule, again.store_file) == (2, 0, {"duplicate_of_stored": 2}, None)
    assert len(read_store(home / "store")) == 2
    assert len(list((home / "quarantine").iterdir())) == 1


def test_garbage_is_refused_with_the_quarantine_named(tmp_path, write_pairs):
    home = tmp_path / "home"
    path = write_pairs(tmp_path / "bad.jsonl", [{"chosen": "x", "rejected": "x"}, {"chosen": "a"}])
    with pytest.raises(DataQualityError, match=r"no good preference pair.*bad.jsonl.*bad rows are in .*quarantine-"):
        ingest_files([str(path)], home)
    assert read_store(home / "store").empty


def test_new_day_adds_only_new_pairs(tmp_path, write_pairs):
    home = tmp_path / "home"
    ingest_files([str(write_pairs(tmp_path / "d1.jsonl", [{"chosen": "a", "rejected": "b"}]))], home)
    day2 = write_pairs(tmp_path / "d2.jsonl", [{"chosen": "a", "rejected": "b"}, {"chosen": "e", "rejected": "f"}])
    report = ingest_files([str(day2)], home, DataConfig(min_good_fraction=0.5))
    assert report.by_rule == {"duplicate_of_stored": 1} and report.good == 1
    assert sorted(read_store(home / "store").chosen) == ["a", "e"]


def test_missing_source_is_an_error(tmp_path):
    with pytest.raises(SourceError, match="missing.jsonl"):
        ingest_files([str(tmp_path / "missing.jsonl")], tmp_path)


def artifact_rows(key: str) -> list[dict]:
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(  # the newest: earlier tests of the session made some with this key
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC
        )
    data = artifacts[0].data
    return json.loads(data) if isinstance(data, str) else data


@flow(name="ingest-test")
def ingest_flow(sources: list[str], home: Path) -> dict:
    return ingest(sources, home).to_dict()


def test_ingest_task_inside_a_flow_run(prefect_harness, bad_corpus, tmp_path):
    report = ingest_flow(bad_corpus.files, tmp_path)
    assert report["good"] + report["quarantined"] == report["read"] == bad_corpus.read
    rows = {row["rule"]: row["rows"] for row in artifact_rows("ingest-rule-counts")}
    assert rows["(quarantined)"] == len(bad_corpus.bad)
    assert rows["(read)"] == bad_corpus.read and rows["duplicate"] == 1 and rows["truncated_file"] == 1
    assert Path(report["quarantine_path"]).is_file() and all(Path(f).is_file() for f in report["store_files"])


def test_real_shared_pairs_ingest(shared_pairs, tmp_path):
    report = ingest_files([str(shared_pairs)], tmp_path)
    assert (report.read, report.good, report.quarantined) == (1800, 1800, 0)
    store = read_store(tmp_path / "store", eval_fraction=0.1)
    assert len(store) == 1800 and 130 < (store.split == "eval").sum() < 230


def rows(tag: str, n: int = 12) -> list[dict]:
    return [{"chosen": f"{tag} yes {i}", "rejected": f"{tag} no {i}"} for i in range(n)]


def store_state(home: Path) -> list[str]:
    store = home / "store"
    return sorted(p.name for p in store.iterdir() if not p.name.startswith(".")) if store.is_dir() else []


def test_a_health_check_that_fails_leaves_the_store_as_it_was_and_a_rerun_stores_the_batch(tmp_path, write_pairs):
    from tasks.registry.models import ModelUnavailableError

    home = tmp_path / "home"
    ingest_files([str(write_pairs(tmp_path / "d1.jsonl", rows("one")))], home)
    before = store_state(home)
    night = write_pairs(tmp_path / "d2.jsonl", rows("two"))

    def broken_champion(batch):
        raise ModelUnavailableError("'reward-model' version 1: its artifacts lack model.safetensors")

    with pytest.raises(ModelUnavailableError, match="version 1"):
        ingest_files([str(night)], home, champion=broken_champion)
    assert store_state(home) == before and not list((home / "store").glob(".staging-*"))
    assert ingest_files([str(night)], home).good == 12  # the rerun finds the batch new


def test_a_batch_is_stored_and_announced_together_or_not_at_all(tmp_path, write_pairs):
    home = tmp_path / "home"
    ingest_files([str(write_pairs(tmp_path / "d1.jsonl", rows("one")))], home)
    before = store_state(home)
    night = write_pairs(tmp_path / "d2.jsonl", rows("two"))
    announced = []

    def server_down(report):
        assert Path(report.store_file).is_file()  # called once the batch is in the store
        raise RuntimeError("event could not be emitted")

    with pytest.raises(RuntimeError, match="could not be emitted"):
        ingest_files([str(night)], home, announce=server_down)
    assert store_state(home) == before
    report = ingest_files([str(night)], home, announce=announced.append)
    assert report.good == 12 and announced == [report] and len(store_state(home)) == len(before) + 1
