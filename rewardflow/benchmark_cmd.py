"""`rewardflow benchmark add|list|remove --home DIR`: the fixed evaluation files every version is scored on.

    rewardflow benchmark add tests.jsonl --home ~/rf            # pin it as `tests`
    rewardflow benchmark add hard.jsonl --name hard --home ~/rf
    rewardflow benchmark list --home ~/rf
    rewardflow benchmark remove hard --home ~/rf

Every version registered afterwards is scored on each pinned benchmark (`benchmark.<name>.accuracy` on
its run, so MLflow charts it over versions on the same pairs); `--gate_no_regression_on NAME` on
`rewardflow run` makes the gate refuse a challenger that is clearly worse than the champion there.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from deployments.flags import FlagParser

PROG = "rewardflow benchmark"


def build_parser() -> FlagParser:
    parser = FlagParser(prog=PROG, description=__doc__.split("\n")[0])
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="Validate a pair file and pin its pairs as a benchmark.")
    add.add_argument("file", help="Pair file (JSONL, JSONL.gz, JSON, Parquet, CSV); every row must be valid.")
    add.add_argument("--name", default=None, help="Benchmark name; None = the file's name up to its first dot.")
    listing = actions.add_parser("list", help="List the pinned benchmarks.")
    remove = actions.add_parser("remove", help="Unpin a benchmark (versions keep the figures they were given).")
    remove.add_argument("name", help="Name of the pinned benchmark.")
    for sub in (add, listing, remove):
        sub.add_argument("--home", required=True, help="Pipeline home whose versions the benchmark measures.")
        sub.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")
    return parser


def main(argv: list[str]) -> int:
    from tasks.data.benchmarks import pin_benchmark, pinned_benchmarks, remove_benchmark

    args = build_parser().parse_args(argv)
    if args.action == "add":
        pinned = pin_benchmark(args.home, args.file, args.name)
        result: dict = {"pinned": asdict(pinned)}
        text = f"Pinned benchmark {pinned.name!r}: {pinned.n_pairs} pairs from {pinned.source} ({pinned.path})."
    elif args.action == "list":
        benchmarks = pinned_benchmarks(args.home)
        result = {"benchmarks": [asdict(b) for b in benchmarks]}
        lines = [f"{len(benchmarks)} pinned benchmark(s) under {args.home}" + (":" if benchmarks else ".")]
        lines += [f"  {b.name:<16} {b.n_pairs:>6} pairs  pinned {b.pinned_at}  from {b.source}" for b in benchmarks]
        text = "\n".join(lines)
    else:
        existed = remove_benchmark(args.home, args.name)
        result = {"removed": args.name if existed else None}
        text = f"Removed benchmark {args.name!r}." if existed else f"No benchmark named {args.name!r} is pinned."
    print(json.dumps(result) if args.json else text)
    return 0
