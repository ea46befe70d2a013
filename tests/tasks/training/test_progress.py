"""Progress lines and the Prefect progress artifact while a tiny reward model trains."""

from __future__ import annotations

import logging
import time

from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, LogFilter, LogFilterFlowRunId

from rmcore import RewardConfig, RewardTrainer
from tasks.training.progress import ProgressLogCallback, launch_line, progress_line
from tests.tasks import mlflow_fixtures as fx
from tests.tiny_models import tiny_bert


def test_progress_line_reads_step_loss_speed_and_eta():
    line = progress_line(12, 32, 30.0, 3.2, loss=0.61234, learning_rate=4.1e-5)
    assert line == "train step 12/32 (38%) · loss 0.6123 · lr 4.10e-05 · 3.2 pairs/s · ETA 0:00:50"
    assert progress_line(32, 32, 75.0, 3.4).endswith("3.4 pairs/s · done in 0:01:15")
    # after a resume from step 20 the pace is that of the 4 steps done here
    assert progress_line(24, 32, 10.0, 3.2, steps_done_here=4).endswith("ETA 0:00:20")


def tiny_trainer(tmp_path, callback, max_steps=4, logging_steps=1, **overrides) -> RewardTrainer:
    model, tokenizer = tiny_bert(0, hidden=16)
    pairs = fx.synthetic_pairs(16)
    config = RewardConfig(
        output_dir=str(tmp_path),
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
        bf16=False,
        per_device_train_batch_size=4,
        max_steps=max_steps,
        logging_steps=logging_steps,
        save_strategy="no",
        eval_table_rows=0,
        eval_plots=False,
        **overrides,
    )
    return RewardTrainer(
        model=model, args=config, processing_class=tokenizer, train_dataset=_dataset(pairs), callbacks=[callback]
    )


def _dataset(pairs):
    from datasets import Dataset

    return Dataset.from_dict({k: list(v) for k, v in pairs.items()})


def test_logs_first_and_last_step_and_at_most_one_line_per_interval(tmp_path, caplog):
    callback = ProgressLogCallback(interval=3600, artifact=False)
    with caplog.at_level(logging.INFO, logger="rewardflow.progress"):
        tiny_trainer(tmp_path, callback).train()
    assert [line.split(" · ")[0] for line in callback.lines] == ["train step 1/4 (25%)", "train step 4/4 (100%)"]
    assert "pairs/s" in callback.lines[0] and "ETA" in callback.lines[0]
    assert "loss" in callback.lines[1] and "done in" in callback.lines[1]
    assert all(" · loss " in line and " · lr " in line for line in callback.lines)
    assert [r.getMessage() for r in caplog.records if r.name == "rewardflow.progress"] == callback.lines


def test_inside_a_flow_run_the_lines_reach_the_run_logs_and_a_progress_artifact(tmp_path, prefect_harness):
    callback = ProgressLogCallback(interval=0)

    @task
    def train_task():
        tiny_trainer(tmp_path, callback, max_steps=3).train()

    @flow
    def training_flow():
        train_task()
        from prefect.runtime import flow_run

        return flow_run.get_id()

    run_id = training_flow()
    assert len(callback.lines) == 3
    with get_client(sync_client=True) as client:
        for _ in range(40):  # run logs reach the API in batches, every couple of seconds
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
            if set(callback.lines) <= {log.message for log in logs}:
                break
            time.sleep(0.5)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    assert set(callback.lines) <= {log.message for log in logs}
    (progress,) = [a for a in artifacts if a.type == "progress"]
    assert progress.data == 100.0
    assert progress.description == callback.lines[-1]


def test_every_line_carries_loss_and_lr_even_between_log_entries(tmp_path):
    """logging_steps 3 of 7 steps: the first and last step are logged on purpose (so their lines have a
    loss); a line in between takes the last logged loss and the scheduler's learning rate now."""
    callback = ProgressLogCallback(interval=0, artifact=False)
    trainer = tiny_trainer(tmp_path, callback, max_steps=7, logging_steps=3)
    trainer.train()
    assert len(callback.lines) == 7
    assert all(" · loss " in line and " · lr " in line for line in callback.lines)
    logged = [e["step"] for e in trainer.state.log_history if "loss" in e]
    assert logged == [1, 3, 6, 7]  # the curve starts at the first step and ends at the last
    first, second = (float(line.split(" · lr ")[1].split(" ")[0]) for line in callback.lines[:2])
    assert first != second  # the warmup moved the learning rate between two logged steps


def test_a_run_shorter_than_its_logging_interval_still_draws_a_curve(tmp_path, caplog):
    """The total comes from epochs and data (16 pairs / 4 = 4 steps), below logging_steps 10: the callback
    clamps it, so every step is logged and says why."""
    callback = ProgressLogCallback(interval=3600, artifact=False)
    trainer = tiny_trainer(tmp_path, callback, max_steps=-1, logging_steps=10, num_train_epochs=1)
    with caplog.at_level(logging.INFO, logger="rewardflow.progress"):
        trainer.train()
    assert [e["step"] for e in trainer.state.log_history if "loss" in e] == [1, 2, 3, 4]
    assert "logging every 1 step(s): the run has 4 steps, fewer than twice logging_steps=10" in caplog.text


def test_launch_line_says_processes_backend_and_device():
    assert launch_line(1, gpus=0) == "training in 1 process on CPU"
    assert launch_line(2, gpus=0) == "training in 2 processes (DDP, gloo backend, CPU)"
    assert launch_line(4, gpus=8) == "training in 4 processes (DDP, nccl backend, 4 GPU(s))"
