"""`rewardflow status --home DIR`: each process that `rewardflow up` started, alive or dead, with its URL."""

from __future__ import annotations

import argparse

from deployments.servers import export_lines, read_record, server_status


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rewardflow status", description=__doc__)
    parser.add_argument("--home", required=True, help="Pipeline home given to `rewardflow up`.")
    args = parser.parse_args(argv)
    rows = server_status(args.home)
    if not rows:
        print(f"No servers recorded under {args.home}; start them with `rewardflow up --home {args.home}`.")
        return 1
    for row in rows:
        state = "alive" if row["alive"] else "DEAD"
        print(f"  {row['name']:<8} pid {row['pid']:<8} {state:<6} {row['url']}  (log: {row['log']})")
    for line in export_lines(read_record(args.home) or {}):
        print(line)
    return 0 if all(row["alive"] for row in rows) else 1
