"""Server helpers: commands, URLs and the servers.json record (pure), then ports and process groups (real)."""

from __future__ import annotations

import json
import socket
import time

import pytest

from deployments.config import ScheduleConfig, ServerConfig
from deployments.servers import (
    ProcessSpec,
    check_ports,
    export_lines,
    is_fresh_poll,
    new_record,
    process_specs,
    read_record,
    runner_args,
    spawn,
    stop_servers,
    write_record,
)


@pytest.fixture
def config(tmp_path):
    return ServerConfig(home=str(tmp_path / "home"), prefect_port=4311, mlflow_port=5311)


def test_specs_bind_loopback_and_keep_state_under_home(config):
    prefect, mlflow, runner = process_specs(config, ScheduleConfig())
    assert prefect.argv[2:] == [
        "prefect",
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        "4311",
        "--ui",
        "--analytics-off",
    ]
    assert prefect.env["PREFECT_HOME"] == f"{config.home}/prefect"
    assert prefect.env["PREFECT_UI_API_URL"] == "http://127.0.0.1:4311/api"  # the UI calls its own server
    assert prefect.env["PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED"] == "true"  # --watch shows the run's logs
    assert prefect.env["PREFECT_API_DATABASE_CONNECTION_URL"] == f"sqlite+aiosqlite:///{config.home}/prefect/prefect.db"
    assert f"sqlite:///{config.home}/mlflow/mlflow.db" in mlflow.argv
    assert f"{config.home}/mlflow/artifacts" in mlflow.argv and "5311" in mlflow.argv
    assert runner.argv[1:5] == ["-m", "deployments.nightly", "--home", config.home]
    assert runner.env["PREFECT_API_URL"] == "http://127.0.0.1:4311/api"
    assert runner.env["REWARDFLOW_MLFLOW_UI"] == "http://127.0.0.1:5311"  # the runner's links open in the UI
    assert runner.health_url.endswith("/api/deployments/name/reward-model/nightly")
    assert all(spec.log.startswith(f"{config.home}/logs/") for spec in (prefect, mlflow, runner))


def test_runner_args_rebuild_the_schedule():
    from deployments.nightly import main  # noqa: F401  (the runner's parser must accept these flags)

    params = {"training": {"max_steps": 2}}
    args = runner_args(ScheduleConfig(cron="30 1 * * *", timezone="Europe/Paris", params=params))
    assert args[args.index("--cron") + 1] == "30 1 * * *" and args[args.index("--params") + 1] == json.dumps(params)


def test_record_round_trips_and_gives_the_exports(config, tmp_path):
    record = new_record(config)
    assert record["prefect_ui_url"] == "http://127.0.0.1:4311"
    assert export_lines(record) == [
        "export PREFECT_API_URL=http://127.0.0.1:4311/api",
        "export MLFLOW_TRACKING_URI=http://127.0.0.1:5311",
    ]
    write_record(tmp_path, record)
    assert read_record(tmp_path) == record
    assert read_record(tmp_path / "nowhere") is None


def test_a_broken_record_names_the_file(tmp_path):
    (tmp_path / "servers.json").write_text("{nope")
    with pytest.raises(ValueError, match="servers.json: not valid JSON"):
        read_record(tmp_path)


def test_only_a_poll_after_start_counts():
    assert not is_fresh_poll({"last_polled": None}, since=0)
    assert is_fresh_poll({"last_polled": "2030-01-01T00:00:00Z"}, since=time.time())
    assert not is_fresh_poll({"last_polled": "2020-01-01T00:00:00.000000+00:00"}, since=time.time())


def test_a_taken_port_is_refused_before_anything_starts(config):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        busy = ServerConfig(home=config.home, prefect_port=taken, mlflow_port=5311)
        with pytest.raises(RuntimeError, match=f"port {taken} on 127.0.0.1 is already taken.*--prefect_port"):
            check_ports(busy)


def test_stop_servers_uses_the_record_and_removes_it(config, tmp_path):
    spec = ProcessSpec("toy", ["sleep", "60"], {}, str(tmp_path / "toy.log"), "", "", str(tmp_path))
    record = new_record(config)
    record["processes"]["toy"] = {"pid": spawn(spec.argv, {}, spec.log, spec.cwd), "url": "", "log": spec.log}
    home = tmp_path / "home"
    home.mkdir()
    write_record(home, record)
    assert stop_servers(home, timeout=5) == {"toy": "stopped"}
    assert read_record(home) is None and stop_servers(home) == {}


def test_serve_adds_the_reward_server_last_without_its_token_in_argv(tmp_path, monkeypatch):
    from deployments.servers import answers
    from rewardflow.serve_cmd import build_parser
    from tests.deployments.serving.serve_helpers import running

    monkeypatch.setenv("REWARDFLOW_SERVE_TOKEN", "tok-not-in-argv")
    config = ServerConfig(home=str(tmp_path / "home"), prefect_port=4312, mlflow_port=5312, serve=True, serve_port=8312)
    specs = process_specs(config, ScheduleConfig())
    assert [s.name for s in specs] == ["prefect", "mlflow", "runner", "serve"]
    serve = specs[-1]
    assert serve.argv[1:4] == ["-m", "rewardflow.cli", "serve"] and "tok-not-in-argv" not in " ".join(serve.argv)
    parsed = build_parser().parse_args(serve.argv[4:])
    assert (parsed.home, parsed.host, parsed.port) == (config.home, "127.0.0.1", 8312)
    assert serve.health_url == "http://127.0.0.1:8312/health" and serve.log == f"{config.home}/logs/serve.log"
    with pytest.raises(ValueError, match="serve_port"):
        ServerConfig(home=str(tmp_path), prefect_port=4312, mlflow_port=5312, serve=True, serve_port=5312)

    # A reward server with no model loaded (here: an empty folder) answers /health with 503: it is up all the same.
    monkeypatch.delenv("REWARDFLOW_SERVE_TOKEN")
    with running(tmp_path / "serve-home", model=str(tmp_path)) as srv:
        spec = ProcessSpec("serve", [], {}, "", srv.url, f"{srv.url}/health", "")
        assert answers(spec, since=0.0)
    assert not answers(spec, since=0.0)  # stopped: nothing answers
