"""`RewardDataCollatorWithPadding`: pads chosen and rejected of a batch to one common length.

One common length lets the trainer stack chosen and rejected into a single batch and run one
forward pass for both. Padding itself is the tokenizer's (`tokenizer.pad`), not ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from rmcore.tokenization import TOKEN_COLUMNS


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
                "(tokenize text pairs with rmcore.tokenization.tokenize_pairs, or pass `chosen`/`rejected` "
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
            batch["margin"] = torch.tensor([float(f["margin"]) for f in features], dtype=torch.float32)
        batch["return_loss"] = True
        return batch
