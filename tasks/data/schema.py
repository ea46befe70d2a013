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

from tasks.data.id_index import IdIndex

# Every rule, in the order reasons are listed, with what a failing value is said to be.
RULES = {
    "json_parse": "is not a JSON object",
    "utf8": "is not valid UTF-8",
    "truncated_file": "is cut off: the file ends mid-stream",
    "required_fields": "is missing or null",
    "string_type": "must be a string",
    "non_empty": "is empty or only whitespace",
    "chosen_ne_rejected": "is the same text as `rejected`",
    "margin_finite": "must be a finite number",
    "row_size": "is larger than max_row_bytes",
    "duplicate": "repeats an earlier pair of this batch",
    "swapped_duplicate": "is an earlier or stored pair with chosen and rejected swapped",
    "duplicate_of_stored": "is already in the store",
}
TEXT_FIELDS = ("chosen", "rejected", "prompt")


def _is_text_or_none(value: Any) -> bool:
    return value is None or isinstance(value, str)


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
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


class PairModel(pa.DataFrameModel):
    """One row per parsed pair; `margin` None = absent, `row_bytes` = size of the row as it came in."""

    chosen: Series[object] = pa.Field(nullable=True)
    rejected: Series[object] = pa.Field(nullable=True)
    prompt: Series[object] = pa.Field(nullable=True)
    margin: Series[object] = pa.Field(nullable=True)
    row_bytes: Series[int]

    @pa.check("chosen", "rejected", name="required_fields", ignore_na=False)
    def _required(cls, column: Series[object]) -> Series[bool]:
        return column.map(lambda v: v is not None)

    @pa.check("chosen", "rejected", "prompt", name="string_type", ignore_na=False)
    def _string(cls, column: Series[object]) -> Series[bool]:
        return column.map(_is_text_or_none)

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
        same = [isinstance(c, str) and isinstance(r, str) and c.strip() == r.strip() for c, r in pairs]
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
