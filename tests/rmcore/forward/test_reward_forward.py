"""Padding-free rewards run through a distributed wrapper's forward: same rewards, the wrapper's hooks run,
the model is left as it was."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from rmcore.data.tokenization import tokenize_pairs
from rmcore.forward.reward_forward import call_as_forward, padding_free_pair_rewards
from rmcore.forward.rewards import pair_rewards
from rmcore.training.collator import RewardDataCollatorWithPadding


@pytest.fixture
def process_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def _batch(tokenizer, text_pairs):
    columns = tokenize_pairs(text_pairs[:], tokenizer, max_length=64)
    return RewardDataCollatorWithPadding(tokenizer)([{k: columns[k][i] for k in columns} for i in range(8)])


@pytest.mark.parametrize("share_prefix", [False, True])
def test_rewards_go_through_ddp_forward_and_equal_the_padded_ones(
    process_group, make_llama, llama_tokenizer, text_pairs, share_prefix
):
    model = make_llama()
    batch = _batch(llama_tokenizer, text_pairs)
    ddp = DistributedDataParallel(model)
    calls = []
    model.register_forward_pre_hook(lambda module, args: calls.append(type(module).__name__))
    chosen, rejected, (real, computed) = padding_free_pair_rewards(ddp, batch, share_prefix, always_share=True)
    assert calls == ["LlamaForSequenceClassification"]  # called once, as DDP's module, hooks and all
    assert "forward" not in model.__dict__  # the class's forward is back
    padded_c, padded_r = pair_rewards(model, batch, llama_tokenizer.pad_token_id)
    torch.testing.assert_close(chosen, padded_c, atol=1e-5, rtol=0)
    torch.testing.assert_close(rejected, padded_r, atol=1e-5, rtol=0)
    assert real == computed < 2 * batch["input_ids_chosen"].numel()
    (chosen - rejected).sum().backward()
    assert model.score.weight.grad is not None


def test_a_bare_model_is_called_directly_and_an_error_restores_forward(process_group, make_llama):
    model = make_llama()
    assert call_as_forward(model, lambda module, x: (module is model, x), 3) == (True, 3)
    ddp = DistributedDataParallel(model)

    def boom(module, x):
        raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        call_as_forward(ddp, boom, torch.zeros(1))
    assert "forward" not in model.__dict__
