"""The unit of reading: `RawRecord`, one row as read, and how a row's bytes or object become one.

A record holds either the parsed fields of a row or its raw bytes with the reason it could not be
parsed, so that nothing read is ever dropped before validation (tasks/data/validate.py) decides.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

NUMERIC_FIELDS = ("margin", "score_chosen", "score_rejected")


class SourceError(ValueError):
    """A source cannot be opened at all (missing, unreadable, not a pair file): unlike a bad row, this stops the run."""


@dataclass
class RawRecord:
    """One row as read: its origin, and either its fields or its raw bytes with the parse error.

    Args:
        source_file: the file (or `hub:<id>`) the row came from.
        line: 1-based line number (JSONL), data row number (CSV, Parquet, JSON array) or hub row number;
            0 for a folder entry refused whole without being opened (rules `outside_root`, `not_pair_file`).
        fields: the parsed object, None when it could not be parsed.
        raw: the line's bytes as read (JSONL; BOM and line ending removed), None for other formats.
        error: why the row could not be parsed, None when it was.
        rule: the validation rule the parse failure counts under (`json_parse`, `utf8`, `truncated_file`).
    """

    source_file: str
    line: int
    fields: dict[str, Any] | None = None
    raw: bytes | None = None
    error: str | None = None
    rule: str | None = None

    @property
    def size(self) -> int:
        """Bytes of the row as it came in: the raw line, or the JSON form of rows from Parquet/CSV/hub."""
        if self.raw is not None:
            return len(self.raw)
        text = json.dumps(self.fields, ensure_ascii=False, default=str)
        return len(text.encode("utf-8", "surrogatepass"))


def score_margin(score_chosen: Any, score_rejected: Any) -> Any:
    """margin = score_chosen - score_rejected for numbers; anything else is passed on for `margin_finite` to refuse."""
    numbers = all(isinstance(s, int | float) and not isinstance(s, bool) for s in (score_chosen, score_rejected))
    if not numbers:
        return {"score_chosen": score_chosen, "score_rejected": score_rejected}
    try:
        return float(score_chosen) - float(score_rejected)
    except OverflowError:
        return math.inf


def pair_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """Derive `margin` from `score_chosen`/`score_rejected` when the row has both scores and no margin."""
    if "margin" not in obj and "score_chosen" in obj and "score_rejected" in obj:
        obj = {**obj, "margin": score_margin(obj["score_chosen"], obj["score_rejected"])}
    return obj


def parse_line(source: str, line_no: int, line: bytes) -> RawRecord:
    """Parse one JSONL line into a record; a bad line becomes a record with its error, never an exception."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as err:
        why = f"byte {line[err.start]:#04x} at offset {err.start} is not valid UTF-8"
        return RawRecord(source, line_no, raw=line, error=why, rule="utf8")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as err:
        return RawRecord(source, line_no, raw=line, error=f"not JSON: {err}"[:300], rule="json_parse")
    if not isinstance(obj, dict):
        why = f"a JSON object per line is expected, got {type(obj).__name__}"
        return RawRecord(source, line_no, raw=line, error=why, rule="json_parse")
    return RawRecord(source, line_no, fields=pair_fields(obj), raw=line)


def object_record(source: str, row: int, obj: Any) -> RawRecord:
    if isinstance(obj, dict):
        return RawRecord(source, row, fields=pair_fields(obj))
    raw = json.dumps(obj).encode()
    return RawRecord(source, row, raw=raw, error=f"an object is expected, got {type(obj).__name__}", rule="json_parse")


def csv_value(name: str, value: str | None) -> Any:
    """CSV holds only text: numbers in the numeric columns are converted, an empty cell is a missing value."""
    if value is None or (value == "" and name in NUMERIC_FIELDS):
        return None
    if name in NUMERIC_FIELDS:
        try:
            return float(value)
        except ValueError:
            return value
    return value
