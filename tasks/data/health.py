"""Data health at ingest: the new batch against the store, graded ok / warn / hold, and a hold recorded.

The statistics are `rmcore.checks.data_health`; this module reads the frames they need from the store (the
batch's files, and a bounded sample of the other files as the reference), asks the champion when one
is given, records a hold (`tasks.data.holds`) and publishes the figures as a Prefect table artifact.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from rmcore.checks.data_health import HealthConfig, HealthReport, assess_batch
from rmcore.models.scoring import ScoringConfig
from tasks.data.holds import held_file_names, hold_batch
from tasks.registry.scorers import score_model

DUPLICATE_RULES = ("duplicate", "swapped_duplicate", "duplicate_of_stored")
TEXT_COLUMNS = ("prompt", "chosen", "rejected")
# Reference pairs read from the store: enough for stable deciles, bounded for memory on large stores.
MAX_REFERENCE_PAIRS = 20_000

# Maps the batch's pairs to the champion's outcomes on them and its held-out accuracy; None = no champion.
ChampionOnBatch = Callable[[pd.DataFrame], tuple[np.ndarray, float] | None]


def _columns(path: Path, wanted: tuple[str, ...]) -> list[str]:
    import pyarrow.parquet as pq

    names = set(pq.read_schema(path).names)
    return [c for c in (*TEXT_COLUMNS, *wanted) if c in names]


def read_frames(paths: list[Path], category_columns: tuple[str, ...], limit: int | None = None) -> pd.DataFrame:
    """Text and category columns of the files; with `limit`, a seeded sample of at most that many rows."""
    frames = [pd.read_parquet(p, columns=_columns(p, category_columns)) for p in paths]
    if not frames:
        return pd.DataFrame(columns=["chosen", "rejected"])
    df = pd.concat(frames, ignore_index=True)
    if "prompt" in df:
        df["prompt"] = df["prompt"].fillna("")
    if limit is not None and len(df) > limit:
        df = df.sample(n=limit, random_state=0).reset_index(drop=True)
    return df


def batch_health(
    store_dir: Path,
    batch_files: list[str],
    by_rule: dict[str, int],
    read: int,
    config: HealthConfig | None = None,
    champion: ChampionOnBatch | None = None,
) -> HealthReport:
    """Grade a batch (its files, staged or stored) against the rest of the store, held batches excluded.

    `batch_files` are paths: an ingest grades its staged files before they join the store, so a failure
    here (say, a champion that cannot be loaded) leaves the store as it was.
    """
    from tasks.data.store import store_files

    config = config or HealthConfig()
    names = {Path(f).name for f in batch_files}
    held = held_file_names(store_dir)
    others = [p for p in store_files(store_dir) if p.name not in names and p.name not in held]
    batch = read_frames(sorted(map(Path, batch_files)), config.category_columns)
    reference = read_frames(others, config.category_columns, MAX_REFERENCE_PAIRS)
    duplicates = sum(by_rule.get(rule, 0) for rule in DUPLICATE_RULES)
    scored = champion(batch) if champion is not None and len(batch) else None
    correct, heldout = scored if scored is not None else (None, None)
    return assess_batch(batch, reference, config, duplicates, read, correct, heldout)


def record_hold(store_dir: Path, batch_id: str, report: HealthReport, files: list[str], sources: list[str]) -> bool:
    """Put the batch on hold when its report says so; returns whether it is held."""
    if report.status != "hold":
        return False
    hold_batch(store_dir, batch_id, files, report.reasons, sources)
    return True


def health_rows(health: dict) -> list[dict]:
    """The checks of a `HealthReport.to_dict()` as table rows: check, value, warn, hold, status, detail."""
    return [
        {"check": c["name"], **{k: c[k] for k in ("value", "warn", "hold", "status", "detail")}}
        for c in health["checks"]
    ]


def publish_health(health: dict, batch_id: str, key: str = "ingest-health") -> bool:
    """A Prefect table artifact of the checks, only inside a flow or task run. Returns whether it was made."""
    from prefect.artifacts import create_table_artifact

    from tasks.data.quarantine import in_prefect_run

    if not in_prefect_run():
        return False
    held = " (held: not trained on until `rewardflow release`)" if health["status"] == "hold" else ""
    description = f"batch {batch_id}: {health['status']}{held}, {health['n_batch']} pairs vs {health['n_reference']}"
    create_table_artifact(health_rows(health), key=key, description=description)
    return True


def registry_champion(name: str, scoring: ScoringConfig = ScoringConfig()) -> ChampionOnBatch:
    """A `ChampionOnBatch` that scores the registry's `champion` (if any) and reads its gated accuracy.

    The champion is fetched from the process-wide store (opened by the entry point) and scored by
    `tasks.registry.scorers`, the gate's own scorer; one whose artifacts are gone raises
    `ModelUnavailableError` naming the version and the fix.
    """

    def score(batch: pd.DataFrame) -> tuple[np.ndarray, float] | None:
        from mlflow.exceptions import MlflowException

        from tasks.tracking.store import client

        try:
            version = client().get_model_version_by_alias(name, "champion")
        except MlflowException:
            return None  # no registered model or no champion yet
        heldout = version.tags.get("gate.challenger_accuracy")
        if heldout is None:
            return None
        scored = score_model(f"models:/{name}/{version.version}", batch, scoring)
        return scored["correct"].to_numpy(dtype=np.float64), float(heldout)

    return score
