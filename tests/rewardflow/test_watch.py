"""Following a flow run from the terminal: its phases and its log lines, each shown once."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.client.orchestration import get_client

from rewardflow.watch import follow, phase


def test_phase_drops_the_run_suffix():
    assert phase("tokenize_pairs-3a1") == "tokenize_pairs"
    assert phase("start-tracking-run-cb0") == "start-tracking-run"


@task(name="tokenize_pairs")
def tokenize_step():
    get_run_logger().info("train step 1/2 (50%) · 3.0 pairs/s · ETA 0:00:01")


@task(name="train")
def train_step():
    get_run_logger().info("train step 2/2 (100%) · 3.0 pairs/s · done in 0:00:02")


@flow(name="watched")
def watched():
    tokenize_step()
    train_step()
    from prefect.runtime import flow_run

    return flow_run.get_id()


def test_follow_shows_phases_and_progress_once(prefect_harness):
    run_id = watched()
    shown: list[str] = []
    with get_client(sync_client=True) as client:
        run = follow(client, run_id, timeout=60, show=shown.append, every=0.5)
    assert run.state.is_completed()
    text = [line.split("] ", 1)[1] for line in shown]
    assert text.index("-- tokenize_pairs") < text.index("-- train")
    assert text.count("   train step 1/2 (50%) · 3.0 pairs/s · ETA 0:00:01") == 1
    assert "   train step 2/2 (100%) · 3.0 pairs/s · done in 0:00:02" in text
    assert text[-1] == "== Completed" or "== Completed" in text
    assert not [line for line in text if "Finished in state Completed" in line]  # the phase lines say it
