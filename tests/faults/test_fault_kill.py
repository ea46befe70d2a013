"""Fault: `rewardflow run` is killed with SIGKILL. Its temporary Prefect server must not outlive it.

The run starts Prefect's temporary API server (uvicorn) itself; a kill -9 runs no cleanup, so a watchdog
(`rewardflow.watchdog`) ends what the run left. A real process is killed here, as an operator would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import fault_helpers as fh
import psutil

from rewardflow.watchdog import watch


def uvicorn_children(parent: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in parent.children(recursive=True):
        try:
            if "uvicorn" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def test_kill_9_of_a_run_leaves_no_prefect_server_behind(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in fh.pair_rows(40)))
    model = fh.save_tiny_model(tmp_path / "base")
    argv = [sys.executable, "-m", "rewardflow.cli", "run", "--home", str(tmp_path / "home"), "--dataset_name"]
    argv += [str(data), "--model_name_or_path", str(model), "--max_steps", "2", "--use_cpu"]
    env = {k: v for k, v in fh.child_env().items() if k != "PREFECT_API_URL"}
    run = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    servers: list[psutil.Process] = []
    try:
        parent = psutil.Process(run.pid)
        deadline = time.monotonic() + 240
        while not servers and time.monotonic() < deadline and run.poll() is None:
            servers = uvicorn_children(parent)
            time.sleep(0.5)
        assert servers, "the run started no temporary Prefect server"
        time.sleep(1.0)  # the watchdog notes children every half second
        run.kill()
        run.wait()
        _, alive = psutil.wait_procs(servers, timeout=30)
        assert alive == [], f"left running after kill -9: {[p.pid for p in alive]}"
        assert not (tmp_path / "mlflow.db").exists()
    finally:
        run.kill()
        for server in servers:
            if server.is_running():
                server.kill()


def test_the_watchdog_ends_what_a_dead_parent_left(tmp_path):
    code = "import subprocess, time; subprocess.Popen(['sleep', '300']); time.sleep(300)"
    parent = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(1.0)
    (sleeper,) = psutil.Process(parent.pid).children()
    watchdog = subprocess.Popen([sys.executable, "-m", "rewardflow.watchdog", str(parent.pid)], env=fh.child_env())
    try:
        time.sleep(1.5)
        parent.kill()
        parent.wait()
        assert watchdog.wait(timeout=30) == 0
        assert not sleeper.is_running() or sleeper.status() == psutil.STATUS_ZOMBIE
    finally:
        for process in (parent, watchdog):
            process.kill()
        if sleeper.is_running():
            sleeper.kill()


def test_watch_returns_at_once_for_a_process_that_is_gone():
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert watch(int(done.stdout)) == []
