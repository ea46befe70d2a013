"""`rewardflow ingest FILE... --home DIR`: validate and store new pairs, then announce them so the pipeline retrains.

The announcement is the Prefect event `rewardflow.data.arrived`, sent only when new pairs were stored:
the `nightly` deployment's trigger starts one training per announcement, so the same data twice trains once.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from deployments.config import add_arguments, from_arguments
from deployments.events import DATA_ARRIVED, arrival_payload, emit_data_arrived
from deployments.servers import read_record
from tasks.data.config import DataConfig
from tasks.data.ingest import IngestReport, ingest_files
from tasks.data.load import PAIR_SOURCES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rewardflow ingest",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help=f"Pairs to store: {PAIR_SOURCES}.")
    parser.add_argument("--home", required=True, help="Pipeline home whose store receives the pairs.")
    parser.add_argument("--event", default=DATA_ARRIVED, help="Event to emit when new pairs were stored.")
    add_arguments(parser.add_argument_group("validation"), DataConfig)
    return parser


def prefect_api_url(home: str | Path) -> str | None:
    """PREFECT_API_URL from the environment, else from the servers `rewardflow up` started for this home."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    record = read_record(home)
    return record["prefect_api_url"] if record else None


def announce(home: Path, report: IngestReport, event: str) -> str:
    """Emit the event to this home's Prefect server; returns what happened, for the user."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = prefect_api_url(home)
    if url is None:
        return (
            f"no Prefect server for {home} (run `rewardflow up --home {home}`): no event; the nightly run trains on it"
        )
    with temporary_settings(updates={PREFECT_API_URL: url}):
        sent = emit_data_arrived(home, arrival_payload(report), event)
    return f"event {event} emitted to {url} (id {sent.id})" if sent else f"event {event} could not be emitted to {url}"


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    home = Path(args.home).resolve()
    try:
        config = from_arguments(DataConfig, args)
        report = ingest_files(args.files, home, config)
    except ValueError as err:  # a source that cannot be read, or too few good rows (file, row and rule named)
        print(f"rewardflow ingest: {err}", file=sys.stderr)
        return 1
    print(f"Stored {report.good} new pair(s) of {report.read} read; {report.quarantined} quarantined {report.by_rule}")
    if report.quarantine_path:
        print(f"Quarantined rows: {report.quarantine_path}")
    if report.good == 0:
        print(f"Nothing new in {', '.join(args.files)}: no pair that {home / 'store'} lacks; no event.")
        return 0
    print(announce(home, report, args.event))
    return 0
