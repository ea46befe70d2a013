"""A short real training: MiniLM on shared hh-rlhf pairs, whose loss must fall.

A dozen steps are too few for MiniLM to generalise on hh-rlhf harmless (held-out loss stays near
log 2), so the test checks that training fits what it sees: the loss of the training pairs falls.
"""

from __future__ import annotations

import pytest

from rmcore import RewardTrainer
from rmcore.data.pairs import load_pairs


@pytest.mark.slow
def test_minilm_loss_falls_on_shared_pairs(tmp_path, shared_pairs_path, minilm, minilm_tokenizer, make_config):
    pairs = load_pairs(str(shared_pairs_path)).select(range(32))
    trainer = RewardTrainer(
        model=minilm,
        args=make_config(
            tmp_path,
            max_steps=-1,
            num_train_epochs=3,
            per_device_train_batch_size=8,
            per_device_eval_batch_size=32,
            learning_rate=2e-4,
            warmup_steps=0.1,
            max_length=48,
        ),
        tokenizer=minilm_tokenizer,
        train_dataset=pairs,
        eval_dataset=pairs,
    )
    before = trainer.evaluate()
    trainer.train()
    after = trainer.evaluate()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert len(losses) == 12
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4, losses
    assert after["eval_loss"] < before["eval_loss"] - 0.02, (before, after)
    assert after["eval_accuracy"] > before["eval_accuracy"]
    assert after["eval_truncated"] == trainer.truncated_counts["train"] > 0  # dialogues run past 48 tokens
    assert len(trainer.train_dataset) == 32  # truncated, not dropped
