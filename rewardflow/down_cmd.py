"""`rewardflow down --home DIR`: stop exactly the processes that `rewardflow up` recorded in HOME/servers.json."""

from __future__ import annotations

from deployments.config import ServerConfig
from deployments.flags import FlagParser
from deployments.servers import stop_servers


def build_parser() -> FlagParser:
    parser = FlagParser(prog="rewardflow down", description=__doc__)
    parser.add_argument("--home", required=True, help="Pipeline home given to `rewardflow up`.")
    parser.add_argument(
        "--timeout", type=float, default=ServerConfig.stop_timeout, help="Seconds between SIGTERM and SIGKILL."
    )
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    outcome = stop_servers(args.home, args.timeout)
    if not outcome:
        print(f"No servers recorded under {args.home}: nothing to stop.")
        return 0
    for name, what in outcome.items():
        print(f"  {name:<8} {what}")
    return 0
