"""The pandera schemas of preference pairs: the named row rules and the duplicate rules.

Every rule has a name (`RULES`) that shows in the reason a row was refused; `PairModel` holds the
row rules, `duplicate_schema` the rules that compare rows with each other and with the store.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from rmcore.data.chat import MESSAGE_RULES, RENDER_KEYS, decode_template_kwargs, decode_tools, message_issue
from tasks.data.id_index import IdIndex

# A margin is a difference of reward-scale scores; beyond this it can only be a unit or data error, and it
# drives the margin loss to zero for every pair (the loss saturates), so it is refused rather than trained on.
MAX_ABS_MARGIN = 1e4
# Every rule, in the order reasons are listed, with what a failing value is said to be.
RULES = {
    "json_parse": "is not a JSON object",
    "utf8": "is not valid UTF-8",
    "truncated_file": "is cut off: the file ends mid-stream",
    "outside_root": "is a link out of its folder or the data root",
    "not_pair_file": "is not a pair file",
    "required_fields": "is missing or null",
    "string_type": "must be a string or a message list",
    "message_list": MESSAGE_RULES["message_list"],
    "tool_content": MESSAGE_RULES["tool_content"],
    "tool_call_name": MESSAGE_RULES["tool_call_name"],
    "tool_call_arguments": MESSAGE_RULES["tool_call_arguments"],
    "tools_list": "must be a list of function schemas or JSON text of one",
    "template_kwargs": "must be an object or JSON text of one",
    "same_format": "mixes text and message lists in one pair",
    "non_empty": "is empty or only whitespace",
    "chosen_ne_rejected": "is the same text as `rejected`",
    "margin_finite": f"must be a finite number, |margin| <= {MAX_ABS_MARGIN:g}",
    "row_size": "is larger than max_row_bytes",
    "duplicate": "repeats an earlier pair of this batch",
    "swapped_duplicate": "is an earlier or stored pair with chosen and rejected swapped",
    "duplicate_of_stored": "is already in the store",
}
TEXT_FIELDS = ("chosen", "rejected", "prompt")
# How a conversation is rendered: kept with the pair, not part of its id.
RENDER_FIELDS = RENDER_KEYS


def _is_text_or_none(value: Any) -> bool:
    """Text, or a list (a conversation, whose messages `message_list` checks)."""
    return value is None or isinstance(value, str | list)


def _follows_message_rule(value: Any, rule: str) -> bool:
    """A list must be a well-formed message list; `rule` is the one fault this check reports."""
    if not isinstance(value, list):
        return True
    issue = message_issue(value)
    return issue is None or issue.rule != rule


def _decodes(decode: Any, value: Any) -> bool:
    try:
        decode(value)
    except ValueError:
        return False
    return True


def encodes(value: Any) -> bool:
    """False for strings with lone surrogates (JSON \\ud800 escapes, undecodable CSV bytes)."""
    if not isinstance(value, str):
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _finite_or_absent(value: Any) -> bool:
    """No margin, or a finite number within ±MAX_ABS_MARGIN."""
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value)) and abs(float(value)) <= MAX_ABS_MARGIN
    except OverflowError:
        return False


def _same_reply(chosen: Any, rejected: Any) -> bool:
    if isinstance(chosen, str) and isinstance(rejected, str):
        return chosen.strip() == rejected.strip()
    return isinstance(chosen, list) and chosen == rejected


class PairModel(pa.DataFrameModel):
    """One row per parsed pair; `margin` None = absent, `row_bytes` = size of the row as it came in."""

    chosen: Series[object] = pa.Field(nullable=True)
    rejected: Series[object] = pa.Field(nullable=True)
    prompt: Series[object] = pa.Field(nullable=True)
    margin: Series[object] = pa.Field(nullable=True)
    tools: Series[object] = pa.Field(nullable=True)
    chat_template_kwargs: Series[object] = pa.Field(nullable=True)
    row_bytes: Series[int]

    @pa.check("chosen", "rejected", name="required_fields", ignore_na=False)
    def _required(cls, column: Series[object]) -> Series[bool]:
        return column.map(lambda v: v is not None)

    @pa.check("chosen", "rejected", "prompt", name="string_type", ignore_na=False)
    def _string(cls, column: Series[object]) -> Series[bool]:
        return column.map(_is_text_or_none)

    @pa.check("chosen", "rejected", "prompt", name="message_list", ignore_na=False)
    def _messages(cls, column: Series[object]) -> Series[bool]:
        return column.map(lambda v: _follows_message_rule(v, "message_list"))

    @pa.check("chosen", "rejected", "prompt", name="tool_content", ignore_na=False)
    def _tool_content(cls, column: Series[object]) -> Series[bool]:
        return column.map(lambda v: _follows_message_rule(v, "tool_content"))

    @pa.check("chosen", "rejected", "prompt", name="tool_call_name", ignore_na=False)
    def _tool_call_name(cls, column: Series[object]) -> Series[bool]:
        return column.map(lambda v: _follows_message_rule(v, "tool_call_name"))

    @pa.check("chosen", "rejected", "prompt", name="tool_call_arguments", ignore_na=False)
    def _tool_call_arguments(cls, column: Series[object]) -> Series[bool]:
        return column.map(lambda v: _follows_message_rule(v, "tool_call_arguments"))

    @pa.check("tools", name="tools_list", ignore_na=False)
    def _tools(cls, column: Series[object]) -> Series[bool]:
        return column.map(lambda v: _decodes(decode_tools, v))

    @pa.check("chat_template_kwargs", name="template_kwargs", ignore_na=False)
    def _template_kwargs(cls, column: Series[object]) -> Series[bool]:
        return column.map(lambda v: _decodes(decode_template_kwargs, v))

    @pa.dataframe_check(name="same_format", ignore_na=False)
    def _same_format(cls, df: pd.DataFrame) -> Series[bool]:
        """A pair is all text or all messages: a text reply after a conversational prompt cannot be rendered."""
        rows = zip(df.chosen, df.rejected, df.prompt, strict=True)
        kinds = [{isinstance(v, list) for v in row if isinstance(v, str | list) and v != ""} for row in rows]
        return pd.Series([len(k) <= 1 for k in kinds], index=df.index)

    @pa.check("chosen", "rejected", "prompt", name="utf8", ignore_na=False)
    def _utf8(cls, column: Series[object]) -> Series[bool]:
        return column.map(encodes)

    @pa.check("chosen", "rejected", name="non_empty", ignore_na=False)
    def _non_empty(cls, column: Series[object]) -> Series[bool]:
        return column.map(lambda v: not isinstance(v, str) or bool(v.strip()))

    @pa.check("margin", name="margin_finite", ignore_na=False)
    def _margin(cls, column: Series[object]) -> Series[bool]:
        return column.map(_finite_or_absent)

    @pa.dataframe_check(name="chosen_ne_rejected", ignore_na=False)
    def _differ(cls, df: pd.DataFrame) -> Series[bool]:
        """Compared after stripping: pairs that differ only in surrounding whitespace teach nothing."""
        pairs = zip(df.chosen, df.rejected, strict=True)
        same = [_same_reply(c, r) for c, r in pairs]
        return pd.Series([not s for s in same], index=df.index)

    class Config:
        strict = True


def pair_schema(max_row_bytes: int) -> pa.DataFrameSchema:
    """`PairModel` plus the configurable `row_size` rule."""
    size = pa.Check(lambda s: s <= max_row_bytes, name="row_size")
    return PairModel.to_schema().update_column("row_bytes", checks=[size])


def is_in(ids: pd.Series, known: Collection[str] | IdIndex) -> pd.Series:
    """Which ids are in `known` (a set, or an `IdIndex` for batches too big for a set)."""
    if isinstance(known, IdIndex):
        return pd.Series(known.contains(ids), index=ids.index)
    return ids.isin(known)


def duplicate_schema(
    stored_ids: Collection[str] | IdIndex, seen_ids: Collection[str] | IdIndex = frozenset()
) -> pa.DataFrameSchema:
    """Duplicate rules over `pair_id`/`swapped_id`: the first of equal pairs in a batch is kept.

    `seen_ids` are the ids of earlier chunks of the same batch: a repeat of one is a `duplicate`, as it
    would be were the batch validated whole; `stored_ids` are those already in the store.
    """

    def swapped(df: pd.DataFrame) -> pd.Series:
        first: dict[str, int] = {}
        for i, pid in enumerate(df.pair_id):
            first.setdefault(pid, i)
        earlier = is_in(df.swapped_id, stored_ids) | is_in(df.swapped_id, seen_ids)
        hit = [first.get(s, i) < i or e for i, (s, e) in enumerate(zip(df.swapped_id, earlier, strict=True))]
        return pd.Series([not h for h in hit], index=df.index)

    def duplicate(df: pd.DataFrame) -> pd.Series:
        return ~(df.pair_id.duplicated() | is_in(df.pair_id, seen_ids))

    return pa.DataFrameSchema(
        checks=[
            pa.Check(duplicate, name="duplicate", ignore_na=False),
            pa.Check(swapped, name="swapped_duplicate", ignore_na=False),
            pa.Check(lambda df: ~is_in(df.pair_id, stored_ids), name="duplicate_of_stored", ignore_na=False),
        ]
    )
