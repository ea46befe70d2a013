"""`rewardflow promote VERSION --home DIR --reason TEXT`: make a version the champion by hand.

The alias moves under the registry lock (never inside a gate's read-compare-write), only if the
version's files are all there, and the reason is recorded on the version (`rewardflow.champion_reason`).
"""

from __future__ import annotations

import sys

from deployments.flags import FlagParser
from rewardflow.models_cmd import open_registry, registry_parser

PROG = "rewardflow promote"


def build_parser() -> FlagParser:
    parser = registry_parser(PROG, __doc__.split("\n")[0])
    parser.add_argument("version", help="The version to make champion (see `rewardflow models`).")
    parser.add_argument("--reason", required=True, help="Why, in words; recorded on the version.")
    return parser


def main(argv: list[str]) -> int:
    from tasks.registry.champion import promote_version
    from tasks.registry.models import ModelUnavailableError

    args = build_parser().parse_args(argv)
    if not args.version.isdigit():
        print(f"{PROG}: error: VERSION must be a version number, got {args.version!r}", file=sys.stderr)
        return 2
    try:
        door = open_registry(args)
        previous = promote_version(door.name, args.version, args.reason, door.lock_path)
    except ModelUnavailableError as err:
        print(f"{PROG}: {err}; the champion is unchanged", file=sys.stderr)
        return 1
    except FileNotFoundError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 1
    print(f"{door.name} version {args.version} is now champion (was {previous or 'none'}): {args.reason}")
    return 0
