"""Validate preference pairs with pandera: every bad row found at once, each with the named rules it broke.

Rows that could not be parsed (rules `json_parse`, `utf8`, `truncated_file`) or folder entries not read
(`outside_root`, `not_pair_file`) are refused by the loader's
verdict; the rest go through `PairModel` (row rules) and then `duplicate_schema` (duplicates among the
rows that passed, so a pair refused for a bad margin does not also shadow its good twin). Both are
validated with `lazy=True`, which collects all failures instead of stopping at the first.
Invariant: `len(good) + len(bad) == read`, always.
"""

from __future__ import annotations

import base64
import json
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pandera.pandas as pa

from rmcore.data.chat import MESSAGE_RULES, decode_template_kwargs, decode_tools, encode_messages, message_problem
from tasks.data.config import DataConfig
from tasks.data.id_index import IdIndex
from tasks.data.records import RawRecord
from tasks.data.schema import RENDER_FIELDS, RULES, TEXT_FIELDS, duplicate_schema, encodes, pair_schema
from tasks.data.store import pair_id


def failures_by_row(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> dict[Any, list[tuple[str, str, Any]]]:
    """Validate lazily; map each failing row's index to its (rule, column, value) failures."""
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        found: dict[Any, list[tuple[str, str, Any]]] = defaultdict(list)
        for case in errors.failure_cases.itertuples():
            if case.check not in RULES:
                raise ValueError(f"pandera reported an unnamed failure: {case.check} on {case.column}") from errors
            found[case.index].append((case.check, case.column, case.failure_case))
        return found
    return {}


def _mixed_formats(row: pd.Series) -> str:
    """Which of the row's columns hold message lists and which hold text, for `same_format`."""
    lists = [f"`{c}`" for c in TEXT_FIELDS if isinstance(row[c], list)]
    texts = [f"`{c}`" for c in TEXT_FIELDS if isinstance(row[c], str) and row[c] != ""]
    return f"message lists in {', '.join(lists)} but text in {', '.join(texts)}"


def _decode_error(decode: Any, value: Any) -> str:
    try:
        decode(value)
    except ValueError as err:
        return str(err)
    return ""


def describe(failures: list[tuple[str, str, Any]], row: pd.Series | None = None) -> tuple[list[str], str]:
    """The rules a row broke (in RULES order) and a short message naming each column.

    `row` (the row's `PairModel` columns) lets rules over several columns name the ones at fault.
    """
    by_rule: dict[str, list[str]] = defaultdict(list)
    for rule, column, value in failures:
        is_column = column in (*TEXT_FIELDS, *RENDER_FIELDS, "margin")
        text = f"`{column}` {RULES[rule]}" if is_column else RULES[rule]
        if rule in MESSAGE_RULES and isinstance(value, list):
            text += f" ({message_problem(value)})"
        if rule == "tools_list":
            text += f" ({_decode_error(decode_tools, value)})"
        if rule == "template_kwargs":
            text += f" ({_decode_error(decode_template_kwargs, value)})"
        if rule == "margin_finite":
            text += f", got {value!r}"[:80]
        if rule == "row_size":
            text = f"row of {value} bytes {RULES[rule]}"
        if rule == "same_format" and row is not None:
            text = _mixed_formats(row)
        if text not in by_rule[rule]:
            by_rule[rule].append(text)
    rules = [r for r in RULES if r in by_rule]
    if "chosen_ne_rejected" in by_rule:
        by_rule["chosen_ne_rejected"] = ["`chosen` " + RULES["chosen_ne_rejected"]]
    return rules, "; ".join(f"{r}: {', '.join(by_rule[r])}" for r in rules)


def verbatim(record: RawRecord) -> tuple[Any, str]:
    """The row as it came in, and how it is encoded: text, base64 for undecodable bytes, or parsed fields."""
    if record.raw is None:
        return record.fields, "fields"
    try:
        return record.raw.decode("utf-8"), "text"
    except UnicodeDecodeError:
        return base64.b64encode(record.raw).decode("ascii"), "base64"


def bad_row(record: RawRecord, rules: list[str], message: str) -> dict[str, Any]:
    raw, encoding = verbatim(record)
    return {
        "source_file": record.source_file,
        "line": record.line,
        "rules": rules,
        "message": message,
        "raw": raw,
        "raw_encoding": encoding,
    }


class DataQualityError(ValueError):
    """Too few good rows to go on: the run stops rather than train on what is left."""


@dataclass
class ValidationResult:
    """Good pairs, bad rows with their reasons, and the counts that must add up."""

    good: pd.DataFrame
    bad: list[dict[str, Any]]
    read: int
    counts_by_rule: dict[str, int]
    sources: list[str] = field(default_factory=list)

    @property
    def quarantined(self) -> int:
        return len(self.bad)

    def summary(self) -> dict[str, Any]:
        """The counts that must add up: read == good + quarantined."""
        return {"read": self.read, "good": len(self.good), "quarantined": len(self.bad), "by_rule": self.counts_by_rule}


class _Unencodable(str):
    """Text with lone surrogates that prints escaped: pandera formats failing values with str(), and pandas'
    Arrow-backed strings cannot hold lone surrogates, so the `utf8` failure would otherwise be lost."""

    def __str__(self) -> str:
        return self.encode("utf-8", "backslashreplace").decode("utf-8")


def _cell(value: Any) -> Any:
    return _Unencodable(value) if isinstance(value, str) and not encodes(value) else value


def pair_frame(records: list[RawRecord]) -> pd.DataFrame:
    """The parsed records as `PairModel` columns (object dtype, so an absent margin stays None, not NaN)."""
    columns = {
        name: pd.Series([_cell(r.fields.get(name)) for r in records], dtype=object)
        for name in (*TEXT_FIELDS, "margin", *RENDER_FIELDS)
    }
    frame = pd.DataFrame(columns)
    frame["row_bytes"] = pd.Series([r.size for r in records], dtype="int64")
    return frame


def with_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Add `pair_id` and `swapped_id` (the id of the pair with chosen and rejected swapped)."""
    texts = list(zip(frame.chosen, frame.rejected, [p or "" for p in frame.prompt], strict=True))
    return frame.assign(
        pair_id=[pair_id(c, r, p) for c, r, p in texts], swapped_id=[pair_id(r, c, p) for c, r, p in texts]
    )


def _render_json(value: Any) -> str:
    """`tools` or `chat_template_kwargs` as JSON text ("" for none); text given is kept as it came."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def good_frame(frame: pd.DataFrame, records: list[RawRecord]) -> pd.DataFrame:
    """The output columns: prompt and margin only when some row has them (absent margin = 0, no margin).

    Conversations become canonical JSON text, so the store's string columns hold them (rmcore decodes them);
    so do `tools` and `chat_template_kwargs` when some row has them, with tool calls, nulls and all.
    """
    out = pd.DataFrame(
        {
            "chosen": [str(encode_messages(v)) for v in frame.chosen],
            "rejected": [str(encode_messages(v)) for v in frame.rejected],
        }
    )
    if frame.prompt.notna().any():
        out["prompt"] = [encode_messages(p) or "" for p in frame.prompt]
    if frame.margin.map(lambda v: v is not None).any():
        out["margin"] = [0.0 if m is None else float(m) for m in frame.margin]
    for column in RENDER_FIELDS:  # kept as JSON text, "" for none, as TRL recommends storing `tools`
        if frame[column].map(lambda v: v not in (None, "")).any():
            out[column] = [_render_json(v) for v in frame[column]]
    out["pair_id"] = list(frame.pair_id)
    out["source_file"] = [records[i].source_file for i in frame.index]
    out["source_line"] = [records[i].line for i in frame.index]
    return out.reset_index(drop=True)


def validate_records(
    records: list[RawRecord],
    config: DataConfig,
    stored_ids: Collection[str] | IdIndex | None = None,
    seen_ids: Collection[str] | IdIndex = frozenset(),
) -> ValidationResult:
    """Split records into good pairs and bad rows, each bad row with all the rules it broke.

    `seen_ids`: ids accepted from earlier chunks of the same batch (see tasks.data.ingest).
    """
    stored_ids = stored_ids if stored_ids is not None else set()
    reasons: dict[int, tuple[list[str], str]] = {
        i: ([r.rule], f"{r.rule}: {r.error}") for i, r in enumerate(records) if r.fields is None
    }
    parsed = [i for i, r in enumerate(records) if r.fields is not None]
    frame = pair_frame([records[i] for i in parsed]).set_axis(parsed)
    for i, failures in failures_by_row(pair_schema(config.max_row_bytes), frame).items():
        reasons[i] = describe(failures, frame.loc[i])
    frame = with_ids(frame.drop(index=[i for i in reasons if i in frame.index]))
    ids = frame[["pair_id", "swapped_id"]]
    for i, failures in failures_by_row(duplicate_schema(stored_ids, seen_ids), ids).items():
        reasons[i] = describe(failures)
    frame = frame.drop(index=[i for i in reasons if i in frame.index])
    bad = [bad_row(records[i], *reasons[i]) for i in sorted(reasons)]
    tally = Counter(rule for row in bad for rule in row["rules"])
    counts = {rule: tally[rule] for rule in RULES if rule in tally}
    sources = list(dict.fromkeys(r.source_file for r in records))
    return ValidationResult(good_frame(frame, records), bad, len(records), counts, sources)


def already_stored(result: ValidationResult) -> int:
    """Rows refused only because the store holds them: valid data seen before, not bad data."""
    return sum(row["rules"] == ["duplicate_of_stored"] for row in result.bad)


def check_good_fraction(result: ValidationResult, config: DataConfig) -> None:
    """Stop the run when nothing is good or too little is, naming the sources and the counts.

    Rows already in the store are left out of the fraction, so feeding yesterday's file again
    (every row already stored, nothing new) passes, while a file of garbage does not.

    Raises:
        DataQualityError: no good row, or a good fraction under `config.min_good_fraction`.
    """
    check_good_counts(
        len(result.good), result.read, already_stored(result), result.counts_by_rule, result.sources, config
    )


def check_good_counts(
    good: int, read: int, seen: int, by_rule: dict[str, int], sources: list[str], config: DataConfig
) -> None:
    """`check_good_fraction` on counts alone, for a batch validated chunk by chunk (`seen`: rows already stored)."""
    if seen and good + seen == read:
        return
    where = ", ".join(sources) or "the sources"
    if read == 0:
        raise DataQualityError(f"no good preference pair in {where}: no rows at all (an empty file or folder)")
    counts = f"read {read}, good {good}, quarantined {read - good}, by rule {by_rule}"
    if good == 0:
        raise DataQualityError(f"no good preference pair in {where}: {counts}")
    if good / (read - seen) < config.min_good_fraction:
        raise DataQualityError(
            f"only {good / (read - seen):.1%} of the new rows in {where} are good, under min_good_fraction="
            f"{config.min_good_fraction}: {counts}"
        )
