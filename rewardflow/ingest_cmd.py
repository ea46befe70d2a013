"""`rewardflow ingest FILE... --home DIR`: validate and store new pairs, then announce them so the pipeline retrains.

The announcement is the Prefect event `rewardflow.data.arrived`, sent only when new pairs were stored:
the `nightly` deployment's trigger starts one training per announcement, so the same data twice trains once.
Each batch is checked against the store before it joins it (length distributions, chosen-longer share,
duplicates, category mix, and the champion's accuracy on it when there is one): a batch marked `hold` is
stored but not trained on, and not announced, until `rewardflow release BATCH`. A batch is stored and
announced together or not at all: any failure leaves the store as it was, so a rerun finds the batch new.
`--json` prints the whole report.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from datetime import timedelta
from pathlib import Path

from deployments.events import DATA_ARRIVED, NotAnnounced, announce_batch
from deployments.flags import FlagParser, add_flag, from_arguments
from deployments.servers import read_record
from rewardflow.ingest_view import batch_run_line, now_utc, phased, triggered_run_line
from rmcore.checks.data_health import HealthConfig
from tasks.data.config import DataConfig
from tasks.data.ingest import IngestReport, ingest_files
from tasks.data.load import PAIR_SOURCES
from tasks.defaults import StoreArguments
from tasks.registry.models import ModelUnavailableError
from tasks.tracking.store import resolve_tracking_uri, use_tracking


def build_parser() -> FlagParser:
    """The validation rules (`DataConfig`) and the health check (`HealthConfig`) as flags, then where to store."""
    parser = FlagParser(
        (DataConfig, HealthConfig, StoreArguments), prog="rewardflow ingest", description=__doc__.split("\n")[0]
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help=f"Pairs to store: {PAIR_SOURCES}.")
    add_flag(parser, "home", required=True, help="Pipeline home whose store receives the pairs.")
    add_flag(parser, "event", default=DATA_ARRIVED, help="Event to emit when new pairs were stored.")
    add_flag(parser, "json", action="store_true", help="Print the ingest report as one JSON object.")
    return parser


def champion_scorer(args: argparse.Namespace):
    """The champion to score the batch with, or None when asked not to (`--registered_model_name none`)."""
    if args.registered_model_name.lower() == "none":
        return None
    from tasks.data.health import registry_champion

    return registry_champion(args.registered_model_name)


def health_lines(report: IngestReport) -> list[str]:
    """The health verdict and each check that warned or held, for people."""
    if not report.health:
        return []
    lines = [f"Health of batch {report.batch_id}: {report.status}"]
    lines += [f"  {reason}" for reason in report.health["reasons"]]
    return lines


def running_prefect_api(home: str | Path) -> str | None:
    """PREFECT_API_URL from the environment, else from the servers `rewardflow up` started for this home."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    record = read_record(home)
    return record["prefect_api_url"] if record else None


class Announcer:
    """Emits the arrival event to this home's Prefect server once the batch is stored.

    Called by `ingest_files` inside its lock; `announce_batch` refuses the batch when the server cannot take
    the event, so it leaves the store again and a rerun finds it new. This adds only what the command
    knows: this home's server, the sent id, and when to look for the run it started. Nothing else happens
    under the lock: which run the event started is looked up afterwards (`note`).
    """

    def __init__(self, home: Path, event: str) -> None:
        self.home, self.event = home, event
        self.url: str | None = None
        self.sent_id: str | None = None
        self.since = now_utc()

    def __call__(self, report: IngestReport) -> None:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        self.url = running_prefect_api(self.home)
        if self.url is None:
            return
        self.since = now_utc() - timedelta(seconds=2)  # the run the event starts is created after this
        try:
            with temporary_settings(updates={PREFECT_API_URL: self.url}):
                sent = announce_batch(self.home, report, self.event)
        except NotAnnounced as err:  # the same refusal, with what a person at the terminal can do about it
            raise NotAnnounced(
                f"{err}; rerun `rewardflow ingest` once the Prefect server answers "
                f"(`rewardflow status --home {self.home}`)"
            ) from err
        self.sent_id = str(sent.id)

    def note(self) -> str:
        """What the announcement did, and the flow run it started (looked up once the store is unlocked)."""
        if self.url is None:
            return (
                f"no Prefect server for {self.home} (run `rewardflow up --home {self.home}`): no event; "
                "the nightly run trains on it"
            )
        sent = f"event {self.event} emitted to {self.url} (id {self.sent_id})"
        try:
            started = triggered_run_line(self.url, self.event, self.since)
        except Exception as err:  # only a lookup for the user: the batch is stored and announced whatever it says
            started = f"could not look up the flow run it started ({type(err).__name__}: {err}); see {self.url}"
        return f"{sent}\n{started}"


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    home = Path(args.home).resolve()
    use_tracking(resolve_tracking_uri(args.tracking_uri, home))  # the champion's store and the batch's MLflow run
    out = sys.stdout
    try:
        config, health = from_arguments(DataConfig, args), from_arguments(HealthConfig, args)
        announcer = Announcer(home, args.event)
        with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
            scorer = phased(champion_scorer(args), lambda line: print(line, flush=True))  # says it is slow
            report = ingest_files(args.files, home, config, health, scorer, announcer)
        notes = ingest_notes(home, report, args, announcer)
    except ValueError as err:  # a source that cannot be read, or too few good rows (file, row and rule named)
        print(f"rewardflow ingest: {err}", file=sys.stderr)
        return 1
    except ModelUnavailableError as err:  # the champion the health check asks cannot be loaded
        print(f"rewardflow ingest: {err}; the data store is unchanged", file=sys.stderr)
        return 1
    if args.json:
        from rmcore.evaluation.report import json_safe

        print(json.dumps(json_safe({**report.to_dict(), "notes": notes}), default=str), file=out)
    else:
        print("\n".join(notes), file=out)
    return 0


def ingest_notes(home: Path, report: IngestReport, args: argparse.Namespace, announcer: Announcer) -> list[str]:
    """What happened, line by line, ending with what the announcement did (none when nothing was new or held)."""
    notes = [
        f"Stored {report.good} new pair(s) of {report.read} read; {report.quarantined} quarantined {report.by_rule}"
    ]
    if report.quarantine_path:
        notes.append(f"Quarantined rows: {report.quarantine_path}")
    if report.good == 0:
        return [*notes, f"Nothing new in {', '.join(args.files)}: no pair that {home / 'store'} lacks; no event."]
    notes += health_lines(report)
    notes += [line] if (line := batch_run_line(home, report)) else []  # MLflow run `ingest <batch>`
    if report.status == "hold":
        return [*notes, f"Not trained on until `rewardflow release {report.batch_id} --home {home}`; no event."]
    return [*notes, announcer.note()]
