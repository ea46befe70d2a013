"""`rewardflow down --home DIR`: stop exactly the processes that `rewardflow up` recorded in HOME/servers.json."""

from __future__ import annotations

import argparse

from deployments.config import ServerConfig
from deployments.servers import stop_servers


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rewardflow down", description=__doc__)
    parser.add_argument("--home", required=True, help="Pipeline home given to `rewardflow up`.")
    parser.add_argument(
        "--timeout", type=float, default=ServerConfig.stop_timeout, help="Seconds between SIGTERM and SIGKILL."
    )
    args = parser.parse_args(argv)
    outcome = stop_servers(args.home, args.timeout)
    if not outcome:
        print(f"No servers recorded under {args.home}: nothing to stop.")
        return 0
    for name, what in outcome.items():
        print(f"  {name:<8} {what}")
    return 0
