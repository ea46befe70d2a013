"""The README's "Running it as a service" block, executed as written and in order.

The commands are read from the README's code block, so the two cannot drift. Only what must differ on a
test machine is changed: the home (`~/rf`) is a temporary folder, the two server ports are free ones
(given to `up` and put into the `export` line), `rewardflow` and `prefect` run from this interpreter,
training is cut to 2 steps, and the inbox sensor is slowed so the dropped file does not start a second
training while the test reads the first. Between `ingest` and `status` the test waits for the training
that `ingest` started, so `status` has a run and a decision to report.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deployments.processes import group_alive
from deployments.servers import read_record

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Running it as a service"
TINY = {"max_train_pairs": 64, "max_eval_pairs": 32, "training": {"max_steps": 2, "max_length": 64}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_commands(readme: Path = REPO_ROOT / "README.md") -> list[str]:
    """The shell commands of the section's first bash block, comments dropped, `a ; b` as two commands."""
    section = readme.read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        code = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
        commands += [part.strip() for part in code.split(" ; ") if part.strip()]
    return commands


def adapted(command: str, home: Path, ports: dict[int, int]) -> str:
    """The README command for this machine: temp home, free ports, this interpreter, tiny training."""
    command = command.replace("~/rf", str(home))
    for readme_port, port in ports.items():
        command = command.replace(f"127.0.0.1:{readme_port}", f"127.0.0.1:{port}")
    words = shlex.split(command)
    if words[0] == "rewardflow":
        words = [sys.executable, "-m", "rewardflow.cli", *words[1:]]
    elif words[0] == "prefect":
        words = [sys.executable, "-m", "prefect", *words[1:]]
    if words[3:4] == ["up"]:
        if "--params" in words:
            words[words.index("--params") + 1] = json.dumps(TINY)
        words += ["--prefect_port", str(ports[4200]), "--mlflow_port", str(ports[5000]), "--inbox_interval", "3600"]
    return shlex.join(words)


def exported(command: str) -> dict[str, str]:
    """`export A=1 B=2` as {"A": "1", "B": "2"}."""
    return dict(word.split("=", 1) for word in shlex.split(command)[1:])


def wait_for_flow_run(api_url: str, flow_run_id: str, timeout: float) -> str:
    """The flow run's final state name, polled on the Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    deadline = time.monotonic() + timeout
    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(flow_run_id)
            if run.state and run.state.is_final():
                return run.state_name
            time.sleep(3)
    return "still running"


def test_the_readme_lists_the_service_commands_in_order():
    commands = service_commands()
    kinds = [" ".join(c.split()[:2]) for c in commands]
    assert kinds == [
        "rewardflow up",
        "export PREFECT_API_URL=http://127.0.0.1:4200/api",
        "prefect deployment",
        "rewardflow ingest",
        "cp examples/data/more.jsonl",
        "rewardflow status",
        "rewardflow down",
    ]
    for command in commands:  # every file a command names is in the checkout
        for word in shlex.split(command):
            if word.startswith("examples/"):
                assert (REPO_ROOT / word).is_file(), word


@pytest.mark.timeout(1500)
def test_the_readme_service_commands_run_as_written(tmp_path):
    home, ports = tmp_path / "rf", {4200: free_port(), 5000: free_port()}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    env.pop("PREFECT_API_URL", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    outputs: dict[str, subprocess.CompletedProcess] = {}
    try:
        for command in service_commands():
            if command.startswith("export "):
                env.update(exported(adapted(command, home, ports)))
                continue
            if command.startswith("rewardflow status"):  # let the training that `ingest` started finish
                (run_id,) = re.findall(r"/runs/flow-run/([0-9a-f-]{36})", outputs["rewardflow ingest"].stdout)
                assert wait_for_flow_run(env["PREFECT_API_URL"], run_id, timeout=900) == "Completed"
            done = subprocess.run(
                adapted(command, home, ports), shell=True, cwd=REPO_ROOT, env=env, capture_output=True, text=True
            )
            outputs[" ".join(command.split()[:2])] = done
            expected = 1 if command.startswith("prefect deployment run") else 0
            assert done.returncode == expected, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    finally:
        record = read_record(home)
        subprocess.run([sys.executable, "-m", "rewardflow.cli", "down", "--home", str(home)], env=env, timeout=120)
        for proc in (record or {"processes": {}})["processes"].values():
            if group_alive(proc["pid"]):
                os.killpg(proc["pid"], signal.SIGKILL)

    watch = outputs["prefect deployment"]
    shown = " ".join((watch.stdout + watch.stderr).split())  # the console wraps long lines at its width
    fix = f"No pairs in {home / 'store'} yet: run `rewardflow ingest FILE... --home {home}`"
    assert f"Finished in state Failed('Flow run encountered an exception: EmptyStoreError: {fix}" in shown, shown
    ending = shown.rsplit("Flow run finished in state 'Failed'.", 1)[0][-400:]
    assert fix in ending, f"the last log line --watch shows names the fix: {ending}"
    ingest = outputs["rewardflow ingest"].stdout
    assert "Stored 200 new pair(s)" in ingest and "Health figures: MLflow run 'ingest " in ingest
    assert re.search(r"Training: flow run '[\w-]+' \(\w+\), http://127\.0\.0\.1:\d+/runs/flow-run/", ingest), ingest
    status = outputs["rewardflow status"].stdout
    assert "Registered model reward-model:" in status
    assert re.search(r"Last run: 'reward-model v1 \d{4}-\d\d-\d\d \d\d:\d\d' FINISHED.*; decision ", status), status
    assert status.count(" alive ") == 3
    assert not (home / "servers.json").exists(), "down stopped what up started"
