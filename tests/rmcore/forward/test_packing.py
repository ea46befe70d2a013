"""Packing: sequences lie end to end, attend only to themselves, and packed rewards equal padded ones."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import BertConfig, BertForSequenceClassification, RobertaConfig, RobertaForSequenceClassification

from rmcore.data.tokenization import tokenize_pairs
from rmcore.forward.packing import (
    pack_sequences,
    packed_pair_rewards,
    packed_rewards,
    supports_packing,
    unpad,
)
from rmcore.forward.rewards import compute_rewards, pair_rewards
from rmcore.training.collator import RewardDataCollatorWithPadding
from rmcore.training.loss import pairwise_loss


def test_pack_sequences_layout():
    packed = pack_sequences([torch.tensor([5, 6, 7]), torch.tensor([8]), torch.tensor([9, 10, 11, 12])])
    assert packed.input_ids.tolist() == [[5, 6, 7, 8, 9, 10, 11, 12]]
    assert packed.position_ids.tolist() == [[0, 1, 2, 0, 0, 1, 2, 3]]
    assert packed.lengths == (3, 1, 4)
    assert packed.first_index.tolist() == [0, 3, 4]
    assert packed.last_index.tolist() == [2, 3, 7]
    assert (packed.real_tokens, packed.computed_tokens) == (8, 8)


@given(st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=40))
@settings(max_examples=60, deadline=None)
def test_pack_sequences_indexes_every_sequence(lengths):
    sequences = [torch.full((n,), i) for i, n in enumerate(lengths)]
    packed = pack_sequences(sequences)
    row = packed.input_ids[0]
    for i, n in enumerate(lengths):
        first, last = int(packed.first_index[i]), int(packed.last_index[i])
        assert last - first + 1 == n and bool((row[first : last + 1] == i).all())
        assert packed.position_ids[0, first : last + 1].tolist() == list(range(n))


def test_pack_sequences_refuses_empty_input():
    with pytest.raises(ValueError, match="at least one sequence"):
        pack_sequences([])
    with pytest.raises(ValueError, match="sequence 1 is empty"):
        pack_sequences([torch.tensor([1]), torch.tensor([], dtype=torch.long)])


def test_unpad_reads_left_and_right_padding():
    ids = torch.tensor([[0, 0, 4, 5], [6, 7, 0, 0]])
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 0, 0]])
    assert [x.tolist() for x in unpad(ids, mask)] == [[4, 5], [6, 7]]


def _alone(model, sequences):
    return torch.cat([compute_rewards(model, s[None], torch.ones(1, len(s), dtype=torch.long)) for s in sequences])


def test_packed_rewards_equal_each_sequence_alone_decoders(decoder):
    model, _ = decoder
    torch.manual_seed(1)
    sequences = [torch.randint(3, 30, (n,)) for n in (7, 3, 5, 9, 2, 4)]
    with torch.no_grad():
        packed = packed_rewards(model, pack_sequences(sequences))
        alone = _alone(model, sequences)
    torch.testing.assert_close(packed, alone, atol=1e-5, rtol=1e-4)


def test_packed_rewards_equal_each_sequence_alone_bert(bert_with_minilm_vocab):
    torch.manual_seed(1)
    sequences = [torch.randint(1000, 2000, (n,)) for n in (7, 3, 5, 9, 2, 4)]
    with torch.no_grad():
        packed = packed_rewards(bert_with_minilm_vocab, pack_sequences(sequences))
        alone = _alone(bert_with_minilm_vocab, sequences)
    torch.testing.assert_close(packed, alone, atol=1e-5, rtol=1e-4)


def _pair_batch(tokenizer, text_pairs):
    columns = tokenize_pairs(text_pairs[:], tokenizer, max_length=64)
    features = [{k: columns[k][i] for k in columns} for i in range(len(text_pairs))]
    return RewardDataCollatorWithPadding(tokenizer)(features)


def test_packed_pair_rewards_and_gradients_match_padded(bert_with_minilm_vocab, minilm_tokenizer, text_pairs):
    """Training on packed batches is training on the same loss: equal rewards and equal gradients."""
    model = bert_with_minilm_vocab
    batch = _pair_batch(minilm_tokenizer, text_pairs)
    padded_c, padded_r = pair_rewards(model, batch, minilm_tokenizer.pad_token_id)
    pairwise_loss(padded_c, padded_r).backward()
    padded_grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad()
    packed_c, packed_r, packed = packed_pair_rewards(model, batch)
    pairwise_loss(packed_c, packed_r).backward()
    packed_grads = [p.grad for p in model.parameters() if p.grad is not None]
    torch.testing.assert_close(packed_c, padded_c, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(packed_r, padded_r, atol=1e-5, rtol=1e-4)
    for a, b in zip(packed_grads, padded_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-3)
    real = int(batch["attention_mask_chosen"].sum() + batch["attention_mask_rejected"].sum())
    assert packed.real_tokens == real
    assert packed.computed_tokens == real


def test_packed_pair_rewards_decoder_with_left_padding(decoder, text_pairs):
    model, tokenizer = decoder
    tokenizer.padding_side = "left"
    batch = _pair_batch(tokenizer, text_pairs)
    with torch.no_grad():
        padded = pair_rewards(model, batch, tokenizer.pad_token_id)
        packed = packed_pair_rewards(model, batch)[:2]
    for a, b in zip(packed, padded, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_supports_packing(decoder, bert_with_minilm_vocab):
    assert supports_packing(decoder[0])
    assert supports_packing(bert_with_minilm_vocab)
    config = RobertaConfig(
        vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, num_labels=1
    )
    assert not supports_packing(RobertaForSequenceClassification(config))  # its head reads the whole sequence
    bert = BertForSequenceClassification(BertConfig(**config.to_diff_dict()))
    bert._supports_attention_backend = False  # as models with their own attention code declare
    assert not supports_packing(bert)


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_packed_rewards_exact_for_each_attention_implementation(decoder, implementation):
    """Whatever the model's own attention, packed sequences attend per sequence; the model keeps its setting."""
    model, _ = decoder
    model.config._attn_implementation = implementation
    torch.manual_seed(2)
    sequences = [torch.randint(3, 30, (n,)) for n in (6, 2, 8, 3)]
    with torch.no_grad():
        packed = packed_rewards(model, pack_sequences(sequences))
        alone = _alone(model, sequences)
    torch.testing.assert_close(packed, alone, atol=1e-5, rtol=1e-4)
    assert model.config._attn_implementation == implementation


def test_packed_rewards_refuse_a_model_whose_attention_bypasses_the_interface():
    """Attention that never sees the sequence lengths would mix packed sequences: refuse, say what to do."""
    config = BertConfig(
        vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, num_labels=1
    )
    model = BertForSequenceClassification(config)
    model.bert.encoder.layer[0].attention.self.forward = lambda hidden_states, *args, **kwargs: (hidden_states, None)
    with pytest.raises(RuntimeError, match="padding_free=False"):
        packed_rewards(model, pack_sequences([torch.tensor([5, 6]), torch.tensor([7])]))
    assert model.config._attn_implementation == "sdpa"


def test_trainer_packs_by_default_with_the_same_loss(tmp_path, bert_with_minilm_vocab, minilm_tokenizer, text_pairs):
    """padding_free=True computes fewer padded tokens than padded batches, and the same loss."""
    from rmcore import RewardConfig, RewardTrainer

    results = {}
    for padding_free in (True, False):
        args = RewardConfig(
            output_dir=str(tmp_path / str(padding_free)),
            padding_free=padding_free,
            bf16=False,
            use_cpu=True,
            report_to="none",
            disable_tqdm=True,
        )
        trainer = RewardTrainer(
            model=bert_with_minilm_vocab, args=args, tokenizer=minilm_tokenizer, train_dataset=text_pairs
        )
        trainer.model.train()
        batch = trainer._prepare_inputs(trainer.data_collator(list(trainer.train_dataset)))
        loss = trainer.compute_loss(trainer.model, batch).item()
        results[padding_free] = (loss, trainer._tokens_real / trainer._tokens_computed, trainer._pack)
    assert results[True][2] is True and results[False][2] is False
    assert results[True][0] == pytest.approx(results[False][0], abs=1e-4)
    assert results[True][1] > results[False][1]


@pytest.mark.skipif(
    not __import__("rmcore.forward.precision").forward.precision.bf16_supported(), reason="no fast bf16 on this machine"
)
@pytest.mark.parametrize("padding_free", [True, False])
def test_compute_loss_runs_in_bf16_when_asked(
    tmp_path, bert_with_minilm_vocab, minilm_tokenizer, text_pairs, padding_free
):
    """The packed path calls the backbone directly, past accelerate's autocast wrapper of model.forward:
    without the trainer's own autocast it silently trained in fp32 (half the speed on this CPU)."""
    from rmcore import RewardConfig, RewardTrainer

    args = RewardConfig(
        output_dir=str(tmp_path), bf16=True, padding_free=padding_free, report_to="none", disable_tqdm=True
    )
    trainer = RewardTrainer(
        model=bert_with_minilm_vocab, args=args, tokenizer=minilm_tokenizer, train_dataset=text_pairs
    )
    seen = []
    linear = next(m for m in trainer.model.modules() if isinstance(m, torch.nn.Linear))
    linear.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    trainer.model.train()
    batch = trainer._prepare_inputs(trainer.data_collator(list(trainer.train_dataset)))
    trainer.compute_loss(trainer.model, batch)
    assert seen and all(dtype == torch.bfloat16 for dtype in seen)


def _train_without_dropout(model: torch.nn.Module) -> torch.nn.Module:
    """Train mode (checkpointing acts only there) with dropout off, so every path computes the same function."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model.train()


@pytest.mark.parametrize("use_reentrant", [False, True])
@pytest.mark.parametrize("family", ["bert", "llama-shared-prefix"])
def test_packed_gradients_under_gradient_checkpointing_match_padded(
    family, use_reentrant, bert_with_minilm_vocab, minilm_tokenizer, make_llama, llama_tokenizer, text_pairs
):
    """Checkpointed layers recompute in backward with packed attention: rewards and gradients stay exact."""
    from rmcore.forward.prefix_sharing import shared_prefix_pair_rewards

    if family == "bert":
        model, tokenizer = bert_with_minilm_vocab, minilm_tokenizer
        packed_fn = lambda m, b: packed_pair_rewards(m, b)[:2]  # noqa: E731
    else:
        model, tokenizer = make_llama(), llama_tokenizer
        packed_fn = lambda m, b: shared_prefix_pair_rewards(m, b, always=True)[:2]  # noqa: E731
    model = _train_without_dropout(model)
    batch = _pair_batch(tokenizer, text_pairs)

    def rewards_and_grads(fn):
        model.zero_grad()
        chosen, rejected = fn(model, batch)
        pairwise_loss(chosen, rejected).backward()
        return chosen.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    padded = rewards_and_grads(lambda m, b: pair_rewards(m, b, tokenizer.pad_token_id))
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": use_reentrant})
    if use_reentrant:  # reentrant checkpointing needs an input that requires grad to replay the layers
        model.enable_input_require_grads()
    checkpointed = rewards_and_grads(packed_fn)
    torch.testing.assert_close(checkpointed[0], padded[0], atol=1e-5, rtol=1e-4)
    layer_grads = [n for n in padded[1] if ".layer" in n]
    assert layer_grads and checkpointed[1].keys() == padded[1].keys()
    for name, grad in padded[1].items():
        torch.testing.assert_close(checkpointed[1][name], grad, atol=1e-5, rtol=1e-3, msg=name)


def test_trainer_packs_under_gradient_checkpointing(tmp_path, bert_with_minilm_vocab, minilm_tokenizer, text_pairs):
    """TRL's default config checkpoints layers; the trainer keeps padding-free batches there."""
    from rmcore import RewardConfig, RewardTrainer

    args = RewardConfig(output_dir=str(tmp_path), gradient_checkpointing=True, bf16=False, use_cpu=True,
                        report_to="none", disable_tqdm=True, max_steps=1, save_strategy="no")  # fmt: skip
    trainer = RewardTrainer(
        model=bert_with_minilm_vocab, args=args, tokenizer=minilm_tokenizer, train_dataset=text_pairs
    )
    trainer.train()
    assert trainer._pack is True
    # The step is logged (a one-step run logs every step), with the share of computed tokens that were real.
    efficiency = [entry["padding_efficiency"] for entry in trainer.state.log_history if "padding_efficiency" in entry]
    assert efficiency == [1.0]
