"""The deployments of rewardflow, defined once and served by `python -m deployments.nightly --home HOME`.

- `reward-model/nightly`: flow `reward-model` on the data store, on a cron schedule (02:00 UTC by default),
  and also whenever the event `rewardflow.data.arrived` says new pairs were stored.
- `inbox-sensor/inbox`: every minute, ingests the files dropped into HOME/inbox/ and announces them.
- `stale-data/notice`: a proactive trigger runs it when no new data arrived for 48 hours (configurable):
  it records the event `rewardflow.data.stale` and a notice in the Prefect UI.

`rewardflow up` starts this module as the runner (`prefect.serve`, no work pool needed), with
PREFECT_API_URL pointing at its server. Run by hand: `PREFECT_API_URL=... python -m deployments.nightly --home DIR`.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.events import DeploymentEventTrigger
from prefect.schedules import Cron, Interval

from deployments.config import ScheduleConfig
from deployments.flags import FlagParser, add_flag, from_arguments
from deployments.inbox import inbox_sensor
from deployments.stale_data import STALE_NOTICE, StaleDataConfig, stale_data_notice, stale_data_trigger
from flows.reward_model import reward_model

NIGHTLY = "reward-model/nightly"
INBOX_SENSOR = "inbox-sensor/inbox"


def nightly_parameters(home: str, schedule: ScheduleConfig) -> dict[str, Any]:
    """The `params` (RewardFlowParams) of every scheduled or triggered run: HOME's store, as configured."""
    return {"params": {**schedule.params, "home": home}}


def build_deployments(
    home: str, schedule: ScheduleConfig, stale: StaleDataConfig | None = None
) -> list[RunnerDeployment]:
    """The deployments of HOME: nightly (schedule + data trigger), the inbox sensor, the stale-data notice."""
    trigger = DeploymentEventTrigger(
        name="retrain on new data",
        description=f"Runs when new pairs are stored ({schedule.event}): trains, evaluates and registers "
        "behind the champion gate.",
        expect={schedule.event},
        match={"prefect.resource.id": "rewardflow.store.*"},
    )
    nightly = reward_model.to_deployment(
        name="nightly",
        schedules=[Cron(schedule.cron, timezone=schedule.timezone)],
        triggers=[trigger],
        parameters=nightly_parameters(home, schedule),
        description=f"Train on the data store of {home}; nightly at `{schedule.cron}` ({schedule.timezone}).",
        tags=["rewardflow"],
    )
    sensor = inbox_sensor.to_deployment(
        name="inbox",
        schedules=[Interval(schedule.inbox_interval)],
        parameters={"home": home, "event": schedule.event},
        description=f"Ingest files dropped into {Path(home) / 'inbox'} and announce new pairs.",
        tags=["rewardflow"],
    )
    notice = stale_data_notice.to_deployment(
        name="notice",
        triggers=[stale_data_trigger(home, stale or StaleDataConfig(), schedule.event)],
        description=f"Says so when no new pairs reached {Path(home) / 'store'} for a while.",
        tags=["rewardflow"],
    )
    return [nightly, sensor, notice]


def build_parser() -> FlagParser:
    """The schedule (`ScheduleConfig`) and the stale-data notice (`StaleDataConfig`) as flags, and the home."""
    parser = FlagParser(
        (ScheduleConfig, StaleDataConfig), prog="python -m deployments.nightly", description=__doc__.split("\n")[0]
    )
    add_flag(parser, "home", required=True, help="Pipeline home whose data store the runs train on.")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    schedule, stale = from_arguments(ScheduleConfig, args), from_arguments(StaleDataConfig, args)
    home = str(Path(args.home).resolve())
    print(f"serving {NIGHTLY}, {INBOX_SENSOR} and {STALE_NOTICE} for {home}: {asdict(schedule)}", flush=True)
    serve(*build_deployments(home, schedule, stale), limit=schedule.concurrency)
    return 0


if __name__ == "__main__":
    sys.exit(main())
