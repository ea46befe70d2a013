"""Progress lines and the Prefect progress artifact while a tiny reward model trains."""

from __future__ import annotations

import logging
import time

from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, LogFilter, LogFilterFlowRunId

from rmcore import RewardConfig, RewardTrainer
from tasks.training.progress import ProgressLogCallback, progress_line
from tests.tasks import mlflow_fixtures as fx
from tests.tiny_models import tiny_bert


def test_progress_line_reads_step_loss_speed_and_eta():
    line = progress_line(12, 32, 30.0, 3.2, loss=0.61234, learning_rate=4.1e-5)
    assert line == "train step 12/32 (38%) · loss 0.6123 · lr 4.10e-05 · 3.2 pairs/s · ETA 0:00:50"
    assert progress_line(32, 32, 75.0, 3.4).endswith("3.4 pairs/s · done in 0:01:15")
    # after a resume from step 20 the pace is that of the 4 steps done here
    assert progress_line(24, 32, 10.0, 3.2, steps_done_here=4).endswith("ETA 0:00:20")


def tiny_trainer(tmp_path, callback, max_steps=4) -> RewardTrainer:
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
        logging_steps=1,
        save_strategy="no",
        eval_table_rows=0,
        eval_plots=False,
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
