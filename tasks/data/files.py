"""Pairs read straight from files, checked by the same rules as ingest, for `rewardflow train` and `evaluate`.

The command line has no store: its pairs are read, validated and deduplicated chunk by chunk exactly as
`tasks.data.ingest` does, and either refused with each bad row named (file, line, rule) or, given a
quarantine folder, set aside there as the pipeline does.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.data.config import DataConfig
from tasks.data.id_index import IdIndex
from tasks.data.load import read_pair_chunks
from tasks.data.quarantine import QuarantineWriter
from tasks.data.validate import DataQualityError, check_good_counts, validate_records

SHOWN_ROWS = 5


class BadRowsError(DataQualityError):
    """Rows that break a rule, with no quarantine to put them in: the command refuses to go on."""


def bad_rows_message(bad: list[dict], total: int) -> str:
    """Each bad row as `file:line: rules (message)`, the first few of them."""
    lines = [f"  {row['source_file']}:{row['line']}: {row['message']}" for row in bad[:SHOWN_ROWS]]
    more = f"\n  ... and {total - SHOWN_ROWS} more" if total > SHOWN_ROWS else ""
    return f"{total} bad row(s); fix them or pass --quarantine DIR to set them aside:\n" + "\n".join(lines) + more


def read_valid_pairs(sources: list[str], config: DataConfig, quarantine_dir: Path | None = None) -> pd.DataFrame:
    """The good pairs of `sources` in file order, with `pair_id` (duplicates refused as in the store).

    Raises:
        SourceError: a source cannot be opened.
        BadRowsError: a row breaks a rule and there is no `quarantine_dir` (nothing is written).
        DataQualityError: with `quarantine_dir`, too few good rows (the bad ones are kept there).
    """
    writer = QuarantineWriter(quarantine_dir) if quarantine_dir is not None else None
    accepted, frames, shown, n_bad, read = IdIndex(), [], [], 0, 0
    try:
        for chunk in read_pair_chunks(sources, config.hub_split, config.chunk_rows):
            result = validate_records(chunk, config, None, accepted)
            read += result.read
            n_bad += len(result.bad) if writer is None else 0
            shown += result.bad[: SHOWN_ROWS - len(shown)] if writer is None else []
            if writer is not None:
                writer.write(result.bad)
            accepted.add(result.good["pair_id"])
            frames.append(result.good)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if n_bad:
        raise BadRowsError(bad_rows_message(shown, n_bad))
    good = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["chosen", "rejected", "pair_id"])
    quarantined = writer.close() if writer is not None else None
    where = f"; bad rows are in {quarantined}" if quarantined else ""
    try:
        check_good_counts(len(good), read, 0, {}, list(sources), config)
    except DataQualityError as err:
        raise DataQualityError(f"{err}{where}") from err
    return good.drop(columns=["source_file", "source_line"], errors="ignore")
