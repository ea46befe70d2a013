"""Ctrl-C during `RewardTrainer.train()`: a complete checkpoint, a clear exception, and a run that resumes."""

from __future__ import annotations

import os
import signal

import pytest
from transformers import TrainerCallback

from rmcore import RewardTrainer
from rmcore.training.interrupt import TrainingInterrupted


class CtrlCAt(TrainerCallback):
    """Sends this process a SIGINT, as a terminal's Ctrl-C does, when step `step` begins."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_saves_a_complete_checkpoint_and_the_run_resumes(
    tmp_path, make_gpt2, gpt2_tokenizer, text_pairs, make_config
):
    before = signal.getsignal(signal.SIGINT)  # whatever an earlier test left installed
    config = make_config(tmp_path, max_steps=6, per_device_train_batch_size=2, save_strategy="no")
    trainer = RewardTrainer(
        model=make_gpt2(), args=config, tokenizer=gpt2_tokenizer, train_dataset=text_pairs, callbacks=[CtrlCAt(2)]
    )
    with pytest.raises(TrainingInterrupted) as caught:
        trainer.train()
    stopped = caught.value
    assert isinstance(stopped, KeyboardInterrupt)
    assert (stopped.step, stopped.max_steps) == (3, 6)  # the step under way when Ctrl-C came is finished
    checkpoint = tmp_path / "checkpoint-3"
    assert stopped.checkpoint == str(checkpoint)
    assert {"model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json"} <= {
        p.name for p in checkpoint.iterdir()
    }
    assert signal.getsignal(signal.SIGINT) is before  # handler restored

    resumed = RewardTrainer(model=make_gpt2(), args=config, tokenizer=gpt2_tokenizer, train_dataset=text_pairs)
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert resumed.state.global_step == 6


def test_training_without_ctrl_c_is_unchanged(tmp_path, make_gpt2, gpt2_tokenizer, text_pairs, make_config):
    trainer = RewardTrainer(
        model=make_gpt2(),
        args=make_config(tmp_path, save_strategy="no"),
        tokenizer=gpt2_tokenizer,
        train_dataset=text_pairs,
    )
    trainer.train()
    assert trainer.state.global_step == 2
    assert not list(tmp_path.glob("checkpoint-*"))
