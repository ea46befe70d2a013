"""Ingest: read new pair files, validate them against the store, quarantine the bad rows, store the good ones.

Shared by the flow and `rewardflow ingest`. The whole step holds a lock on the store so that two
ingests at once cannot both accept the same new pair. Files are processed in chunks of
`DataConfig.chunk_rows` rows, so memory stays flat whatever their size: each chunk is validated
against the store and the earlier chunks, its bad rows appended to the quarantine file and its good
pairs staged; the staged files join the store only once the whole batch passed the good-fraction check
and the health check, and leave it again if announcing them fails: a batch is stored and announced
together, or not at all, so a rerun of a failed ingest finds it new.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock
from prefect import task

from rmcore.checks.data_health import HealthConfig, HealthReport
from rmcore.models.scoring import ScoringConfig
from tasks.data.config import DataConfig
from tasks.data.health import ChampionOnBatch, batch_health, publish_health, record_hold, registry_champion
from tasks.data.holds import read_holds, release_batch
from tasks.data.id_index import IdIndex
from tasks.data.load import read_pair_chunks
from tasks.data.quarantine import QuarantineWriter, publish_rule_counts
from tasks.data.records import RawRecord
from tasks.data.store import (
    STORE_PREFIX,
    append_to_store,
    discard_staged,
    ids_array,
    publish_staged,
    sorted_ids_hash,
    staging_dir,
    store_files,
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
    health: dict[str, Any] = field(default_factory=dict)  # `rmcore.checks.data_health.HealthReport.to_dict()`
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


def stage_chunks(chunks: Iterable[list[RawRecord]], home: Path, config: DataConfig) -> tuple[IngestReport, Path]:
    """Validate, quarantine and stage chunk by chunk; nothing joins the store here.

    Returns:
        (report, staging): the counts, and the folder holding the batch's staged store files.

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
    report = IngestReport(
        sources=list(tally.sources),
        read=tally.read,
        good=tally.good,
        quarantined=tally.read - tally.good,
        by_rule=tally.counts_by_rule(),
        data_hash=tally.data_hash(),
        quarantine_path=str(quarantined) if quarantined else None,
        store_files=[str(f) for f in staged_files(staging)],
        chunks=tally.chunks,
    )
    return report, staging


def staged_files(staging: Path) -> list[Path]:
    return sorted(Path(staging).glob(f"{STORE_PREFIX}*.parquet"))


def check_health(
    home: Path, report: IngestReport, config: HealthConfig | None, champion: ChampionOnBatch | None
) -> HealthReport | None:
    """Grade the batch's files (staged) against the store; the verdict goes into the report."""
    if not report.good or not report.data_hash:
        return None
    health = batch_health(store_dir(home), report.store_files, report.by_rule, report.read, config, champion)
    report.batch_id = report.data_hash[:12]
    report.status, report.health, report.health_figures = health.status, health.to_dict(), health.figures()
    return health


# Announces a stored batch (emits `rewardflow.data.arrived`); raising undoes the storing.
Announce = Callable[[IngestReport], None]


def publish_batch(
    home: Path, report: IngestReport, staging: Path, health: HealthReport | None, announce: Announce | None
) -> None:
    """Store the staged batch, record its hold or announce it: all of it, or (on any failure) none of it."""
    store = store_dir(home)
    existing = {p.name for p in store_files(store)}
    files = publish_staged(staging, store)
    report.store_files = [str(f) for f in files]
    report.store_file = report.store_files[0] if files else None
    try:
        held = health is not None and record_hold(
            store, report.batch_id or "", health, report.store_files, report.sources
        )
        if announce is not None and report.good and not held:
            announce(report)
    except BaseException:
        withdraw_batch(store, [f for f in files if f.name not in existing], report.batch_id)
        raise


def withdraw_batch(store: Path, files: list[Path], batch_id: str | None) -> None:
    """Undo `publish_batch`: the batch's new store files and its hold go; the store is as it was."""
    for path in files:
        path.unlink(missing_ok=True)
    if batch_id and batch_id in read_holds(store):
        release_batch(store, batch_id)


def ingest_files(
    sources: list[str],
    home: Path,
    config: DataConfig | None = None,
    health: HealthConfig | None = None,
    champion: ChampionOnBatch | None = None,
    announce: Announce | None = None,
) -> IngestReport:
    """Read, validate (duplicates checked against the store), quarantine, check health, store, announce.

    Bad rows are quarantined even when the batch is refused, so nothing read is lost. The health check
    grades the staged batch before it joins the store; a batch whose check says `hold` is stored but left
    out of training (and not announced) until `rewardflow release BATCH`. `champion` (optional) scores
    the batch with the current champion for the accuracy-drop check; `announce` (optional) is called
    once the batch is stored, and if it fails the batch is taken out again: stored and announced, or
    neither. The whole step holds the store's lock.

    Raises:
        SourceError: a source cannot be opened.
        DataQualityError: no good row, or too few (the quarantine file is named in the message).
        ModelUnavailableError: the champion cannot be loaded (the store is unchanged).
    """
    config = config or DataConfig()
    chunks = read_pair_chunks(sources, config.hub_split, config.chunk_rows)
    store = store_dir(home)
    store.mkdir(parents=True, exist_ok=True)
    with FileLock(str(store / ".ingest.lock")):
        report, staging = stage_chunks(chunks, home, config)
        report.sources = list(sources)
        try:
            verdict = check_health(home, report, health, champion)
            publish_batch(home, report, staging, verdict, announce)
        finally:
            discard_staged(staging)
    return report


@task(name="ingest-pairs")
def ingest(
    sources: list[str],
    home: Path,
    config: DataConfig | None = None,
    health: HealthConfig | None = None,
    registered_model: str | None = None,
    trust_remote_code: bool = False,
) -> IngestReport:
    """Ingest pair files into the store under `home`; publish the counts per rule and the health checks.

    With `registered_model`, its champion (if any) in the process-wide MLflow store is scored on the new
    pairs, loaded with `trust_remote_code` as the run loads its models.
    """
    champion = None
    if registered_model:
        champion = registry_champion(registered_model, ScoringConfig(trust_remote_code=trust_remote_code))
    report = ingest_files(sources, home, config, health, champion)
    publish_rule_counts(report.to_dict(), key="ingest-rule-counts")
    if report.health:
        publish_health(report.health, report.batch_id or "")
    return report
