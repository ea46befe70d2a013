"""Rewards are read at the last real token: a padded batch scores like each sequence alone.

The decoders pad with their EOS token, as GPT-2 and Llama checkpoints usually do, so transformers'
own "last token that is not pad" pooling misreads sequences that end in EOS and left-padded batches.
"""

from __future__ import annotations

import pytest
import torch

from rmcore.forward.rewards import (
    compute_rewards,
    concat_pair_batch,
    is_decoder_classifier,
    last_token_indices,
    pair_rewards,
    position_ids_from_mask,
)

TEXTS = ["hello", "human tell me a joke assistant the cat sat on the mat", "how are you i am fine"]
ATOL = 1e-5


def alone(model, tokenizer, texts: list[str]) -> torch.Tensor:
    """Each text scored in a batch of one: no padding at all."""
    rows = []
    for text in texts:
        encoded = tokenizer(text, return_tensors="pt")
        rows.append(compute_rewards(model, encoded["input_ids"], encoded["attention_mask"]))
    return torch.cat(rows)


def padded(model, tokenizer, texts: list[str], side: str) -> torch.Tensor:
    tokenizer.padding_side = side
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    assert (batch["attention_mask"] == 0).any(), "the batch must actually be padded"
    return compute_rewards(model, batch["input_ids"], batch["attention_mask"])


def test_last_token_indices_for_right_and_left_padding():
    mask = torch.tensor([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    assert last_token_indices(mask).tolist() == [2, 4, 4, 0]


def test_position_ids_count_real_tokens_only():
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 0, 0, 0]])
    assert position_ids_from_mask(mask).tolist() == [[0, 0, 0, 1, 2], [0, 1, 1, 1, 1]]


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("end_with_eos", [False, True], ids=["plain", "ends-in-eos"])
def test_decoder_padded_batch_equals_each_sequence_alone(decoder, side, end_with_eos):
    model, tokenizer = decoder
    assert tokenizer.pad_token_id == tokenizer.eos_token_id == model.config.pad_token_id
    texts = [t + " </s>" for t in TEXTS] if end_with_eos else TEXTS
    with torch.no_grad():
        expected = alone(model, tokenizer, texts)
        got = padded(model, tokenizer, texts, side)
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)


def test_decoder_agrees_with_native_pooling_where_native_is_right(decoder):
    """Right padding, no EOS inside: transformers' own pooling reads the same token as ours."""
    model, tokenizer = decoder
    tokenizer.padding_side = "right"
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        native = model(**batch).logits[:, 0]
        ours = compute_rewards(model, batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(ours, native, atol=ATOL, rtol=0)


def test_native_pooling_misreads_a_sequence_ending_in_eos(make_gpt2, gpt2_tokenizer):
    """Why rmcore pools itself: with pad == EOS, transformers skips the final EOS of a sequence."""
    model = make_gpt2()
    batch = gpt2_tokenizer(["how are you </s>"], return_tensors="pt")
    with torch.no_grad():
        native = model(**batch).logits[:, 0]
        ours = compute_rewards(model, batch["input_ids"], batch["attention_mask"])
    assert not torch.allclose(native, ours, atol=1e-4)


def test_encoder_right_padded_batch_equals_each_sequence_alone(bert_with_minilm_vocab, minilm_tokenizer):
    model = bert_with_minilm_vocab
    assert not is_decoder_classifier(model)
    with torch.no_grad():
        expected = alone(model, minilm_tokenizer, TEXTS)
        got = padded(model, minilm_tokenizer, TEXTS, "right")
        native = model(**minilm_tokenizer(TEXTS, padding=True, return_tensors="pt")).logits[:, 0]
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)
    torch.testing.assert_close(got, native, atol=0, rtol=0)


def test_real_minilm_padded_batch_equals_each_sequence_alone(minilm, minilm_tokenizer):
    with torch.no_grad():
        torch.testing.assert_close(
            padded(minilm.eval(), minilm_tokenizer, TEXTS, "right"),
            alone(minilm, minilm_tokenizer, TEXTS),
            atol=ATOL,
            rtol=0,
        )


def test_is_decoder_classifier_sees_through_peft(make_gpt2, make_llama):
    from peft import LoraConfig, TaskType, get_peft_model

    model = get_peft_model(make_llama(), LoraConfig(task_type=TaskType.SEQ_CLS, r=2, target_modules=["q_proj"]))
    assert is_decoder_classifier(model)
    assert is_decoder_classifier(make_gpt2())


def test_concat_pair_batch_stacks_chosen_over_rejected():
    batch = {
        "input_ids_chosen": torch.tensor([[5, 6, 7]]),
        "attention_mask_chosen": torch.tensor([[1, 1, 1]]),
        "input_ids_rejected": torch.tensor([[8, 9]]),
        "attention_mask_rejected": torch.tensor([[1, 1]]),
    }
    ids, mask = concat_pair_batch(batch, pad_token_id=2)
    assert ids.tolist() == [[5, 6, 7], [8, 9, 2]]
    assert mask.tolist() == [[1, 1, 1], [1, 1, 0]]


def test_pair_rewards_equal_scoring_each_side_alone(make_llama, llama_tokenizer):
    model = make_llama()
    llama_tokenizer.padding_side = "left"
    chosen = llama_tokenizer(TEXTS[:2], padding=True, return_tensors="pt")
    rejected = llama_tokenizer(TEXTS[1:], padding=True, return_tensors="pt")
    batch = {
        "input_ids_chosen": chosen["input_ids"],
        "attention_mask_chosen": chosen["attention_mask"],
        "input_ids_rejected": rejected["input_ids"],
        "attention_mask_rejected": rejected["attention_mask"],
    }
    with torch.no_grad():
        rewards_chosen, rewards_rejected = pair_rewards(model, batch, llama_tokenizer.pad_token_id)
        torch.testing.assert_close(rewards_chosen, alone(model, llama_tokenizer, TEXTS[:2]), atol=ATOL, rtol=0)
        torch.testing.assert_close(rewards_rejected, alone(model, llama_tokenizer, TEXTS[1:]), atol=ATOL, rtol=0)
