"""`rewardflow validate FILE... [--quarantine DIR] [--json]`: check pair files before they reach the pipeline.

Prints how many rows were read, good and quarantined, and the count per rule. The exit code is non-zero
only when nothing is good (1) or a file cannot be opened (2): a few bad rows are normal and are reported.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from deployments.flags import FlagParser
from tasks.data.config import DataConfig
from tasks.data.load import PAIR_SOURCES


def build_parser() -> FlagParser:
    parser = FlagParser(DataConfig, prog="rewardflow validate", description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", help=f"Pairs to validate: {PAIR_SOURCES}.")
    parser.add_argument("--quarantine", default=None, help="Folder to write the bad rows to (JSONL). Default: none.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")
    return parser


def print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="rewardflow validate")
    table.add_column("rule")
    table.add_column("rows", justify="right")
    for rule, count in summary["by_rule"].items():
        table.add_row(rule, str(count))
    for name in ("read", "good", "quarantined"):
        table.add_row(f"[bold]{name}[/bold]", f"[bold]{summary[name]}[/bold]")
    console = Console()
    console.print(table)
    if summary["quarantine_file"]:
        console.print(f"bad rows written to {summary['quarantine_file']}")


def main(argv: list[str]) -> int:
    try:
        config, args = build_parser().parse_args_into_dataclasses(argv)
    except ValueError as err:  # DataConfig.__post_init__ names the bad field
        print(f"rewardflow validate: {err}", file=sys.stderr)
        return 2
    from tasks.data.load import SourceError, read_pair_records
    from tasks.data.quarantine import write_quarantine
    from tasks.data.validate import DataQualityError, check_good_fraction, validate_records

    try:
        records = read_pair_records(args.files, config.hub_split)
    except SourceError as err:
        print(f"rewardflow validate: {err}", file=sys.stderr)
        return 2
    result = validate_records(records, config, set())
    path = write_quarantine(result.bad, args.quarantine) if args.quarantine else None
    summary = {**result.summary(), "quarantine_file": str(path) if path else None, "sources": result.sources}
    if args.json:
        print(json.dumps(summary))
    else:
        print_summary(summary)
    try:
        check_good_fraction(result, config)
    except DataQualityError as err:
        nothing_good = len(result.good) == 0
        print(f"rewardflow validate: {'' if nothing_good else 'warning: '}{err}", file=sys.stderr)
        return 1 if nothing_good else 0
    return 0
