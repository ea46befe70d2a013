"""Ctrl-C during training: finish the step, save a complete checkpoint, then stop with a clear exception.

A bare KeyboardInterrupt lands wherever Python happens to be (mid-step, mid-save) and leaves at best the
previous checkpoint, at worst a half-written one. The first SIGINT only raises a flag; the callback turns
it into "save now, then stop" at the next step end, and `on_train_end` raises `TrainingInterrupted`
naming the checkpoint. A second Ctrl-C while that save runs interrupts at once, as usual.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C after saving `checkpoint` (None when nothing could be saved).

    A KeyboardInterrupt, so callers that treat Ctrl-C as "stop everything" (Prefect, the shell) still do.
    """

    def __init__(self, step: int, max_steps: int, checkpoint: str | None) -> None:
        self.step, self.max_steps, self.checkpoint = step, max_steps, checkpoint
        saved = f"checkpoint saved at {checkpoint}" if checkpoint else "no checkpoint saved"
        super().__init__(f"training stopped by Ctrl-C at step {step}/{max_steps}; {saved}")


class StopOnInterrupt(TrainerCallback):
    """Turn the first SIGINT during `train()` into save-then-stop (see module docstring).

    Signals can only be caught on the main thread; elsewhere (a worker thread) the callback does nothing
    and Ctrl-C behaves as Python's default.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:  # second Ctrl-C: the user does not want to wait for the save
            signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)
            raise KeyboardInterrupt
        self.requested = True

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        self.requested = False
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        if self.requested:
            control.should_save = True  # even with save_strategy="no": the stop must be resumable
            control.should_training_stop = True
        return control

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        if self.requested:
            folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            checkpoint = str(folder) if folder.is_dir() else None
            raise TrainingInterrupted(state.global_step, state.max_steps, checkpoint)
