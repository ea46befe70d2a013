"""What `rewardflow run` prints, as a person sees it in a terminal: progress while it trains, and one
last line (no traceback) when the MLflow server is down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tasks.mlflow_fixtures import synthetic_pairs

REPO = Path(__file__).resolve().parents[2]


def rewardflow_run(tmp_path: Path, *flags: str, **env: str) -> subprocess.CompletedProcess:
    """`rewardflow run` in a child process, on the session's Prefect test server (no second server)."""
    from prefect.settings import PREFECT_API_URL

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(row) + "\n" for row in synthetic_pairs(48).to_dict("records")))
    argv = ["--home", str(tmp_path / "home"), "--dataset_name", str(pairs), "--max_steps", "3"]
    argv += ["--per_device_train_batch_size", "4", "--max_length", "32", "--max_eval_pairs", "8", *flags]
    variables = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "rewardflow.cli", "run", *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=variables,
        timeout=900,
    )


@pytest.mark.slow
def test_progress_lines_reach_the_terminal_while_it_trains(tmp_path, prefect_harness):
    done = rewardflow_run(tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "train step 1/3 (33%)" in output and "ETA" in output
    assert "train step 3/3 (100%)" in output and "pairs/s" in output
    for phase in ("Task run 'tokenize-pairs-", "Task run 'train-", "Task run 'evaluate-model-"):
        assert phase in output
    assert "RESUME" not in output and "LOAD_GLOBAL" not in output


@pytest.mark.slow
def test_an_unreachable_mlflow_server_ends_in_one_line(tmp_path, prefect_harness):
    done = rewardflow_run(tmp_path, "--tracking_uri", "http://127.0.0.1:9", MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    output = done.stdout + done.stderr
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("rewardflow run: the MLflow server is unreachable"), output[-3000:]
    assert "the model registry and its champion are unchanged" in last and "rewardflow up" in last
    assert "Traceback" not in output
    assert len(output.splitlines()) < 40, output
    assert "Traceback" in (tmp_path / "home" / "logs" / "rewardflow.log").read_text()
