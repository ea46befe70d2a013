"""The stale-data watch: a proactive trigger on the store, and the notice it runs, on a real Prefect server."""

from __future__ import annotations

from datetime import timedelta

import pytest

from deployments.config import ScheduleConfig
from deployments.events import store_resource
from deployments.nightly import build_deployments
from deployments.stale_data import DATA_STALE, StaleDataConfig, notice_markdown, stale_data_notice


def test_the_notice_deployment_waits_for_the_absence_of_new_data(tmp_path):
    *_, notice = build_deployments(str(tmp_path), ScheduleConfig(), StaleDataConfig(stale_after_hours=6))
    assert (notice.flow_name, notice.name) == ("stale-data", "notice")
    (trigger,) = notice.triggers
    assert trigger.posture == "Proactive"
    assert trigger.expect == {"rewardflow.data.arrived"} and trigger.threshold == 1
    assert trigger.within == timedelta(hours=6)
    assert trigger.match.model_dump()["prefect.resource.id"] == store_resource(tmp_path)["prefect.resource.id"]
    assert trigger.parameters == {"home": str(tmp_path), "stale_after_hours": 6}


def test_the_default_window_is_48_hours_and_too_short_a_window_is_refused(tmp_path):
    (trigger,) = build_deployments(str(tmp_path), ScheduleConfig())[-1].triggers
    assert trigger.within == timedelta(hours=48)
    with pytest.raises(ValueError, match="stale_after_hours must be at least"):
        StaleDataConfig(stale_after_hours=1 / 3600)


def test_the_notice_says_when_data_last_arrived(tmp_path):
    from datetime import datetime, timezone

    text = notice_markdown(str(tmp_path), 48, "2026-11-29T02:00:00+00:00", datetime.now(timezone.utc))
    assert "No new data for 48 hours" in text and "2026-11-29T02:00:00" in text
    assert "No batch has ever been stored" in notice_markdown(str(tmp_path), 48, None, datetime.now(timezone.utc))


def test_the_notice_run_records_an_event_and_a_visible_artifact(prefect_harness, tmp_path):
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    result = stale_data_notice(str(tmp_path), 48.0)
    assert result["event_id"] is not None and result["last_arrival"] is None

    async def read_notice():
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["stale-data"]))
            )

    (artifact, *_) = asyncio.run(read_notice())
    assert "No new data for 48 hours" in artifact.data
    assert DATA_STALE == "rewardflow.data.stale"


def test_serving_the_notice_creates_a_proactive_automation(prefect_harness, tmp_path):
    import asyncio

    from prefect.client.orchestration import get_client

    notice = build_deployments(str(tmp_path), ScheduleConfig(), StaleDataConfig(stale_after_hours=12))[-1]
    notice.apply()

    async def read_automations():
        async with get_client() as client:
            return await client.read_automations_by_name("no new data")

    found = [a for a in asyncio.run(read_automations()) if a.trigger.within == timedelta(hours=12)]
    assert found, "no automation for the stale-data trigger"
    assert found[0].trigger.posture == "Proactive"
    assert found[0].actions[0].type == "run-deployment"
