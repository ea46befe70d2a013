"""ServerConfig and ScheduleConfig: safe defaults, clear errors, flags generated from the fields."""

from __future__ import annotations

import copy
import pickle
from dataclasses import fields

import pytest

from deployments.config import ScheduleConfig, ServerConfig
from deployments.flags import FlagParser, from_arguments


@pytest.mark.parametrize("cls", [ServerConfig, ScheduleConfig])
def test_every_field_has_help_and_the_config_round_trips(cls):
    assert all(f.metadata.get("help") for f in fields(cls))
    config = cls()
    assert pickle.loads(pickle.dumps(config)) == config == copy.deepcopy(config)


def test_server_defaults_are_loopback_and_home_is_absolute(tmp_path):
    config = ServerConfig(home=str(tmp_path / "h"))
    assert (config.host, config.prefect_port, config.mlflow_port) == ("127.0.0.1", 4200, 5000)
    assert config.home == str((tmp_path / "h").resolve())


def test_remote_bind_needs_the_explicit_flag():
    with pytest.raises(ValueError, match="--allow_remote"):
        ServerConfig(host="0.0.0.0")
    assert ServerConfig(host="0.0.0.0", allow_remote=True).host == "0.0.0.0"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"prefect_port": 0}, "prefect_port"), ({"mlflow_port": 70000}, "mlflow_port"), ({"mlflow_port": 4200}, "differ")],
)
def test_bad_ports_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ServerConfig(**kwargs)


def test_schedule_defaults_to_two_am_utc():
    assert (ScheduleConfig().cron, ScheduleConfig().timezone) == ("0 2 * * *", "UTC")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"cron": "0 2 * *"}, "5 fields"), ({"timezone": "Mars/Olympus"}, "IANA"), ({"concurrency": 0}, "concurrency")],
)
def test_bad_schedule_values_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ScheduleConfig(**kwargs)


def test_flags_come_from_the_fields_and_parse_back():
    parser = FlagParser((ServerConfig, ScheduleConfig))
    args = parser.parse_args(
        [
            "--prefect-port",
            "4300",
            "--no-prefect-ui",
            "--params",
            '{"max_train_pairs": 32, "training": {"max_steps": 2}}',
        ]
    )
    server, schedule = from_arguments(ServerConfig, args), from_arguments(ScheduleConfig, args)
    assert (server.prefect_port, server.prefect_ui) == (4300, False)
    assert schedule.params == {"max_train_pairs": 32, "training": {"max_steps": 2}}
    with pytest.raises(ValueError, match="eval_fraction"):  # checked against the flow's parameters at once
        from_arguments(ScheduleConfig, parser.parse_args(["--params", '{"eval_fraction": 0}']))
