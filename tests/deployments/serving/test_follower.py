"""Following the champion alias on a real MLflow store, under load over real HTTP: hot swap, broken versions."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from deployments.serving.follower import ModelSource, parse_source
from tests.deployments.serving.serve_helpers import broken_copy, promote, register, running, wait_for
from tests.tasks import mlflow_fixtures as fx
from tests.tiny_models import save_tiny_remote_bert

mlflow_home, tracking_uri, model_dirs = fx.mlflow_home, fx.tracking_uri, fx.model_dirs
POLL = 0.5
TEXTS = ["Human: hi\n\nAssistant: sun happy", "Human: hi\n\nAssistant: rain cold dark"]


def test_parse_source_reads_aliases_versions_and_folders(tmp_path):
    assert parse_source("models:/reward-model@champion") == ModelSource(name="reward-model", alias="champion")
    assert parse_source("models:/rm/3") == ModelSource(name="rm", version="3")
    assert parse_source(str(tmp_path)) == ModelSource(folder=str(tmp_path.resolve()))
    for bad in ("models:/rm", "models:/rm/latest", "models:/@champion", str(tmp_path / "missing")):
        with pytest.raises(ValueError, match="--model"):
            parse_source(bad)


def served_version(url: str) -> str | None:
    response = httpx.get(f"{url}/health")
    return response.json()["model_version"] if response.status_code == 200 else None


def client_loop(url: str, stop: threading.Event, log: list, failures: list) -> None:
    """One RL worker: post OpenRLHF payloads back to back; record (sent, received, version) or the failure."""
    with httpx.Client(timeout=30) as http:
        for _ in range(2000):  # bounded even if `stop` never comes
            if stop.is_set():
                return
            sent = time.monotonic()
            try:
                response = http.post(f"{url}/get_reward", json={"query": TEXTS})
                body = response.json()
                assert response.status_code == 200 and len(body["rewards"]) == 2, response.text
                log.append((sent, time.monotonic(), body["model_version"]))
            except Exception as err:  # noqa: BLE001 - every failure is counted, none is allowed
                failures.append(repr(err))


def test_a_promotion_under_load_is_served_without_a_failed_request(mlflow_home, tracking_uri, model_dirs):
    name = "rm-serve-swap"
    first = register(mlflow_home, name, model_dirs["bad"])
    promote(name, first)
    with running(mlflow_home, model=f"models:/{name}@champion", poll_seconds=POLL) as srv:
        wait_for(lambda: served_version(srv.url) == first, 60, f"version {first} to load")
        second = register(mlflow_home, name, model_dirs["good"])
        stop, failures = threading.Event(), []
        logs: list[list] = [[] for _ in range(6)]
        workers = [threading.Thread(target=client_loop, args=(srv.url, stop, log, failures)) for log in logs]
        for worker in workers:
            worker.start()
        wait_for(lambda: all(len(log) >= 3 for log in logs), 60, "every client to be answered")
        promote(name, second)
        promoted = time.monotonic()
        wait_for(lambda: all(log and log[-1][2] == second for log in logs), 60, "every client to see the new version")
        stop.set()
        for worker in workers:
            worker.join(60)

    assert failures == []
    versions = {version for log in logs for _, _, version in log}
    assert versions == {first, second}
    for log in logs:  # per client, the old version never comes back once the new one answered
        seen = [version for _, _, version in log]
        assert seen == sorted(seen, key=lambda v: v == second)
    first_new = min(received for log in logs for _, received, version in log if version == second)
    # One poll interval, plus the load of a tiny model on a shared 2-core CPU, plus one batch in flight.
    assert first_new - promoted < POLL + 10.0


def test_a_broken_new_version_is_skipped_and_the_old_keeps_serving(mlflow_home, tracking_uri, model_dirs, tmp_path):
    name = "rm-serve-broken"
    good = register(mlflow_home, name, model_dirs["good"])
    promote(name, good)
    broken = register(mlflow_home, name, broken_copy(model_dirs["good"], tmp_path / "broken"))
    with running(mlflow_home, model=f"models:/{name}@champion", poll_seconds=POLL) as srv:
        wait_for(lambda: served_version(srv.url) == good, 60, f"version {good} to load")
        promote(name, broken)
        time.sleep(POLL * 4)  # several polls: the broken version is tried once, then skipped
        response = httpx.post(f"{srv.url}/get_reward", json={"query": TEXTS})
        assert response.status_code == 200 and response.json()["model_version"] == good
        assert served_version(srv.url) == good
        info = httpx.get(f"{srv.url}/info").json()
        assert info["registered_name"] == name and info["alias"] == "champion" and info["run_id"]


def test_a_pinned_version_is_served_and_not_followed(mlflow_home, tracking_uri, model_dirs):
    name = "rm-serve-pinned"
    first = register(mlflow_home, name, model_dirs["good"])
    with running(mlflow_home, model=f"models:/{name}/{first}", poll_seconds=POLL) as srv:
        wait_for(lambda: served_version(srv.url) == first, 60, f"version {first} to load")
        promote(name, register(mlflow_home, name, model_dirs["bad"]))
        time.sleep(POLL * 2)
        assert served_version(srv.url) == first


def test_a_promoted_version_with_its_own_code_is_swapped_in_with_trust_remote_code(
    mlflow_home, tracking_uri, model_dirs, tmp_path
):
    name = "rm-serve-remote"
    promote(name, register(mlflow_home, name, model_dirs["good"]))
    with running(mlflow_home, model=f"models:/{name}@champion", poll_seconds=POLL, trust_remote_code=True) as srv:
        wait_for(lambda: served_version(srv.url), 60, "the first version")
        remote = register(mlflow_home, name, save_tiny_remote_bert(tmp_path / "remote"))
        promote(name, remote)
        wait_for(lambda: served_version(srv.url) == remote, 60, f"version {remote} to be swapped in")
