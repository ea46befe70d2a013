"""Run the train task on the tiny model in a child process, so a test can SIGKILL it mid-training.

Usage: python train_child.py MODEL_DIR OUTPUT_DIR MAX_STEPS
With PAUSE_AFTER_STEP=N the child sleeps right after checkpoint-N is marked complete: the window in
which the test kills it. Not a test module (no `test_` prefix).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fault_helpers as fh  # noqa: E402
from datasets import Dataset  # noqa: E402

from tasks.training import checkpoints  # noqa: E402
from tasks.training.train import TrainJob, build_reward_config, train_reward_model  # noqa: E402


def pause_after(step: int) -> None:
    """Sleep once checkpoint-`step` is complete, leaving the test time to kill this process there."""
    original = checkpoints.CompleteCheckpointCallback.on_save

    def on_save(self, args, state, control, **kwargs):
        result = original(self, args, state, control, **kwargs)
        if state.global_step == step:
            print(f"paused after checkpoint-{step}", flush=True)
            time.sleep(120)
        return result

    checkpoints.CompleteCheckpointCallback.on_save = on_save


def main(model_dir: str, output_dir: str, max_steps: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("tasks.training.train").setLevel(logging.INFO)  # "resuming from ..." goes to the test's pipe
    if os.environ.get("PAUSE_AFTER_STEP"):
        pause_after(int(os.environ["PAUSE_AFTER_STEP"]))
    config = build_reward_config(
        Path(output_dir),
        {
            "max_steps": max_steps,
            "save_steps": 2,
            "per_device_train_batch_size": 8,
            "max_length": 48,
            "learning_rate": 1e-2,
            "logging_steps": 2,
            "bf16": False,
            "use_cpu": True,
            "disable_tqdm": True,
            "seed": 7,
        },
    )
    result = train_reward_model(Dataset.from_list(fh.pair_rows()), None, config, TrainJob(model_dir))
    print(f"done {result.model_dir}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
