"""Training metrics as MLflow series: every Trainer log entry at its step, so the UI draws curves.

Like transformers' `MLflowCallback`, but into the flow's own run by id (Prefect may run the task in a
worker thread, where the fluent "active run" is not ours) and through the retrying client. Besides the
Trainer's loss, learning rate and grad norm and the core's padding efficiency, it logs the throughput
between two log entries as `train_pairs_per_second`.
"""

from __future__ import annotations

import logging
import time

from mlflow.entities import Metric
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from tasks.tracking.store import store_client
from tasks.training.progress import pairs_per_step

logger = logging.getLogger(__name__)

# Keys of the Trainer's end-of-training summary: logged once by the flow, not as a series.
SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos")


def series_entries(logs: dict[str, object], step: int, timestamp_ms: int) -> list[Metric]:
    """The numeric entries of one Trainer log call as MLflow metrics at `step` (summaries excluded)."""
    if any(key in logs for key in SUMMARY_KEYS):
        return []
    return [
        Metric(key, float(value), timestamp_ms, step)
        for key, value in logs.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]


class MlflowSeriesCallback(TrainerCallback):
    """Log each `on_log` call to MLflow run `run_id` at the current global step (main process only).

    Picklable (ids and URIs only), so it travels to the processes of a distributed run. It carries the
    store's URI because those processes have no entry point that opens a store process-wide.
    """

    def __init__(self, run_id: str, tracking_uri: str) -> None:
        self.run_id = run_id
        self.tracking_uri = tracking_uri
        self._client = None
        self._mark: tuple[float, int] | None = None
        self._failed = False

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_client": None}

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        self._mark = (time.monotonic(), state.global_step)

    def on_log(self, args, state: TrainerState, control, logs: dict[str, object] | None = None, **kwargs):
        if not state.is_world_process_zero or self._failed or not logs:
            return
        logs = dict(logs)
        if "loss" in logs and self._mark is not None:
            now, (since, from_step) = time.monotonic(), self._mark
            if state.global_step > from_step:
                logs["train_pairs_per_second"] = (state.global_step - from_step) * pairs_per_step(args) / (now - since)
            self._mark = (now, state.global_step)
        metrics = series_entries(logs, state.global_step, int(time.time() * 1000))
        if metrics:
            self.log(metrics)

    def log(self, metrics: list[Metric]) -> None:
        try:
            if self._client is None:
                self._client = store_client(self.tracking_uri)
            self._client.log_batch(self.run_id, metrics=metrics)
        except Exception as err:  # curves are a report: a store hiccup must not kill a training run
            self._failed = True
            logger.warning("MLflow run %s: training curves stop here (%s)", self.run_id, str(err).splitlines()[0])
