"""Turn text pairs into the four token columns, truncating from the left so that no pair is dropped.

Chosen and rejected of an hh-rlhf pair share every turn but the last reply, so the part that tells
them apart is at the end: a pair too long for the model keeps its end, not its start.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from transformers import PreTrainedTokenizerBase

from rmcore.data.chat import (
    chat_template_in_effect,
    check_messages,
    decode_messages,
    decode_template_kwargs,
    decode_tools,
    is_conversational,
    render_conversation,
)

TOKEN_COLUMNS = ("input_ids_chosen", "attention_mask_chosen", "input_ids_rejected", "attention_mask_rejected")
TEXT_COLUMNS = ("chosen", "rejected")
# Values above this are the "no limit" sentinel that tokenizers use for model_max_length.
_NO_LIMIT = 1_000_000


def position_limit(model: Any) -> int | None:
    """The longest sequence the model's position embeddings cover, None when it has no such limit."""
    config = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and 0 < value < _NO_LIMIT:
            return value
    return None


def check_max_length_setting(max_length: int | None) -> None:
    """The range of every `max_length` setting (training's, scoring's): None = the model's own, else at least
    2 tokens, since a text keeps its special tokens and at least one of its own."""
    if max_length is not None and max_length < 2:
        raise ValueError(f"max_length must be at least 2 tokens or None (the model's own), got {max_length}")


def check_max_length(max_length: int, model: Any) -> None:
    """Refuse a max_length the position embeddings cannot reach, before it fails mid-training."""
    limit = position_limit(model)
    if limit is not None and max_length > limit:
        raise ValueError(f"--max_length {max_length} is above this model's position limit of {limit} tokens")


def model_max_length(model: Any, tokenizer: PreTrainedTokenizerBase) -> int:
    """The model's own limit: the smaller of the tokenizer's and the position embeddings' lengths."""
    limits = [getattr(tokenizer, "model_max_length", None)]
    config = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        limits.append(getattr(config, name, None))
    usable = [int(x) for x in limits if isinstance(x, int) and 0 < x < _NO_LIMIT]
    return min(usable) if usable else 1024


def resolve_max_length(requested: int | None, model: Any, tokenizer: PreTrainedTokenizerBase) -> int:
    """The token limit in effect: `requested` when given, else the model's own (`model_max_length`).

    The one place the fallback is written. Each door calls it once (`RewardTrainer`, the pipeline's
    training, the reward server's model load, `score_texts` for a Python caller) and passes the result on.
    """
    return requested or model_max_length(model, tokenizer)


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


def template_affixes(
    content: Sequence[int], prefix: Sequence[int], suffix: Sequence[int]
) -> tuple[list[int], tuple[int, ...], tuple[int, ...]]:
    """Split templated ids into (body, leading, trailing) where the template wrote the tokenizer's own affixes.

    A chat template writes its special tokens itself ([CLS] ... [SEP], <s> ...). Cutting such a text from
    the left must keep them, as the untemplated path keeps the tokenizer's: the model was never shown a
    sequence without its leading [CLS] or <s>.
    """
    head = tuple(prefix) if prefix and tuple(content[: len(prefix)]) == tuple(prefix) else ()
    rest = content[len(head) :]
    tail = (
        tuple(suffix)
        if suffix and len(rest) >= len(suffix) and tuple(rest[len(rest) - len(suffix) :]) == tuple(suffix)
        else ()
    )
    return list(rest[: len(rest) - len(tail)]), head, tail


def tokenize_texts(
    texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, max_length: int, templated: bool = False
) -> tuple[list[list[int]], list[bool]]:
    """Tokenize texts with left truncation. Returns the ids and a truncated flag per text.

    `templated` texts come from a chat template, which writes its own special tokens: none are added,
    as in `apply_chat_template(tokenize=True)`, and those it wrote at either end survive truncation.
    """
    prefix, suffix = special_affixes(tokenizer)
    contents = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
    if not templated:
        out = [truncate_left(c, prefix, suffix, max_length) for c in contents]
    else:
        out = [truncate_left(*template_affixes(c, prefix, suffix), max_length) for c in contents]
    return [ids for ids, _ in out], [flag for _, flag in out]


def _row_where(name: str, indices: Sequence[int] | None, i: int, column: str) -> str:
    row = indices[i] if indices is not None else i
    return f"{name} row {row}, column `{column}`"


def _render_arguments(tools: Any, kwargs: Any, where: str) -> dict[str, Any]:
    """A row's `tools` and `chat_template_kwargs`, decoded from JSON text if need be; a bad one names the row."""
    try:
        return {"tools": decode_tools(tools), "chat_template_kwargs": decode_template_kwargs(kwargs)}
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def conversation_texts(
    batch: dict[str, list[Any]], tokenizer: PreTrainedTokenizerBase, indices: Sequence[int] | None, name: str
) -> tuple[list[str], list[str]]:
    """Render conversational pairs as TRL does: template(prompt + chosen), template(prompt + rejected).

    Each row may carry `tools` (a list or a JSON string) and `chat_template_kwargs` (an object or a JSON
    string), passed to the template as TRL passes them. Every row must be
    conversational in every column: a dataset mixing text and message lists is refused, naming the row.
    """
    n = len(batch["chosen"])
    batch = {
        k: [decode_messages(v) for v in batch[k]] if k in ("prompt", "chosen", "rejected") else batch[k] for k in batch
    }
    # An empty prompt is no prompt: stores fill "" where a file had no prompt column.
    prompts = [p if p not in ("", None) else [] for p in batch.get("prompt") or [[]] * n]
    tools = batch.get("tools") or [None] * n
    kwargs = batch.get("chat_template_kwargs") or [None] * n
    chosen, rejected = [], []
    for i in range(n):
        sides = {"chosen": batch["chosen"][i], "rejected": batch["rejected"][i]}
        if "prompt" in batch and prompts[i]:
            sides["prompt"] = prompts[i]
        for column, value in sides.items():
            if not isinstance(value, list):
                raise ValueError(
                    f"{_row_where(name, indices, i, column)} holds text, but other rows hold message lists: "
                    "one dataset must be all text or all conversations"
                )
            check_messages(value, _row_where(name, indices, i, column))
        render = _render_arguments(tools[i], kwargs[i], f"{name} row {indices[i] if indices is not None else i}")
        chosen.append(render_conversation(tokenizer, [*prompts[i], *sides["chosen"]], **render))
        rejected.append(render_conversation(tokenizer, [*prompts[i], *sides["rejected"]], **render))
    return chosen, rejected


def text_pair_texts(batch: dict[str, list[Any]], indices: Sequence[int] | None, name: str) -> tuple[list, list]:
    """prompt + chosen and prompt + rejected of text pairs; a message list among them is refused by row."""
    n = len(batch["chosen"])
    prompts = batch.get("prompt") or [""] * n
    for column in ("prompt", "chosen", "rejected"):
        for i, value in enumerate(batch.get(column) or []):
            if not isinstance(value, str):
                raise ValueError(
                    f"{_row_where(name, indices, i, column)} holds {type(value).__name__}, but other rows hold "
                    "text: one dataset must be all text or all conversations"
                )
    return (
        [p + c for p, c in zip(prompts, batch["chosen"], strict=True)],
        [p + r for p, r in zip(prompts, batch["rejected"], strict=True)],
    )


def is_conversational_row(row: dict[str, Any]) -> bool:
    """Whether a row's pair is conversational: message lists, or message lists stored as JSON text."""
    return is_conversational({k: decode_messages(row[k]) for k in ("prompt", "chosen", "rejected") if k in row})


def pair_sequences(
    batch: dict[str, list[Any]],
    tokenizer: PreTrainedTokenizerBase,
    indices: Sequence[int] | None = None,
    name: str = "dataset",
    conversational: bool | None = None,
) -> tuple[list[str], list[str], bool]:
    """The full chosen and rejected texts of each pair, as trained on and scored, and whether a chat
    template wrote them (then they carry their own special tokens)."""
    if conversational is None:
        conversational = is_conversational_row({k: batch[k][0] for k in batch})
    if not conversational:
        return (*text_pair_texts(batch, indices, name), False)
    chosen, rejected = conversation_texts(batch, tokenizer, indices, name)
    return chosen, rejected, chat_template_in_effect(tokenizer) is not None


def tokenize_pairs(
    batch: dict[str, list[Any]],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    indices: Sequence[int] | None = None,
    name: str = "dataset",
    conversational: bool | None = None,
) -> dict[str, list[Any]]:
    """A batched `datasets.map` function: text or conversational pairs to the four token columns.

    Text pairs are `prompt + chosen` / `prompt + rejected`; conversational ones are rendered by
    `conversation_texts`. Whether the dataset is conversational is decided on its first row
    (`conversational`), so a later row of the other kind is an error, not a silent re-interpretation.
    Adds `truncated` (either side truncated) so the trainer can report how many pairs were cut.
    """
    chosen, rejected, templated = pair_sequences(batch, tokenizer, indices, name, conversational)
    ids_c, cut_c = tokenize_texts(chosen, tokenizer, max_length, templated)
    ids_r, cut_r = tokenize_texts(rejected, tokenizer, max_length, templated)
    return {
        "input_ids_chosen": ids_c,
        "attention_mask_chosen": [[1] * len(x) for x in ids_c],
        "input_ids_rejected": ids_r,
        "attention_mask_rejected": [[1] * len(x) for x in ids_r],
        "truncated": [a or b for a, b in zip(cut_c, cut_r, strict=True)],
    }
