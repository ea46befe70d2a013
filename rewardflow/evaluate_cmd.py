"""`rewardflow evaluate`: score preference pairs with any reward model, a folder or an MLflow URI.

    rewardflow evaluate --model models:/reward-model@champion --data eval.jsonl.gz --json
    rewardflow evaluate --model runs/rm --data pairs.parquet --max_length 512

`--json` prints exactly one JSON object on stdout (everything else goes to stderr), so scripts can
pipe it; without it a rich table is printed. Bad input exits non-zero with an error naming the
file and what is wrong.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

import pandas as pd

from deployments.flags import FlagParser, from_arguments
from rmcore.models.scoring import ScoringConfig
from tasks.data.load import PAIR_SOURCES
from tasks.defaults import DEFAULT_HOME, StoreArguments

PROG = "rewardflow evaluate"


def build_parser() -> FlagParser:
    """How to score (`ScoringConfig`: batch size, length limit, precision, remote code), then what and where."""
    parser = FlagParser(
        (ScoringConfig, StoreArguments), prog=PROG, description="Score a reward model on preference pairs."
    )
    parser.add_argument(
        "--model",
        required=True,
        help="A saved model folder (a `rewardflow train --output_dir`, any save_pretrained folder, a downloaded "
        "MLflow model), or an MLflow URI: models:/NAME@ALIAS, models:/NAME/VERSION, runs:/ID/model.",
    )
    parser.add_argument("--data", required=True, help=f"Pairs with chosen/rejected (optional prompt): {PAIR_SOURCES}.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")
    parser.add_argument("--home", default=DEFAULT_HOME, help="Pipeline home whose MLflow store is the default.")
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The flags, with the scoring ones built into `args.scoring`; a bad value exits 2 naming its flag."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.scoring = from_arguments(ScoringConfig, args)
    except ValueError as err:
        parser.error(f"--{err}")
    if args.max_length is not None and args.max_length < 2:
        parser.error(f"--max_length must be at least 2 tokens, got {args.max_length}")
    return args


def read_pairs(path: str) -> pd.DataFrame:
    """The pairs, read and validated by the pipeline's rules; a bad row fails naming its file, line and rule."""
    from tasks.data.config import DataConfig
    from tasks.data.files import read_valid_pairs

    return read_valid_pairs([path], DataConfig())


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """Load the model and the pairs, score them, return the metrics with what was evaluated.

    A `models:/` or `runs:/` URI is resolved in the store `resolve_tracking_uri` picks (--tracking_uri, else
    $MLFLOW_TRACKING_URI, else the home's file), and MLflow is pointed there before anything else touches
    it, so nothing is written outside that store.
    """
    from tasks.evaluate import pair_metrics, pairs_summary
    from tasks.registry.models import is_mlflow_uri
    from tasks.registry.scorers import score_model

    pairs = read_pairs(args.data)
    if is_mlflow_uri(args.model):  # a folder needs no store, so none is opened (or created) for it
        from tasks.tracking.store import resolve_tracking_uri, use_tracking

        use_tracking(resolve_tracking_uri(args.tracking_uri, args.home))
    scored = score_model(args.model, pairs, args.scoring)
    summary = pairs_summary(pairs, scored) if len(scored) else {}
    return {"model": args.model, "data": args.data, **pair_metrics(scored), **summary}


def json_safe(result: dict[str, Any]) -> dict[str, Any]:
    """NaN and infinities become null (through nested sections too): strict JSON readers refuse them."""
    from rmcore.evaluation.report import json_safe as nested_json_safe

    return nested_json_safe(result)


def print_summary(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=PROG, show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    for key, value in result.items():
        if isinstance(value, dict | list):
            continue  # the sections are printed below
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    Console().print(table)
    if "slices" in result:
        from rmcore.evaluation.report import print_slice_table

        print_slice_table(result, "accuracy by slice")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from mlflow.exceptions import MlflowException

    try:
        # Libraries print progress and notices; keep stdout for the result alone.
        with contextlib.redirect_stdout(sys.stderr):
            result = evaluate(args)
    except (ValueError, OSError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    except MlflowException as err:  # e.g. a models:/ URI naming no model or alias
        print(f"{PROG}: error: {args.model}: {err.message}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(json_safe(result)))
    else:
        print_summary(result)
    return 0
