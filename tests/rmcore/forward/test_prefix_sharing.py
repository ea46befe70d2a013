"""Prefix sharing: packed `[prompt][chosen][rejected]` rows give the rewards and gradients of the normal path."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from peft import LoraConfig, TaskType, get_peft_model
from transformers import MistralConfig, MistralForSequenceClassification

from rmcore.data.tokenization import tokenize_pairs
from rmcore.forward.packing import packed_pair_rewards
from rmcore.forward.prefix_sharing import (
    MIN_SHARED_FRACTION,
    common_prefix_length,
    pack_shared_prefix,
    prefix_sharing_applies,
    shared_prefix_pair_rewards,
)
from rmcore.forward.rewards import pair_rewards
from rmcore.forward.segments import VarlenSegments
from rmcore.training.collator import RewardDataCollatorWithPadding
from rmcore.training.loss import pairwise_loss

LORA_TARGETS = {"GPT2ForSequenceClassification": ["c_attn"], "LlamaForSequenceClassification": ["q_proj", "v_proj"]}


def _batch(pairs: list[tuple[list[int], list[int]]], pad: int = 2) -> dict[str, torch.Tensor]:
    """A right-padded pair batch from literal token lists."""
    width = max(len(x) for pair in pairs for x in pair)

    def side(index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [pair[index] for pair in pairs]
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        return ids, mask

    (ids_c, mask_c), (ids_r, mask_r) = side(0), side(1)
    return {
        "input_ids_chosen": ids_c,
        "attention_mask_chosen": mask_c,
        "input_ids_rejected": ids_r,
        "attention_mask_rejected": mask_r,
    }


def _text_batch(tokenizer, text_pairs) -> dict[str, torch.Tensor]:
    columns = tokenize_pairs(text_pairs[:], tokenizer, max_length=64)
    features = [{k: columns[k][i] for k in columns} for i in range(len(text_pairs))]
    return RewardDataCollatorWithPadding(tokenizer)(features)


# ----- pure transforms -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("chosen", "rejected", "expected"),
    [
        ([5, 6, 7, 8], [5, 6, 9], 2),  # shared prompt [5 6]
        ([5, 6], [7, 6, 5], 0),  # nothing shared
        ([5, 6, 7], [5, 6, 7], 2),  # identical: each keeps its last token
        ([5, 6], [5, 6, 7, 8], 1),  # chosen is a prefix of rejected: it keeps one token
    ],
)
def test_common_prefix_length_leaves_each_reply_a_token(chosen, rejected, expected):
    assert common_prefix_length(torch.tensor(chosen), torch.tensor(rejected)) == expected


def test_common_prefix_length_refuses_an_empty_sequence():
    with pytest.raises(ValueError, match="non-empty chosen and rejected"):
        common_prefix_length(torch.tensor([], dtype=torch.long), torch.tensor([4]))


def test_pack_shared_prefix_layout():
    """Pairs end to end, no padding: [prompt][chosen reply][rejected reply]; the rejected reply sees its prompt."""
    batch = _batch([([5, 6, 7, 8], [5, 6, 9]), ([4, 3], [9, 9])])
    packed = pack_shared_prefix(batch)
    assert packed.input_ids.tolist() == [[5, 6, 7, 8, 9, 4, 3, 9, 9]]
    assert packed.position_ids.tolist() == [[0, 1, 2, 3, 2, 0, 1, 0, 1]]
    assert list(packed.segments.lengths) == [4, 1, 2, 2]
    assert list(packed.segments.prefixes) == [(0, 0), (0, 2), (0, 0), (5, 0)]
    assert packed.chosen_last.tolist() == [3, 6]
    assert packed.rejected_last.tolist() == [4, 8]
    assert (packed.real_tokens, packed.computed_tokens, packed.unshared_tokens) == (9, 9, 11)
    assert packed.shared_fraction == pytest.approx(2 / 11)


def test_pack_shared_prefix_reads_left_padding():
    right = _batch([([5, 6, 7, 8], [5, 6, 9]), ([4, 3], [4, 9])])
    left = {k: v.clone() for k, v in right.items()}
    for side in ("chosen", "rejected"):
        ids, mask = left[f"input_ids_{side}"], left[f"attention_mask_{side}"]
        for row in range(ids.shape[0]):
            n = int(mask[row].sum())
            ids[row] = torch.cat([ids[row, n:], ids[row, :n]])
            mask[row] = torch.cat([mask[row, n:], mask[row, :n]])
    a, b = pack_shared_prefix(right), pack_shared_prefix(left)
    assert torch.equal(a.input_ids, b.input_ids) and torch.equal(a.position_ids, b.position_ids)
    assert list(a.segments.prefixes) == list(b.segments.prefixes)


# ----- when it applies -----------------------------------------------------------------------------
@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_auto_is_on_for_decoders(decoder, implementation):
    model, _ = decoder
    model.set_attn_implementation(implementation)
    assert prefix_sharing_applies(model, "auto")
    assert prefix_sharing_applies(model, "true")
    assert not prefix_sharing_applies(model, "false")


def test_auto_sees_through_peft(make_llama):
    model = get_peft_model(make_llama(), LoraConfig(task_type=TaskType.SEQ_CLS, r=2, target_modules=["q_proj"]))
    assert prefix_sharing_applies(model, "auto")


def test_auto_is_off_for_an_encoder_and_true_says_why(bert_with_minilm_vocab):
    assert not prefix_sharing_applies(bert_with_minilm_vocab, "auto")
    with pytest.raises(ValueError, match="BertForSequenceClassification: the model is not a causal"):
        prefix_sharing_applies(bert_with_minilm_vocab, "true")


def test_auto_is_off_where_attention_bypasses_the_interface(make_gpt2):
    model = make_gpt2()
    model.__class__._supports_attention_backend = False  # a model with its own attention code
    try:
        assert not prefix_sharing_applies(model, "auto")
        with pytest.raises(ValueError, match="AttentionInterface"):
            prefix_sharing_applies(model, "true")
    finally:
        del model.__class__._supports_attention_backend


def test_auto_is_off_for_sliding_window_attention():
    config = MistralConfig(
        vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, num_labels=1, pad_token_id=2, sliding_window=8,
    )  # fmt: skip
    model = MistralForSequenceClassification(config)
    assert not prefix_sharing_applies(model, "auto")
    with pytest.raises(ValueError, match="sliding-window"):
        prefix_sharing_applies(model, "true")


def test_unknown_mode_is_refused(make_gpt2):
    with pytest.raises(ValueError, match="prefix_sharing must be one of .* got 'yes'"):
        prefix_sharing_applies(make_gpt2(), "yes")


# ----- equivalence with the normal path ------------------------------------------------------------
def _shared(model, batch, pad):
    return shared_prefix_pair_rewards(model, batch, always=True)[:2]


def _rewards_and_grads(fn, model, batch, pad):
    model.zero_grad()
    chosen, rejected = fn(model, batch, pad)
    pairwise_loss(chosen, rejected).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return chosen.detach(), rejected.detach(), grads


def assert_same_as_unshared(model, batch, pad):
    """Rewards and parameter gradients of a pairwise loss within 1e-4 of `pair_rewards` (fp32)."""
    shared = _rewards_and_grads(_shared, model, batch, pad)
    unshared = _rewards_and_grads(pair_rewards, model, batch, pad)
    torch.testing.assert_close(shared[0], unshared[0], atol=1e-4, rtol=0)
    torch.testing.assert_close(shared[1], unshared[1], atol=1e-4, rtol=0)
    assert shared[2].keys() == unshared[2].keys() and shared[2]
    for name, grad in shared[2].items():
        torch.testing.assert_close(grad, unshared[2][name], atol=1e-4, rtol=0, msg=name)


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_equal_rewards_and_gradients_with_padding(decoder, text_pairs, implementation):
    model, tokenizer = decoder
    model.set_attn_implementation(implementation)
    batch = _text_batch(tokenizer, text_pairs)  # 8 pairs of different lengths: padded rows
    assert (
        int(batch["attention_mask_chosen"].sum() + batch["attention_mask_rejected"].sum())
        < 2 * batch["input_ids_chosen"].numel()
    )
    assert_same_as_unshared(model, batch, tokenizer.pad_token_id)


def test_equal_rewards_and_gradients_without_padding(decoder):
    model, tokenizer = decoder
    torch.manual_seed(3)
    prompts = torch.randint(3, 30, (3, 6))
    replies = torch.randint(3, 30, (3, 2, 4))
    pairs = [(p.tolist() + c.tolist(), p.tolist() + r.tolist()) for p, (c, r) in zip(prompts, replies, strict=True)]
    batch = _batch(pairs)
    assert bool(batch["attention_mask_chosen"].all() and batch["attention_mask_rejected"].all())
    assert_same_as_unshared(model, batch, tokenizer.pad_token_id)


def test_equal_rewards_for_the_edge_pairs(decoder):
    """No shared prefix, identical sequences, one a prefix of the other, and pad = EOS inside the text."""
    model, tokenizer = decoder
    pairs = [([5, 6, 7, 8, 2], [5, 6, 9, 2]), ([4, 3, 5], [9, 9]), ([7, 8, 9], [7, 8, 9]), ([5, 6], [5, 6, 7, 8])]
    assert_same_as_unshared(model, _batch(pairs), tokenizer.pad_token_id)


def test_equal_rewards_and_gradients_with_lora(decoder, text_pairs):
    model, tokenizer = decoder
    targets = LORA_TARGETS[type(model).__name__]
    torch.manual_seed(0)
    lora = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, r=4, lora_alpha=8, target_modules=targets))
    for name, param in lora.named_parameters():  # lora_B starts at 0; move it so LoRA changes the rewards
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.1)
    batch = _text_batch(tokenizer, text_pairs)
    assert_same_as_unshared(lora, batch, tokenizer.pad_token_id)
    trainable = {n for n, p in lora.named_parameters() if p.requires_grad}
    assert any("lora_A" in n for n in trainable) and any("score" in n for n in trainable)


def test_returns_none_when_the_prompts_are_too_small_a_share(decoder):
    model, _ = decoder
    batch = _batch([([5, 6, 7], [8, 9, 10]), ([4, 4, 4], [3, 3, 3])])
    assert pack_shared_prefix(batch).shared_fraction < MIN_SHARED_FRACTION
    assert shared_prefix_pair_rewards(model, batch) is None
    assert shared_prefix_pair_rewards(model, batch, always=True) is not None


def test_shared_rows_compute_fewer_tokens(gpt2_tokenizer, text_pairs):
    batch = _text_batch(gpt2_tokenizer, text_pairs)
    packed = pack_shared_prefix(batch)
    real = int(batch["attention_mask_chosen"].sum() + batch["attention_mask_rejected"].sum())
    assert packed.unshared_tokens == real
    assert packed.computed_tokens < real and packed.shared_fraction > MIN_SHARED_FRACTION


@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
def test_flex_attention_block_mask_gives_the_same_shared_rewards(decoder, text_pairs):
    """The GPU kernel's mask (FlexAttention, eager and forward-only on CPUs) against the per-piece loop."""
    model, tokenizer = decoder
    packed = pack_shared_prefix(_text_batch(tokenizer, text_pairs))
    from rmcore.forward.prefix_sharing import shared_prefix_rewards

    with torch.no_grad():
        loop = torch.cat(shared_prefix_rewards(model, packed))
        flex_segments = VarlenSegments(packed.segments.lengths, packed.segments.prefixes, backend="flex")
        flex = torch.cat(shared_prefix_rewards(model, replace(packed, segments=flex_segments)))
    torch.testing.assert_close(flex, loop, atol=1e-5, rtol=0)


def test_shared_equals_plain_packing(decoder, text_pairs):
    model, tokenizer = decoder
    batch = _text_batch(tokenizer, text_pairs)
    with torch.no_grad():
        shared = torch.cat(shared_prefix_pair_rewards(model, batch, always=True)[:2])
        packed = torch.cat(packed_pair_rewards(model, batch)[:2])
    torch.testing.assert_close(shared, packed, atol=1e-5, rtol=0)


def test_trainer_uses_prefix_sharing_for_decoders_with_the_same_loss(
    tmp_path, make_llama, llama_tokenizer, text_pairs, make_config
):
    """RewardConfig.prefix_sharing='auto' turns sharing on for a decoder, and the loss does not change."""
    from rmcore import RewardTrainer

    losses = {}
    for mode in ("auto", "false"):
        trainer = RewardTrainer(
            model=make_llama(),
            args=make_config(tmp_path / mode, prefix_sharing=mode),
            tokenizer=llama_tokenizer,
            train_dataset=text_pairs,
        )
        batch = trainer._prepare_inputs(trainer.data_collator(list(trainer.train_dataset)))
        losses[mode] = trainer.compute_loss(trainer.model, batch).item()
        assert trainer._share_prefix is (mode == "auto")
    assert losses["auto"] == pytest.approx(losses["false"], abs=1e-4)


def test_trainer_keeps_prefix_sharing_off_for_encoders(
    tmp_path, minilm_path, minilm_tokenizer, text_pairs, make_config
):
    from transformers import AutoModelForSequenceClassification

    from rmcore import RewardTrainer

    model = AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=1)
    trainer = RewardTrainer(
        model=model, args=make_config(tmp_path), tokenizer=minilm_tokenizer, train_dataset=text_pairs
    )
    assert trainer._share_prefix is False
