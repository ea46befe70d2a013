"""`rewardflow up --home DIR`: start the Prefect server, the MLflow server and the deployment runner on 127.0.0.1."""

from __future__ import annotations

import sys

from deployments.config import ScheduleConfig, ServerConfig
from deployments.flags import FlagParser, from_arguments
from deployments.servers import export_lines, running_record, start_servers


def build_parser() -> FlagParser:
    """The servers' flags (`ServerConfig`, `--home` required) and the nightly deployment's (`ScheduleConfig`)."""
    return FlagParser(
        (ServerConfig, ScheduleConfig),
        required=("home",),
        prog="rewardflow up",
        description="Start the servers in the background with all state under --home; `rewardflow down` stops them.",
    )


def print_record(record: dict, heading: str) -> None:
    print(heading)
    for name, proc in record["processes"].items():
        print(f"  {name:<8} pid {proc['pid']:<8} {proc['url']}  (log: {proc['log']})")
    print(f"Prefect UI: {record['prefect_ui_url']}")
    print(f"MLflow UI:  {record['mlflow_tracking_uri']}")
    if "serve" in record["processes"]:
        print(f"Rewards:    {record['processes']['serve']['url']}/get_reward (OpenRLHF --reward.remote_url)")
    print("To use them from this shell:")
    for line in export_lines(record):
        print(f"  {line}")
    print(f"Stop them with: rewardflow down --home {record['home']}")


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = from_arguments(ServerConfig, args)
        schedule = from_arguments(ScheduleConfig, args)
    except ValueError as err:
        print(f"rewardflow up: {err}", file=sys.stderr)
        return 2
    if (record := running_record(config.home)) is not None:
        print_record(record, f"Already running for {config.home}:")
        return 0
    print(f"Starting the servers for {config.home} (this takes up to a minute)...", flush=True)
    try:
        record = start_servers(config, schedule)
    except (RuntimeError, TimeoutError, ValueError) as err:
        print(f"rewardflow up: {err}", file=sys.stderr)
        return 1
    print_record(record, "Started:")
    return 0
