"""Turn text pairs into the four token columns, truncating from the left so that no pair is dropped.

Chosen and rejected of an hh-rlhf pair share every turn but the last reply, so the part that tells
them apart is at the end: a pair too long for the model keeps its end, not its start.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from transformers import PreTrainedTokenizerBase

TOKEN_COLUMNS = ("input_ids_chosen", "attention_mask_chosen", "input_ids_rejected", "attention_mask_rejected")
TEXT_COLUMNS = ("chosen", "rejected")
# Values above this are the "no limit" sentinel that tokenizers use for model_max_length.
_NO_LIMIT = 1_000_000


def model_max_length(model: Any, tokenizer: PreTrainedTokenizerBase) -> int:
    """The model's own limit: the smaller of the tokenizer's and the position embeddings' lengths."""
    limits = [getattr(tokenizer, "model_max_length", None)]
    config = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        limits.append(getattr(config, name, None))
    usable = [int(x) for x in limits if isinstance(x, int) and 0 < x < _NO_LIMIT]
    return min(usable) if usable else 1024


@lru_cache(maxsize=16)
def _special_affixes_cached(tokenizer: PreTrainedTokenizerBase) -> tuple[tuple[int, ...], tuple[int, ...]]:
    probe = "a"
    content = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe)["input_ids"]
    for start in range(len(full) - len(content) + 1):
        if full[start : start + len(content)] == content:
            return tuple(full[:start]), tuple(full[start + len(content) :])
    return tuple(full[: len(full) - len(content)]), ()


def special_affixes(tokenizer: PreTrainedTokenizerBase) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Token ids the tokenizer puts before and after the text, e.g. ([CLS], [SEP]) for BERT, ([BOS], ()) for Llama."""
    try:
        return _special_affixes_cached(tokenizer)
    except TypeError:  # unhashable tokenizer
        return _special_affixes_cached.__wrapped__(tokenizer)


def truncate_left(
    content: Sequence[int], prefix: Sequence[int], suffix: Sequence[int], max_length: int
) -> tuple[list[int], bool]:
    """Wrap content in the special tokens, dropping tokens from its start to fit max_length.

    Returns:
        (ids, truncated): at most max_length ids, and whether any content token was dropped.
    """
    budget = max_length - len(prefix) - len(suffix)
    if budget < 1:
        raise ValueError(f"max_length={max_length} leaves no room for text after the special tokens")
    truncated = len(content) > budget
    kept = list(content[-budget:]) if truncated else list(content)
    return [*prefix, *kept, *suffix], truncated


def tokenize_texts(
    texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, max_length: int
) -> tuple[list[list[int]], list[bool]]:
    """Tokenize texts with left truncation. Returns the ids and a truncated flag per text."""
    prefix, suffix = special_affixes(tokenizer)
    contents = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
    out = [truncate_left(c, prefix, suffix, max_length) for c in contents]
    return [ids for ids, _ in out], [flag for _, flag in out]


def tokenize_pairs(
    batch: dict[str, list[Any]], tokenizer: PreTrainedTokenizerBase, max_length: int
) -> dict[str, list[Any]]:
    """A batched `datasets.map` function: text pairs (optional `prompt`) to the four token columns.

    Adds `truncated` (either side truncated) so the trainer can report how many pairs were cut.
    """
    prompts = batch.get("prompt") or [""] * len(batch["chosen"])
    chosen = [p + c for p, c in zip(prompts, batch["chosen"], strict=True)]
    rejected = [p + r for p, r in zip(prompts, batch["rejected"], strict=True)]
    ids_c, cut_c = tokenize_texts(chosen, tokenizer, max_length)
    ids_r, cut_r = tokenize_texts(rejected, tokenizer, max_length)
    return {
        "input_ids_chosen": ids_c,
        "attention_mask_chosen": [[1] * len(x) for x in ids_c],
        "input_ids_rejected": ids_r,
        "attention_mask_rejected": [[1] * len(x) for x in ids_r],
        "truncated": [a or b for a, b in zip(cut_c, cut_r, strict=True)],
    }
