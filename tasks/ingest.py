"""Ingest: read new pair files, validate them against the store, quarantine the bad rows, store the good ones.

Shared by the flow and `rewardflow ingest`. The whole step holds a lock on the store so that two
ingests at once cannot both accept the same new pair.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock
from prefect import task

from tasks.data_config import DataConfig
from tasks.load import read_pair_records
from tasks.quarantine import publish_rule_counts, write_quarantine
from tasks.store import append_to_store, data_hash, stored_ids
from tasks.validate import DataQualityError, check_good_fraction, validate_records


def store_dir(home: Path) -> Path:
    return Path(home) / "store"


def quarantine_dir(home: Path) -> Path:
    return Path(home) / "quarantine"


@dataclass
class IngestReport:
    """What one ingest did; `read == good + quarantined`."""

    sources: list[str]
    read: int
    good: int
    quarantined: int
    by_rule: dict[str, int] = field(default_factory=dict)
    data_hash: str | None = None
    quarantine_path: str | None = None
    store_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ingest_files(sources: list[str], home: Path, config: DataConfig | None = None) -> IngestReport:
    """Read, validate (duplicates checked against the store), quarantine, then append the good pairs.

    Bad rows are quarantined even when the batch is refused, so nothing read is lost.

    Raises:
        SourceError: a source cannot be opened.
        DataQualityError: no good row, or too few (the quarantine file is named in the message).
    """
    config = config or DataConfig()
    records = read_pair_records(sources, config.hub_split)
    store = store_dir(home)
    store.mkdir(parents=True, exist_ok=True)
    with FileLock(str(store / ".ingest.lock")):
        result = validate_records(records, config, stored_ids(store))
        quarantined = write_quarantine(result.bad, quarantine_dir(home))
        try:
            check_good_fraction(result, config)
        except DataQualityError as err:
            raise DataQualityError(f"{err}; bad rows are in {quarantined}") from err
        stored = append_to_store(store, result.good)
    return IngestReport(
        sources=list(sources),
        read=result.read,
        good=len(result.good),
        quarantined=result.quarantined,
        by_rule=result.counts_by_rule,
        data_hash=data_hash(result.good),
        quarantine_path=str(quarantined) if quarantined else None,
        store_file=str(stored) if stored else None,
    )


@task(name="ingest_pairs")
def ingest(sources: list[str], home: Path, config: DataConfig | None = None) -> IngestReport:
    """Ingest pair files into the store under `home` and publish the counts per rule."""
    report = ingest_files(sources, home, config)
    publish_rule_counts(report.to_dict(), key="ingest-rule-counts")
    return report
