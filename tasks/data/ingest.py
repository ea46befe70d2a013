"""Ingest: read new pair files, validate them against the store, quarantine the bad rows, store the good ones.

Shared by the flow and `rewardflow ingest`. The whole step holds a lock on the store so that two
ingests at once cannot both accept the same new pair. Files are processed in chunks of
`DataConfig.chunk_rows` rows, so memory stays flat whatever their size: each chunk is validated
against the store and the earlier chunks, its bad rows appended to the quarantine file and its good
pairs staged; the staged files join the store only once the whole batch passed the good-fraction check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock
from prefect import task

from rmcore.data_health import HealthConfig
from tasks.data.config import DataConfig
from tasks.data.health import ChampionOnBatch, batch_health, publish_health, record_hold, registry_champion
from tasks.data.id_index import IdIndex
from tasks.data.load import read_pair_chunks
from tasks.data.quarantine import QuarantineWriter, publish_rule_counts
from tasks.data.records import RawRecord
from tasks.data.store import (
    append_to_store,
    discard_staged,
    ids_array,
    publish_staged,
    sorted_ids_hash,
    staging_dir,
    stored_id_index,
)
from tasks.data.validate import (
    RULES,
    DataQualityError,
    ValidationResult,
    already_stored,
    check_good_counts,
    validate_records,
)


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
    store_files: list[str] = field(default_factory=list)
    chunks: int = 0
    batch_id: str | None = None  # names the batch for `rewardflow release`: the data hash's first 12 digits
    status: str = "ok"  # the health check's verdict: ok, warn or hold (stored, not trained on)
    health: dict[str, Any] = field(default_factory=dict)  # `rmcore.data_health.HealthReport.to_dict()`
    health_figures: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChunkTally:
    """Counts over the chunks of one batch, and the accepted ids (as `ids_array`s) for the batch's data hash."""

    read: int = 0
    seen: int = 0
    chunks: int = 0
    by_rule: Counter = field(default_factory=Counter)
    sources: dict[str, None] = field(default_factory=dict)
    good_ids: list[np.ndarray] = field(default_factory=list)

    def add(self, result: ValidationResult) -> None:
        self.read += result.read
        self.seen += already_stored(result)
        self.chunks += 1
        self.by_rule.update(result.counts_by_rule)
        self.sources.update(dict.fromkeys(result.sources))
        self.good_ids.append(ids_array(result.good["pair_id"]))

    @property
    def good(self) -> int:
        return sum(len(ids) for ids in self.good_ids)

    def counts_by_rule(self) -> dict[str, int]:
        return {rule: self.by_rule[rule] for rule in RULES if self.by_rule[rule]}

    def data_hash(self) -> str | None:
        if not self.good:
            return None
        self.good_ids = [np.concatenate(self.good_ids)]  # one copy, sorted in place
        return sorted_ids_hash(self.good_ids[0])


def ingest_chunks(chunks: Iterable[list[RawRecord]], home: Path, config: DataConfig) -> IngestReport:
    """Validate, quarantine and stage chunk by chunk; publish the staged pairs if the batch passes.

    Raises:
        SourceError: a source cannot be read (nothing is stored or quarantined).
        DataQualityError: too few good rows (bad rows are quarantined, nothing is stored).
    """
    store, tally = store_dir(home), ChunkTally()
    stored, accepted = stored_id_index(store), IdIndex()
    staging, writer = staging_dir(store), QuarantineWriter(quarantine_dir(home))
    try:
        for chunk in chunks:
            result = validate_records(chunk, config, stored, accepted)
            writer.write(result.bad)
            accepted.add(result.good["pair_id"])
            append_to_store(staging, result.good)
            tally.add(result)
    except BaseException:
        writer.abort()
        discard_staged(staging)
        raise
    quarantined = writer.close()
    try:
        check_good_counts(tally.good, tally.read, tally.seen, tally.counts_by_rule(), list(tally.sources), config)
    except DataQualityError as err:
        discard_staged(staging)
        where = f"bad rows are in {quarantined}" if quarantined else "no row was quarantined"
        raise DataQualityError(f"{err}; {where}") from err
    files = publish_staged(staging, store)
    return IngestReport(
        sources=list(tally.sources),
        read=tally.read,
        good=tally.good,
        quarantined=tally.read - tally.good,
        by_rule=tally.counts_by_rule(),
        data_hash=tally.data_hash(),
        quarantine_path=str(quarantined) if quarantined else None,
        store_file=str(files[0]) if files else None,
        store_files=[str(f) for f in files],
        chunks=tally.chunks,
    )


def check_health(
    home: Path, report: IngestReport, config: HealthConfig | None, champion: ChampionOnBatch | None
) -> None:
    """Grade the stored batch against the rest of the store; a `hold` is recorded (`tasks.data.holds`)."""
    if not report.good or not report.data_hash:
        return
    health = batch_health(store_dir(home), report.store_files, report.by_rule, report.read, config, champion)
    report.batch_id = report.data_hash[:12]
    report.status, report.health, report.health_figures = health.status, health.to_dict(), health.figures()
    record_hold(store_dir(home), report.batch_id, health, report.store_files, report.sources)


def ingest_files(
    sources: list[str],
    home: Path,
    config: DataConfig | None = None,
    health: HealthConfig | None = None,
    champion: ChampionOnBatch | None = None,
) -> IngestReport:
    """Read, validate (duplicates checked against the store), quarantine, append the good pairs, check health.

    Bad rows are quarantined even when the batch is refused, so nothing read is lost. A batch whose
    health check says `hold` is stored but left out of training until `rewardflow release BATCH`;
    `champion` (optional) scores the batch with the current champion for the accuracy-drop check.

    Raises:
        SourceError: a source cannot be opened.
        DataQualityError: no good row, or too few (the quarantine file is named in the message).
    """
    config = config or DataConfig()
    chunks = read_pair_chunks(sources, config.hub_split, config.chunk_rows)
    store = store_dir(home)
    store.mkdir(parents=True, exist_ok=True)
    with FileLock(str(store / ".ingest.lock")):
        report = ingest_chunks(chunks, home, config)
        report.sources = list(sources)
        check_health(home, report, health, champion)
    return report


@task(name="ingest-pairs")
def ingest(
    sources: list[str],
    home: Path,
    config: DataConfig | None = None,
    health: HealthConfig | None = None,
    registered_model: str | None = None,
    tracking_uri: str | None = None,
    trust_remote_code: bool = False,
) -> IngestReport:
    """Ingest pair files into the store under `home`; publish the counts per rule and the health checks.

    With `registered_model` and `tracking_uri`, its champion (if any) is scored on the new pairs, loaded
    with `trust_remote_code` as the run loads its models.
    """
    champion = None
    if registered_model and tracking_uri:
        champion = registry_champion(registered_model, tracking_uri, trust_remote_code=trust_remote_code)
    report = ingest_files(sources, home, config, health, champion)
    publish_rule_counts(report.to_dict(), key="ingest-rule-counts")
    if report.health:
        publish_health(report.health, report.batch_id or "")
    return report
