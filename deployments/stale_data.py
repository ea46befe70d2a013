"""The stale-data watch: a notice when no new pairs reached the store for a while (48 hours by default).

A pipeline fed by a nightly export fails quietly when the export stops: no data, no run, no error. The
`stale-data/notice` deployment carries a *proactive* trigger (Prefect starts it when an expected event
does not arrive in time): no `rewardflow.data.arrived` for this store within `stale_after_hours`.
The run records the event `rewardflow.data.stale` and a markdown artifact `stale-data` that people see
in the Prefect UI; the automation itself is listed under Automations, triggered until data arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.events import DeploymentEventTrigger, emit_event
from prefect.events.schemas.automations import Posture

from deployments.events import DATA_ARRIVED, store_resource

DATA_STALE = "rewardflow.data.stale"
STALE_NOTICE = "stale-data/notice"
# Prefect evaluates proactive triggers against a window of at least this many seconds.
MIN_WINDOW_SECONDS = 10.0


@dataclass
class StaleDataConfig:
    """When the pipeline says that no data has arrived."""

    stale_after_hours: float = field(
        default=48.0,
        metadata={
            "help": "Hours without a new-data event for the store before the stale-data notice runs "
            "(>= 10 seconds). Set it above the feed's normal gap: 48 covers a missed nightly export."
        },
    )

    def __post_init__(self) -> None:
        if self.stale_after_hours * 3600 < MIN_WINDOW_SECONDS:
            raise ValueError(
                f"StaleDataConfig.stale_after_hours must be at least {MIN_WINDOW_SECONDS / 3600:.4f} "
                f"(10 seconds, Prefect's shortest proactive window), got {self.stale_after_hours}"
            )


def stale_data_trigger(home: str, config: StaleDataConfig, event: str = DATA_ARRIVED) -> DeploymentEventTrigger:
    """Fires when the store of `home` sees no `event` within the window (and again after each quiet window)."""
    return DeploymentEventTrigger(
        name="no new data",
        description=f"Runs when no new pairs were stored ({event}) in {home} for {config.stale_after_hours:g} hours.",
        posture=Posture.Proactive,
        expect={event},
        match={"prefect.resource.id": store_resource(home)["prefect.resource.id"]},
        threshold=1,
        within=timedelta(hours=config.stale_after_hours),
        parameters={"home": home, "stale_after_hours": config.stale_after_hours},
    )


def notice_markdown(home: str, stale_after_hours: float, last_arrival: str | None, now: datetime) -> str:
    """The page a person sees: which store, since when, and what to check."""
    since = f"The last stored batch arrived at {last_arrival}." if last_arrival else "No batch has ever been stored."
    return (
        f"# No new data for {stale_after_hours:g} hours\n\n"
        f"Store: `{Path(home) / 'store'}`; checked at {now.isoformat(timespec='seconds')}.\n\n"
        f"{since} Check the feed that drops files into `{Path(home) / 'inbox'}` or runs "
        f"`rewardflow ingest`; the nightly run keeps training on the pairs already stored.\n"
    )


def last_arrival(home: str) -> str | None:
    """When the newest store file was written (UTC, ISO), or None when the store is empty."""
    files = sorted((Path(home) / "store").glob("pairs-*.parquet"), key=lambda p: p.stat().st_mtime)
    if not files:
        return None
    return datetime.fromtimestamp(files[-1].stat().st_mtime, timezone.utc).isoformat(timespec="seconds")


@flow(name="stale-data")
def stale_data_notice(home: str, stale_after_hours: float = 48.0) -> dict[str, Any]:
    """Record that no data arrived: the event `rewardflow.data.stale` and the markdown artifact `stale-data`."""
    from prefect.artifacts import create_markdown_artifact

    now, arrived = datetime.now(timezone.utc), last_arrival(home)
    payload = {"home": str(home), "stale_after_hours": stale_after_hours, "last_arrival": arrived}
    event = emit_event(event=DATA_STALE, resource=store_resource(home), payload=payload)
    create_markdown_artifact(
        markdown=notice_markdown(home, stale_after_hours, arrived, now),
        key="stale-data",
        description=f"no new pairs for {stale_after_hours:g} h",
    )
    get_run_logger().warning("no new data for %s in %g hours (last batch %s)", home, stale_after_hours, arrived)
    return {**payload, "event_id": str(event.id) if event else None}
