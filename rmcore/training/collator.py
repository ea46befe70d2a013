"""Collators: `RewardDataCollatorWithPadding` pads chosen and rejected of a batch to one common length.

One common length lets the trainer stack chosen and rejected into a single batch and run one
forward pass for both. Padding itself is the tokenizer's (`tokenizer.pad`), not ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from rmcore.data.tokenization import TOKEN_COLUMNS


@dataclass
class RewardDataCollatorWithPadding:
    """Collate pre-tokenized pairs into the four padded columns, plus `margin` when present.

    Args:
        tokenizer: pads with its pad token and padding side.
        padding: passed to `tokenizer.pad` (True = to the longest sequence of the batch).
        pad_to_multiple_of: round the padded length up to a multiple of this (helps tensor cores).
        return_tensors: only "pt" is supported.
    """

    tokenizer: PreTrainedTokenizerBase
    padding: bool | str = True
    pad_to_multiple_of: int | None = None
    return_tensors: str = "pt"

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        missing = [c for c in TOKEN_COLUMNS if c not in features[0]]
        if missing:
            raise ValueError(
                f"the batch lacks column(s) {missing}: a reward batch needs {list(TOKEN_COLUMNS)} "
                "(tokenize text pairs with rmcore.data.tokenization.tokenize_pairs, or pass `chosen`/`rejected` "
                "text to RewardTrainer, which tokenizes them)"
            )
        longest = max(max(len(f["input_ids_chosen"]), len(f["input_ids_rejected"])) for f in features)
        pad_kwargs = {
            "padding": "max_length" if self.padding is True else self.padding,
            "max_length": longest if self.padding is True else None,
            "pad_to_multiple_of": self.pad_to_multiple_of,
            "return_tensors": self.return_tensors,
        }
        batch: dict[str, Any] = {}
        for side in ("chosen", "rejected"):
            padded = self.tokenizer.pad(
                [
                    {"input_ids": f[f"input_ids_{side}"], "attention_mask": f[f"attention_mask_{side}"]}
                    for f in features
                ],
                **pad_kwargs,
            )
            batch[f"input_ids_{side}"] = padded["input_ids"]
            batch[f"attention_mask_{side}"] = padded["attention_mask"]
        if "margin" in features[0]:
            batch["margin"] = torch.tensor([margin_value(f["margin"]) for f in features], dtype=torch.float32)
        batch["return_loss"] = True
        return batch


@dataclass
class DataCollatorForPreference:
    """TRL's preference collator: `chosen_ids`/`rejected_ids` (or our token columns) right padded.

    Returns TRL's keys, `input_ids`/`attention_mask` of [2B, L] (chosen rows first, then rejected) and
    `margin` when present, and the same tensors split as our four columns, so `RewardTrainer` trains
    on its batches unchanged.

    Args:
        pad_token_id: id written into padded positions.
        pad_to_multiple_of: round the padded length up to a multiple of this.
        return_tensors: only "pt" is supported.
    """

    pad_token_id: int
    pad_to_multiple_of: int | None = None
    return_tensors: str = "pt"

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        key = "chosen_ids" if "chosen_ids" in examples[0] else "input_ids_chosen"
        other = "rejected_ids" if key == "chosen_ids" else "input_ids_rejected"
        sequences = [list(e[key]) for e in examples] + [list(e[other]) for e in examples]
        length = max(len(s) for s in sequences)
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        input_ids = torch.full((len(sequences), length), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(sequences), length), dtype=torch.long)
        for row, ids in enumerate(sequences):
            input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, : len(ids)] = 1
        half = len(examples)
        batch: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "margin" in examples[0]:
            batch["margin"] = torch.tensor([margin_value(e["margin"]) for e in examples], dtype=torch.float)
        batch.update(
            input_ids_chosen=input_ids[:half],
            attention_mask_chosen=attention_mask[:half],
            input_ids_rejected=input_ids[half:],
            attention_mask_rejected=attention_mask[half:],
            return_loss=True,
        )
        return batch


def margin_value(margin: Any) -> float:
    """A margin as a float; TRL's own tests store it as a one-element list."""
    return float(margin[0] if isinstance(margin, list | tuple) else margin)
