"""Pinned benchmarks: fixed evaluation files that every registered version is scored on.

The eval split grows with every ingest, so the held-out accuracies of successive versions are measured
on different pairs and a chart of them over runs compares unlike things. A benchmark is a file a team
names once (`rewardflow benchmark add FILE --home H`, or `benchmarks` in the flow's parameters). Its
pairs are validated by the pipeline's rules and frozen under `HOME/benchmarks/NAME.parquet` with a
small JSON record (source, pair count, content digest), so every later version is scored on exactly
the same pairs, whatever the source file becomes.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from tasks.atomic import write_atomic
from tasks.data.config import DataConfig
from tasks.data.files import read_valid_pairs
from tasks.data.store import data_hash

BENCHMARK_DIR = "benchmarks"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# A benchmark this small gives intervals too wide to compare versions on (±0.14 at 50 pairs).
MIN_BENCHMARK_PAIRS = 20


@dataclass(frozen=True)
class Benchmark:
    """One pinned benchmark: its name, the frozen pairs, and where they came from."""

    name: str
    path: str  # the frozen Parquet file under HOME/benchmarks/
    n_pairs: int
    digest: str  # sha256 of the sorted pair ids (`tasks.data.store.data_hash`)
    source: str  # the file it was pinned from, as given
    pinned_at: str  # UTC, ISO 8601


def benchmark_dir(home: str | Path) -> Path:
    return Path(home) / BENCHMARK_DIR


def benchmark_name(source: str, name: str | None) -> str:
    """The name given, or the source file's stem (`tests.jsonl.gz` -> `tests`); fails naming a bad one."""
    chosen = name if name is not None else Path(source).name.split(".")[0]
    if not NAME_PATTERN.match(chosen):
        raise ValueError(
            f"benchmark name {chosen!r}: use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit"
        )
    return chosen


def _record_path(home: str | Path, name: str) -> Path:
    return benchmark_dir(home) / f"{name}.json"


def read_record(home: str | Path, name: str) -> Benchmark | None:
    path = _record_path(home, name)
    if not path.is_file():
        return None
    return Benchmark(**json.loads(path.read_text()))


def pinned_benchmarks(home: str | Path) -> list[Benchmark]:
    """Every benchmark pinned under the home, by name."""
    folder = benchmark_dir(home)
    if not folder.is_dir():
        return []
    return [b for b in (read_record(home, p.stem) for p in sorted(folder.glob("*.json"))) if b is not None]


def pin_benchmark(
    home: str | Path, source: str, name: str | None = None, config: DataConfig | None = None
) -> Benchmark:
    """Validate `source` by the pipeline's rules and freeze its pairs as benchmark `name`.

    Pinning the same pairs again under the same name is a no-op; other pairs under a taken name are
    refused, because the point of a benchmark is that it never changes.

    Raises:
        BadRowsError: a row of the file breaks a rule (a benchmark must be clean, nothing is quarantined).
        ValueError: a bad name, too few pairs, or the name is taken by other pairs.
    """
    name = benchmark_name(source, name)
    pairs = read_valid_pairs([source], config or DataConfig(min_good_fraction=1.0))
    if len(pairs) < MIN_BENCHMARK_PAIRS:
        raise ValueError(
            f"{source}: {len(pairs)} valid pairs; a benchmark needs at least {MIN_BENCHMARK_PAIRS} "
            "to tell two versions apart"
        )
    digest = data_hash(pairs)
    existing = read_record(home, name)
    if existing is not None:
        if existing.digest == digest:
            return existing
        raise ValueError(
            f"benchmark {name!r} is already pinned with other pairs (from {existing.source}); "
            f"pin this file under another name (--name), or remove it first: rewardflow benchmark remove {name}"
        )
    folder = benchmark_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    frozen = write_atomic(folder / f"{name}.parquet", lambda tmp: pairs.to_parquet(tmp, index=False))
    pinned_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    benchmark = Benchmark(name, str(frozen), len(pairs), digest, str(source), pinned_at)
    write_atomic(_record_path(home, name), json.dumps(asdict(benchmark), indent=2))  # the record last: it is the pin
    return benchmark


def remove_benchmark(home: str | Path, name: str) -> bool:
    """Unpin a benchmark (versions keep the figures they were given). Returns whether it existed."""
    record = _record_path(home, name)
    existed = record.is_file()
    record.unlink(missing_ok=True)
    (benchmark_dir(home) / f"{name}.parquet").unlink(missing_ok=True)
    return existed


def read_benchmark(benchmark: Benchmark) -> pd.DataFrame:
    """The frozen pairs, in the order they were pinned."""
    if not Path(benchmark.path).is_file():
        raise FileNotFoundError(
            f"benchmark {benchmark.name!r}: its frozen pairs {benchmark.path} are gone (unpinned with "
            f"`rewardflow benchmark remove` while a run used it?); pin it again with "
            f"`rewardflow benchmark add {benchmark.source} --name {benchmark.name}`"
        )
    return pd.read_parquet(benchmark.path)
