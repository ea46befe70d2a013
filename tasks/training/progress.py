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

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

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

    Only the main process reports; the figures are those of the whole run.
    """

    def __init__(self, interval: float = DEFAULT_INTERVAL, artifact: bool = True) -> None:
        self.interval = interval
        self.artifact = PrefectProgress() if artifact else None
        self._start = self._last = 0.0
        self._start_step = 0
        self._logs: dict[str, float] = {}
        self.lines: list[str] = []

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        self._start = self._last = time.monotonic()
        self._start_step = state.global_step
        self._logs = {}
        self._logger = run_logger()

    def on_log(self, args, state, control, logs: dict[str, float] | None = None, **kwargs):
        self._logs.update({k: v for k, v in (logs or {}).items() if isinstance(v, int | float)})

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        now = time.monotonic()
        first = state.global_step == self._start_step + 1
        if not state.is_world_process_zero:
            return
        if not (first or state.global_step >= state.max_steps or now - self._last >= self.interval):
            return
        self._last = now
        self.report(args, state, now - self._start)

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
