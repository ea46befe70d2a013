"""`rewardflow models --home DIR`: every version of the registered model, with accuracy, decision, aliases, date.

    rewardflow models --home .home/default           # a table, newest first
    rewardflow models --home .home/default --json    # one JSON object

A version no gate decided on shows as `ungated`, or `ungated (abandoned)` when the run that registered it
is gone (killed between registering and gating); the next run clears it.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from deployments.flags import FlagParser
from tasks.defaults import StoreArguments

PROG = "rewardflow models"


@dataclass
class RegistryDoor:
    """What the registry commands resolve once: the model name, its store, and the gate's lock."""

    name: str
    home: Path
    tracking_uri: str
    lock_path: str


def registry_parser(prog: str, description: str) -> FlagParser:
    """`--home` and the store flags (`StoreArguments`), the parser `models`, `promote` and `rollback` start from."""
    parser = FlagParser(StoreArguments, prog=prog, description=description)
    parser.add_argument("--home", required=True, help="Pipeline home: its MLflow store and its registry lock.")
    return parser


def open_registry(args: argparse.Namespace) -> RegistryDoor:
    """Resolve the store once and make it MLflow's process-wide registry, so nothing else is touched."""
    from tasks.registry.register import RegistryConfig
    from tasks.tracking.store import missing_store_file, resolve_tracking_uri, use_tracking

    home = Path(args.home).resolve()
    uri = resolve_tracking_uri(args.tracking_uri, home)
    if missing_store_file(uri) is not None:
        raise FileNotFoundError(f"no MLflow store at {uri}: nothing was registered under {home} yet")
    config = RegistryConfig(name=args.registered_model_name)
    return RegistryDoor(config.name, home, use_tracking(uri), config.resolved_lock_path(home))


def build_parser() -> FlagParser:
    parser = registry_parser(PROG, __doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")
    return parser


def print_table(name: str, rows: list) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{name}: {len(rows)} version(s)")
    benchmarks = sorted({name for row in rows for name in row.benchmarks})  # the same pairs for every version
    columns = ("version", "aliases", "decision", "accuracy", "champion then", *benchmarks, "created (UTC)", "reason")
    for column in columns:
        table.add_column(column)
    for row in rows:
        accuracy = "–" if row.accuracy is None else f"{row.accuracy:.4f}"
        then = "–" if row.champion_accuracy is None else f"{row.champion_accuracy:.4f}"
        scores = [row.benchmarks.get(name, "–").split(" ")[0] for name in benchmarks]
        table.add_row(
            row.version, ", ".join(row.aliases), row.decision, accuracy, then, *scores, row.created, row.reason
        )
    console = Console()
    if not console.is_terminal:  # a pipe or a log file: no terminal width to fit, keep each row on one line
        console = Console(width=200)
    console.print(table)


def main(argv: list[str]) -> int:
    from tasks.registry.champion import version_rows

    args = build_parser().parse_args(argv)
    try:
        door = open_registry(args)
    except FileNotFoundError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 1
    rows = version_rows(door.name)
    if args.json:
        print(json.dumps({"name": door.name, "store": door.tracking_uri, "versions": [r.to_dict() for r in rows]}))
    elif not rows:
        print(f"No version of {door.name!r} in {door.tracking_uri}.")
    else:
        print_table(door.name, rows)
    return 0
