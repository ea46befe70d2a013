"""`rewardflow release BATCH --home DIR`: train on a held batch again (its health check said `hold`).

    rewardflow release --home .home/default            # list the held batches and why
    rewardflow release 3f2a9c --home .home/default     # release one (a unique prefix of its id)

The batch's pairs were stored when it was ingested; releasing only lets the next run train on them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from deployments.flags import FlagParser

PROG = "rewardflow release"


def build_parser() -> FlagParser:
    parser = FlagParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("batch", nargs="?", help="Id of the held batch (or a unique prefix); none = list them.")
    parser.add_argument("--home", required=True, help="Pipeline home whose store holds the batch.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")
    return parser


def main(argv: list[str]) -> int:
    from tasks.data.holds import read_holds, release_batch

    args = build_parser().parse_args(argv)
    store = Path(args.home).resolve() / "store"
    try:
        if args.batch is None:
            result = {"held": read_holds(store)}
        else:
            result = {"released": release_batch(store, args.batch)}
    except ValueError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
    elif "held" in result:
        held = result["held"]
        print(f"{len(held)} held batch(es) in {store}" + (":" if held else "."))
        for batch, entry in sorted(held.items()):
            print(f"  {batch}  held {entry['held_at']}  {', '.join(entry['sources'])}")
            for reason in entry["reasons"]:
                print(f"      {reason}")
    else:
        released = result["released"]
        print(f"Released batch {released['batch']} ({len(released['files'])} file(s)); the next run trains on it.")
    return 0
