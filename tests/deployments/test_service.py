"""End to end, on real servers: `up`, the nightly deployment, event-triggered retraining, `down`.

Tests run in file order on one set of servers (the `service` fixture); the last one stops them.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.nightly import NIGHTLY
from deployments.processes import group_alive
from deployments.servers import read_record, servers_file
from tasks.data.ingest import ingest_files

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nightly_runs(api_url: str) -> list:
    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(NIGHTLY)
        return client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])))


def triggered(api_url: str) -> set:
    """Ids of the nightly runs that an automation (the data trigger) created."""
    return {r.id for r in nightly_runs(api_url) if r.created_by and r.created_by.type == "AUTOMATION"}


def wait_for(condition, timeout: float, every: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


def test_up_records_answering_servers_and_prints_exports(service, cli):
    record = service["record"]
    assert set(record["processes"]) == {"prefect", "mlflow", "runner"}
    assert f"PREFECT_API_URL={record['prefect_api_url']}" in service["up"].stdout
    assert f"MLFLOW_TRACKING_URI={record['mlflow_tracking_uri']}" in service["up"].stdout
    assert record["prefect_api_url"].startswith("http://127.0.0.1:")
    status = cli("status", "--home", str(service["home"]))
    assert status.returncode == 0 and status.stdout.count("alive") == 3


def test_up_twice_reports_the_running_servers(service, cli):
    again = cli("up", "--home", str(service["home"]))
    assert again.returncode == 0 and "Already running" in again.stdout
    assert read_record(service["home"])["processes"] == service["record"]["processes"]


def test_taken_port_is_a_clear_error(service, cli, tmp_path):
    taken = service["record"]["prefect_api_url"].rsplit(":", 1)[1].split("/")[0]
    done = cli("up", "--home", str(tmp_path), "--prefect_port", taken, "--mlflow_port", str(free_port()))
    assert done.returncode == 1
    assert f"port {taken} on 127.0.0.1 is already taken" in done.stderr and "--prefect_port" in done.stderr
    assert not servers_file(tmp_path).exists()


def test_nightly_deployment_run_registers_a_champion(service, make_pairs, tmp_path):
    home, record = service["home"], service["record"]
    ingest_files([str(make_pairs(tmp_path / "seed.jsonl", 40, "seed"))], home)  # no event: run it ourselves
    first = {"first_champion_floor": None}  # a two-step tiny model is at chance: waive the floor here
    params = {"params": {"home": str(home), "training": service["training"], "max_train_pairs": 32, "promotion": first}}
    with temporary_settings(updates={PREFECT_API_URL: record["prefect_api_url"]}):
        run = run_deployment(NIGHTLY, parameters=params, timeout=300)
    assert run.state.is_completed(), f"nightly run ended {run.state_name}; see {record['processes']['runner']['log']}"
    uri = record["mlflow_tracking_uri"]
    champion = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_by_alias("reward-model", "champion")
    assert int(champion.version) >= 1


def test_demo_runs_the_nightly_deployment_with_its_flags_and_names_the_champion(service, make_pairs, tmp_path, capsys):
    """`rewardflow demo` on the running servers: the run flags reach the deployment run as flow parameters."""
    from rewardflow import demo_cmd

    data = make_pairs(tmp_path / "demo.jsonl", 40, "demo")
    argv = ["--home", str(service["home"]), "--data", str(data), "--max_steps", "2", "--max_length", "64"]
    argv += ["--max_train_pairs", "24", "--max_eval_pairs", "12", "--promotion_n_resamples", "100", "--timeout", "600"]
    argv += ["--promotion_first_champion_floor", "none"]
    assert demo_cmd.main(argv) == 0
    out = capsys.readouterr().out
    assert "Champion: reward-model version" in out and "Prefect UI:" in out
    # followed as it ran: the phases and the training progress, not only state changes
    assert "-- tokenize-pairs" in out and "-- train" in out and "train step 2/2 (100%)" in out
    uri = service["record"]["mlflow_tracking_uri"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    (run,) = client.search_runs(
        [client.get_experiment_by_name("reward-model").experiment_id],
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    assert (run.data.params["max_steps"], run.data.params["max_length"]) == ("2", "64")
    assert run.data.params["flow.max_train_pairs"] == "24" and run.data.params["per_device_train_batch_size"] == "8"


def test_ingest_of_new_pairs_triggers_exactly_one_run(service, cli, make_pairs, tmp_path):
    api_url = service["record"]["prefect_api_url"]
    before = triggered(api_url)
    done = cli("ingest", str(make_pairs(tmp_path / "new.jsonl", 12, "new")), "--home", str(service["home"]))
    assert done.returncode == 0, done.stderr
    assert "Stored 12 new pair(s)" in done.stdout and "event rewardflow.data.arrived emitted" in done.stdout
    assert "Training: flow run '" in done.stdout and "/runs/flow-run/" in done.stdout, "ingest names the run"
    assert wait_for(lambda: len(triggered(api_url) - before) >= 1, timeout=60), "the data trigger started no run"
    time.sleep(5)  # a second, duplicate run would have appeared by now
    assert len(triggered(api_url) - before) == 1


def test_same_file_again_triggers_nothing(service, cli, make_pairs, tmp_path):
    api_url = service["record"]["prefect_api_url"]
    path = make_pairs(tmp_path / "new.jsonl", 12, "new")  # the very pairs of the previous test
    before = triggered(api_url)
    done = cli("ingest", str(path), "--home", str(service["home"]))
    assert done.returncode == 0 and "Nothing new" in done.stdout and "emitted" not in done.stdout
    time.sleep(8)
    assert triggered(api_url) == before


def test_inbox_sensor_ingests_dropped_files_and_triggers_a_run(service, make_pairs):
    home, api_url = Path(service["home"]), service["record"]["prefect_api_url"]
    dropped = make_pairs(home / "inbox" / "dropped.jsonl", 10, "inbox")
    before = triggered(api_url)
    time.sleep(2.1)  # the sensor leaves files younger than 2 s alone (they may still be being written)
    result = run_inbox_sensor(home, api_url)
    assert result["files"] == 1 and result["new_pairs"] == 10 and result["emitted"]
    assert not dropped.exists() and (home / "inbox" / "done" / "dropped.jsonl").exists()
    assert wait_for(lambda: len(triggered(api_url) - before) == 1, timeout=60)


def run_inbox_sensor(home: Path, api_url: str) -> dict:
    """One sensor flow run in a child process, as the runner would start it. In this process its log and
    event workers would outlive the test's servers and stall the session's Prefect harness at exit."""
    code = (
        f"import json; from deployments.inbox import inbox_sensor; print(json.dumps(inbox_sensor(home={str(home)!r})))"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PREFECT_API_URL": api_url}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_down_leaves_no_process_behind(service, cli):
    home = service["home"]
    pids = [p["pid"] for p in read_record(home)["processes"].values()]
    done = cli("down", "--home", str(home), "--timeout", "10", timeout=120)
    assert done.returncode == 0, done.stderr
    assert not servers_file(home).exists()
    assert [pid for pid in pids if group_alive(pid)] == [], done.stdout
