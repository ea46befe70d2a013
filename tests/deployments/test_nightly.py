"""The deployment definitions: one source for the schedule, the data trigger and the run parameters."""

from __future__ import annotations

from deployments.config import ScheduleConfig
from deployments.nightly import build_deployments, nightly_parameters


def test_nightly_runs_the_flow_on_a_cron_in_the_given_timezone_and_on_new_data(tmp_path):
    schedule = ScheduleConfig(cron="15 3 * * *", timezone="Europe/Paris", params={"max_train_pairs": 32})
    nightly, sensor, notice = build_deployments(str(tmp_path), schedule)
    assert (nightly.flow_name, nightly.name) == ("reward-model", "nightly")
    (cron,) = nightly.schedules
    assert (cron.schedule.cron, cron.schedule.timezone) == ("15 3 * * *", "Europe/Paris")
    (trigger,) = nightly.triggers
    assert trigger.expect == {"rewardflow.data.arrived"}
    # the Prefect UI lists an event trigger as "A custom trigger": its description says it in words
    assert trigger.description.startswith("Runs when new pairs are stored (rewardflow.data.arrived)")
    assert notice.triggers[0].description.startswith("Runs when no new pairs were stored (rewardflow.data.arrived)")
    assert nightly.parameters == {"params": {"home": str(tmp_path), "max_train_pairs": 32}}
    assert (sensor.flow_name, sensor.name) == ("inbox-sensor", "inbox")
    assert sensor.schedules[0].schedule.interval.total_seconds() == schedule.inbox_interval
    assert (notice.flow_name, notice.name) == ("stale-data", "notice")


def test_parameters_validate_against_the_flow(tmp_path):
    from flows.params import RewardFlowParams

    params = nightly_parameters(str(tmp_path), ScheduleConfig(params={"training": {"max_steps": 2}}))["params"]
    assert RewardFlowParams(**params).training == {"max_steps": 2}
    assert "max_train_pairs" not in params  # unset = the flow's own default (every pair)


def test_schedule_params_are_checked_against_the_flow():
    import pytest

    with pytest.raises(ValueError, match="max_train_pairs"):
        ScheduleConfig(params={"max_train_pairs": 0})
    with pytest.raises(ValueError, match="home"):
        ScheduleConfig(params={"home": "/elsewhere"})
