"""The padding collator on tiny literal batches."""

from __future__ import annotations

import pytest
import torch

from rmcore import RewardDataCollatorWithPadding

PAD = 2  # the word tokenizer's pad (= EOS) id


def features(margins: list[float] | None = None) -> list[dict]:
    rows = [
        {"input_ids_chosen": [5, 6, 7], "input_ids_rejected": [5, 6]},
        {"input_ids_chosen": [8], "input_ids_rejected": [8, 9, 10, 11, 12]},
    ]
    for i, row in enumerate(rows):
        row["attention_mask_chosen"] = [1] * len(row["input_ids_chosen"])
        row["attention_mask_rejected"] = [1] * len(row["input_ids_rejected"])
        if margins is not None:
            row["margin"] = margins[i]
    return rows


def test_chosen_and_rejected_share_one_padded_length(gpt2_tokenizer):
    batch = RewardDataCollatorWithPadding(gpt2_tokenizer)(features())
    for key in ("input_ids_chosen", "attention_mask_chosen", "input_ids_rejected", "attention_mask_rejected"):
        assert batch[key].shape == (2, 5), key
    assert batch["input_ids_chosen"].tolist() == [[5, 6, 7, PAD, PAD], [8, PAD, PAD, PAD, PAD]]
    assert batch["attention_mask_chosen"].tolist() == [[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]]
    assert batch["input_ids_rejected"].tolist() == [[5, 6, PAD, PAD, PAD], [8, 9, 10, 11, 12]]
    assert "margin" not in batch


def test_left_padding_follows_the_tokenizer(gpt2_tokenizer):
    gpt2_tokenizer.padding_side = "left"
    batch = RewardDataCollatorWithPadding(gpt2_tokenizer)(features())
    assert batch["input_ids_chosen"].tolist() == [[PAD, PAD, 5, 6, 7], [PAD, PAD, PAD, PAD, 8]]
    assert batch["attention_mask_rejected"].tolist() == [[0, 0, 0, 1, 1], [1, 1, 1, 1, 1]]


def test_pad_to_multiple_of_rounds_the_common_length_up(gpt2_tokenizer):
    batch = RewardDataCollatorWithPadding(gpt2_tokenizer, pad_to_multiple_of=8)(features())
    assert batch["input_ids_chosen"].shape == batch["input_ids_rejected"].shape == (2, 8)


def test_margin_passes_through_as_float_tensor(gpt2_tokenizer):
    batch = RewardDataCollatorWithPadding(gpt2_tokenizer)(features(margins=[0.5, 2]))
    assert batch["margin"].dtype == torch.float32
    assert batch["margin"].tolist() == [0.5, 2.0]


def test_missing_column_is_named(gpt2_tokenizer):
    rows = features()
    for row in rows:
        del row["attention_mask_rejected"]
    with pytest.raises(ValueError, match="attention_mask_rejected"):
        RewardDataCollatorWithPadding(gpt2_tokenizer)(rows)
