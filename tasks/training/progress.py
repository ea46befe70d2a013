"""Training progress where people look: a log line every few seconds and a Prefect progress artifact.

tqdm bars go to the process's stderr, which for a deployment run is the runner's log file: a person
watching the terminal or the Prefect UI sees nothing for minutes. `ProgressLogCallback` logs
"train step 12/32 (38%) · loss 0.61 · 14.2 pairs/s · ETA 0:01:10" through the Prefect run logger (so
`rewardflow run`, the demo's watch and the flow run's log page show it) and keeps a progress artifact
of the flow run up to date.
"""

from __future__ import annotations

import datetime
import logging
import time
from typing import Any

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from rmcore.training.config import clamped_logging_steps

DEFAULT_INTERVAL = 10.0


def pairs_per_step(args: TrainingArguments) -> int:
    """Pairs one optimizer step consumes across all processes."""
    return args.per_device_train_batch_size * args.gradient_accumulation_steps * max(1, args.world_size)


def progress_line(
    step: int,
    total: int,
    elapsed: float,
    pairs_per_second: float,
    loss: float | None = None,
    learning_rate: float | None = None,
    steps_done_here: int | None = None,
) -> str:
    """One human-readable progress line; the ETA assumes the rest runs at this run's average pace.

    Args:
        step, total: optimizer steps done and planned.
        elapsed: seconds since this process started training.
        pairs_per_second: pairs trained per second so far.
        steps_done_here: steps done in this process (fewer than `step` after a resume); default `step`.
    """
    done_here = step if steps_done_here is None else steps_done_here
    parts = [f"train step {step}/{total} ({100 * step / max(total, 1):.0f}%)"]
    if loss is not None:
        parts.append(f"loss {loss:.4f}")
    if learning_rate is not None:
        parts.append(f"lr {learning_rate:.2e}")
    parts.append(f"{pairs_per_second:.1f} pairs/s")
    if 0 < done_here and step < total:
        remaining = elapsed / done_here * (total - step)
        parts.append(f"ETA {datetime.timedelta(seconds=round(remaining))}")
    elif step >= total:
        parts.append(f"done in {datetime.timedelta(seconds=round(elapsed))}")
    return " · ".join(parts)


def launch_line(num_processes: int, accelerate_config_file: str | None = None, gpus: int | None = None) -> str:
    """Where the training runs, said before it starts: `training in 2 processes (DDP, gloo backend, CPU)`.

    A multi-process run otherwise shows only rank 0's lines, which read the same as a one-process run.
    `gpus` defaults to the CUDA devices visible here (the workers see the same).
    """
    gpus = torch.cuda.device_count() if gpus is None else gpus
    device = f"{min(gpus, num_processes)} GPU(s)" if gpus else "CPU"
    if num_processes == 1:
        return f"training in 1 process on {device}"
    backend = "nccl" if gpus else "gloo"
    scheme = "DDP"
    if accelerate_config_file:
        from rmcore.training.launch import sharding_of

        scheme = f"{(sharding_of(accelerate_config_file) or 'ddp').upper()}, accelerate config {accelerate_config_file}"
    return f"training in {num_processes} processes ({scheme}, {backend} backend, {device})"


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """The Prefect run logger inside a flow or task run, else this module's logger."""
    try:
        from prefect.logging import get_run_logger

        return get_run_logger()
    except Exception:  # outside a run (MissingContextError) or Prefect absent
        return logging.getLogger("rewardflow.progress")


class PrefectProgress:
    """A progress artifact of the current Prefect run, created on first use; a no-op outside a run."""

    def __init__(self) -> None:
        self.artifact_id: Any = None
        self.enabled = True

    def update(self, percent: float, description: str) -> None:
        if not self.enabled:
            return
        try:
            from prefect.artifacts import create_progress_artifact, update_progress_artifact
            from prefect.context import get_run_context

            get_run_context()  # raises outside a run: nothing to attach the artifact to
            if self.artifact_id is None:
                self.artifact_id = create_progress_artifact(percent, key="training-progress", description=description)
            else:
                update_progress_artifact(self.artifact_id, percent, description=description)
        except Exception:  # progress is a courtesy: never fail training over it
            self.enabled = False


class ProgressLogCallback(TrainerCallback):
    """Log a progress line at most every `interval` seconds (and at the first and last step).

    Only the main process reports; the figures are those of the whole run. Each line carries the
    loss and learning rate: at the first and last step the callback asks the Trainer for a log entry
    (on every process alike, since logging gathers the loss across them), and a line due at a step
    that logs anyway waits for that entry; other lines take the last logged loss and the scheduler's
    current learning rate.
    """

    def __init__(self, interval: float = DEFAULT_INTERVAL, artifact: bool = True) -> None:
        self.interval = interval
        self.artifact = PrefectProgress() if artifact else None
        self._start = self._last = 0.0
        self._start_step = 0
        self._logs: dict[str, float] = {}
        self._pending = False
        self.lines: list[str] = []

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        self._start = self._last = time.monotonic()
        self._start_step = state.global_step
        self._logs = last_logged(state.log_history)
        self._pending = False
        self._logger = run_logger()
        clamped = clamped_logging_steps(state.logging_steps, state.max_steps)
        if clamped != state.logging_steps and state.is_world_process_zero:
            self._logger.info(
                "logging every %d step(s): the run has %d steps, fewer than twice logging_steps=%s",
                clamped,
                state.max_steps,
                state.logging_steps,
            )
        state.logging_steps = clamped  # on every process: logging gathers the loss across them

    def on_log(self, args, state, control, logs: dict[str, float] | None = None, **kwargs):
        self._logs.update({k: v for k, v in (logs or {}).items() if isinstance(v, int | float)})
        if self._pending and "loss" in (logs or {}):
            self._pending = False
            self.report(args, state, time.monotonic() - self._start)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        now = time.monotonic()
        first, last = state.global_step == self._start_step + 1, state.global_step >= state.max_steps
        if (first and "loss" not in self._logs) or last:
            control.should_log = True  # the same decision on every process: it depends on steps only
        edge = first or last
        if not state.is_world_process_zero:
            return control
        if not (edge or now - self._last >= self.interval):
            return control
        self._last = now
        if control.should_log:
            self._pending = True  # this step's log entry comes next, with the loss up to here
        else:
            self._logs["learning_rate"] = current_learning_rate(kwargs.get("lr_scheduler"), self._logs)
            self.report(args, state, now - self._start)
        return control

    def report(self, args: TrainingArguments, state: TrainerState, elapsed: float) -> str:
        done_here = state.global_step - self._start_step
        line = progress_line(
            state.global_step,
            state.max_steps,
            elapsed,
            done_here * pairs_per_step(args) / max(elapsed, 1e-9),
            self._logs.get("loss"),
            self._logs.get("learning_rate"),
            done_here,
        )
        self.lines.append(line)
        self._logger.info(line)
        if self.artifact is not None:
            self.artifact.update(100 * state.global_step / max(state.max_steps, 1), line)
        return line


def last_logged(log_history: list[dict[str, Any]]) -> dict[str, float]:
    """The newest loss and learning rate in a resumed run's history ({} for a fresh run)."""
    entries = [e for e in log_history if "loss" in e]
    if not entries:
        return {}
    return {k: entries[-1][k] for k in ("loss", "learning_rate") if k in entries[-1]}


def current_learning_rate(scheduler: Any, logs: dict[str, float]) -> float | None:
    """The scheduler's learning rate now (the first parameter group), else the last logged one."""
    try:
        return float(scheduler.get_last_lr()[0])
    except (AttributeError, IndexError, TypeError):
        return logs.get("learning_rate")
