"""`rewardflow rollback --home DIR [--reason TEXT]`: give `champion` back to the previous champion.

The previous champion is the newest earlier version that was promoted (by the gate or by hand) and whose
files are all there. With none, the alias is removed and the next run's model becomes champion as the
first one. The alias moves under the registry lock; the reason is recorded on both versions.
"""

from __future__ import annotations

import sys

from deployments.flags import FlagParser
from rewardflow.models_cmd import open_registry, registry_parser

PROG = "rewardflow rollback"


def build_parser() -> FlagParser:
    parser = registry_parser(PROG, __doc__.split("\n")[0])
    parser.add_argument("--reason", default="rolled back by hand", help="Why, in words; recorded on the versions.")
    return parser


def main(argv: list[str]) -> int:
    from tasks.registry.champion import rollback_champion

    args = build_parser().parse_args(argv)
    try:
        door = open_registry(args)
        was, now = rollback_champion(door.name, args.reason, door.lock_path)
    except (LookupError, FileNotFoundError) as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 1
    if now is None:
        print(
            f"{door.name}: no earlier champion whose files load; the champion alias is removed from version {was}, "
            "so the next run's model becomes champion"
        )
    else:
        print(f"{door.name} version {now} is champion again (was {was}): {args.reason}")
    return 0
