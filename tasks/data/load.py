"""Read preference pairs from files, folders or a hub dataset, one record per row, never crashing on a bad row.

Nightly files come from labelers and logs and some lines are broken. A reader that stops at the first
broken line loses the rest of the file, so JSONL is read line by line in binary: each line becomes a
`RawRecord` holding either its parsed fields or its raw bytes and the reason it could not be parsed.
Validation (tasks/data/validate.py) then decides, and nothing read is ever dropped on the way.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rmcore.data.pairs import PAIR_FILE_TYPES
from rmcore.data.safety import is_under
from tasks.data.records import (
    RawRecord,
    SourceError,
    csv_value,
    object_record,
    pair_fields,
    parse_line,
)

_BOM = b"\xef\xbb\xbf"
_SUFFIXES = tuple(PAIR_FILE_TYPES)  # the core's one list
# What `iter_source` reads, for help texts.
PAIR_SOURCES = (
    "JSONL (.jsonl, .jsonl.gz), JSON (.json, .json.gz: an array or lines), Parquet (.parquet), CSV (.csv), "
    "a folder of such files, or a hub dataset id"
)
_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
_CHUNK = 1 << 20


def _gzip_chunks(path: Path) -> Iterator[bytes | None]:
    """Decompress a gzip file chunk by chunk; a final None says the stream was cut off or corrupt.

    zlib is used directly, not `gzip.open`, because gzip drops the bytes it had decompressed when it
    meets a truncated stream; here every complete line before the cut is kept.
    """
    decoder, fed = zlib.decompressobj(wbits=31), False
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            while chunk:
                try:
                    yield decoder.decompress(chunk)
                except zlib.error:
                    yield None
                    return
                fed = True
                chunk = decoder.unused_data if decoder.eof else b""
                if decoder.eof:  # concatenated gzip members: start the next one
                    decoder, fed = zlib.decompressobj(wbits=31), False
    if fed and not decoder.eof:
        yield None


def _gzip_lines(path: Path) -> Iterator[tuple[bytes, bool]]:
    """Lines (without b"\\n") of a gzip file, with True on the line at which the stream ends early."""
    pending = b""
    for chunk in _gzip_chunks(path):
        if chunk is None:
            yield pending, True
            return
        *lines, pending = (pending + chunk).split(b"\n")
        yield from ((line, False) for line in lines)
    if pending:
        yield pending, False


def _plain_lines(path: Path) -> Iterator[tuple[bytes, bool]]:
    with path.open("rb") as handle:
        for line in handle:
            yield line.removesuffix(b"\n"), False


def iter_jsonl(path: Path) -> Iterator[RawRecord]:
    """One record per non-blank line of a JSONL (or gzipped JSONL) file; a BOM and CRLF endings are fine."""
    gz = path.name.endswith(".gz")
    lines = _gzip_lines(path) if gz else _plain_lines(path)
    for line_no, (line, cut) in enumerate(lines, start=1):
        line = line.removesuffix(b"\r")
        if line_no == 1:
            line = line.removeprefix(_BOM)
        if cut:
            why = "the gzip stream ends here (file truncated or corrupt); this line and anything after it are lost"
            yield RawRecord(str(path), line_no, raw=line, error=why, rule="truncated_file")
        elif line.strip():
            yield parse_line(str(path), line_no, line)


def read_jsonl(path: Path) -> list[RawRecord]:
    return list(iter_jsonl(path))


def iter_json(path: Path) -> Iterator[RawRecord]:
    """A JSON array is parsed whole (JSON has no streaming form here); JSON lines stream."""
    with path.open("rb") as handle:
        head = handle.read(4096).removeprefix(_BOM).lstrip()
    return iter(read_json(path)) if head.startswith(b"[") else iter_jsonl(path)


def read_json(path: Path) -> list[RawRecord]:
    """A .json file holds either a JSON array of objects (one record per element) or JSON lines."""
    with path.open("rb") as handle:
        head = handle.read(4096).removeprefix(_BOM).lstrip()
    if not head.startswith(b"["):
        return read_jsonl(path)
    data = path.read_bytes().removeprefix(_BOM)
    try:
        rows = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        rule = "utf8" if isinstance(err, UnicodeDecodeError) else "json_parse"
        return [RawRecord(str(path), 1, raw=data, error=f"unreadable JSON array: {err}"[:300], rule=rule)]
    return [object_record(str(path), i, obj) for i, obj in enumerate(rows, start=1)]


def iter_csv(path: Path) -> Iterator[RawRecord]:
    """One record per CSV data row; undecodable bytes survive as surrogates for the `utf8` rule to catch."""
    csv.field_size_limit(sys.maxsize)
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        reader = csv.DictReader(handle)
        row_no = 0
        while True:
            row_no += 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as err:
                raw = f"CSV line {reader.line_num}".encode()
                yield RawRecord(str(path), row_no, raw=raw, error=f"not CSV: {err}", rule="json_parse")
                continue
            fields = {k: csv_value(k, v) for k, v in row.items() if k is not None}
            yield RawRecord(str(path), row_no, fields=pair_fields(fields))


def read_parquet(path: Path) -> list[RawRecord]:
    return list(iter_parquet(path))


def _json_features(parquet: Any) -> Any:
    """The `datasets` features of a Parquet file written by `datasets` when some column uses its `Json` type
    (messages of mixed shapes, such as tool calls: stored as JSON text), else None."""
    metadata = (parquet.schema_arrow.metadata or {}).get(b"huggingface")
    if metadata is None or b'"Json"' not in metadata:
        return None
    from datasets import Features

    return Features.from_dict(json.loads(metadata)["info"]["features"])


def iter_parquet(path: Path, batch_rows: int = 10_000) -> Iterator[RawRecord]:
    """Rows of a Parquet file, read a record batch at a time; `datasets`' Json columns are decoded."""
    import pyarrow.parquet as pq

    row = 0
    try:
        parquet = pq.ParquetFile(path)
        features = _json_features(parquet)
        for batch in parquet.iter_batches(batch_size=batch_rows):
            for fields in batch.to_pylist():
                row += 1
                fields = features.decode_example(fields) if features is not None else fields
                yield RawRecord(str(path), row, fields=pair_fields(fields))
    except Exception as err:  # pyarrow raises several types for a file that is not Parquet
        if isinstance(err, GeneratorExit):
            raise
        raise SourceError(f"{path}: cannot read as Parquet: {err}") from err


def read_hub(dataset_id: str, split: str) -> list[RawRecord]:
    """Rows of a hub dataset (for users online); offline this fails with a message saying so."""
    from datasets import load_dataset

    try:
        dataset = load_dataset(dataset_id, split=split)
    except Exception as err:  # network, auth and missing-split errors all mean the same here
        raise SourceError(
            f"{dataset_id}: not a file or folder here, and loading it as a hub dataset (split {split!r}) failed "
            f"({type(err).__name__}: {err}). Offline (HF_HUB_OFFLINE=1) only local files can be read."
        ) from err
    source = f"hub:{dataset_id}"
    return [RawRecord(source, i, fields=pair_fields(dict(row))) for i, row in enumerate(dataset, start=1)]


def is_pair_file(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.name.endswith(_SUFFIXES)


def iter_file(path: Path) -> Iterator[RawRecord]:
    """Dispatch on the file's suffix."""
    name = path.name
    if name.endswith(".parquet"):
        return iter_parquet(path)
    if name.endswith(".csv"):
        return iter_csv(path)
    if name.endswith(".json"):
        return iter_json(path)
    if name.endswith((".jsonl", ".jsonl.gz", ".json.gz")):
        return iter_jsonl(path)
    raise SourceError(f"{path}: unknown file type; use one of {', '.join(_SUFFIXES)}")


def folder_refusal(path: Path, folder: Path) -> RawRecord | None:
    """Why an entry of a folder is not read, as a record for the quarantine (None: it is a pair file to read).

    A link must stay inside the folder it sits in: the folder was chosen (and, for runs fed by drop folders
    or events, checked to lie inside `data_root`), so a link out of it would read what nobody chose, such as
    `/etc/passwd`. Nothing refused here is opened; the record names the entry and why, never its content.
    """
    why, rule = None, "not_pair_file"
    if not is_under(path, folder):
        why, rule = (
            f"a link to {path.resolve()}, outside the folder {folder.resolve()}; links must stay inside it",
            "outside_root",
        )
    elif not path.exists():
        why = "a broken link (its target does not exist)"
    elif path.is_dir():
        why = "a folder; folders inside a folder are not read"
    elif not is_pair_file(path):
        why = f"not a pair file ({', '.join(_SUFFIXES)})"
    if why is None:
        return None
    return RawRecord(str(path), 0, error=f"{why}: not read", rule=rule)


def expand_sources(sources: list[str]) -> list[str | RawRecord]:
    """Folders become their pair files (sorted, not recursive), and a refusal record for each other visible
    entry (`folder_refusal`); files and hub ids stay as they are. Hidden entries (`.name`) are passed over."""
    expanded: list[str | RawRecord] = []
    for source in sources:
        path = Path(source).expanduser()
        if not path.is_dir():
            expanded.append(source)
            continue
        for entry in sorted(p for p in path.iterdir() if not p.name.startswith(".")):
            expanded.append(folder_refusal(entry, path) or str(entry))
    return expanded


def check_source(source: str) -> None:
    """Fail before anything is read when a source is neither a pair file nor a plausible hub id."""
    path = Path(source)
    if path.is_file():
        if not path.name.endswith(_SUFFIXES):
            raise SourceError(f"{path}: unknown file type; use one of {', '.join(_SUFFIXES)}")
        return
    if path.exists() or path.name.endswith(_SUFFIXES) or not _HUB_ID.match(source):
        raise SourceError(f"{source}: no such file or folder (pair files: {', '.join(_SUFFIXES)})")


def iter_source(source: str, hub_split: str = "train") -> Iterator[RawRecord]:
    check_source(source)
    path = Path(source)
    if not path.is_file():
        yield from read_hub(source, hub_split)
        return
    try:
        yield from iter_file(path)
    except OSError as err:
        raise SourceError(f"{path}: cannot read: {err}") from err


def iter_pair_records(sources: list[str], hub_split: str = "train") -> Iterator[RawRecord]:
    """Every row of every source, in order, one at a time; every source is checked before the first row.

    Entries of a folder that are not read (a link out of it, another file type, a subfolder) come as
    records with their rule (`outside_root`, `not_pair_file`) and line 0, so they are quarantined and
    counted like any bad row.

    Raises:
        SourceError: a source cannot be opened (missing, unreadable, a hub id offline).
    """
    expanded = expand_sources(sources)
    for source in expanded:
        if isinstance(source, str):
            check_source(source)
    for source in expanded:
        if isinstance(source, RawRecord):  # a folder entry that is not read, quarantined with its reason
            yield source
        else:
            yield from iter_source(source, hub_split)


def read_pair_records(sources: list[str], hub_split: str = "train") -> list[RawRecord]:
    """Every row of every source, in order, each with its origin (all in memory; see `read_pair_chunks`)."""
    return list(iter_pair_records(sources, hub_split))


def read_pair_chunks(
    sources: list[str], hub_split: str = "train", chunk_rows: int = 10_000
) -> Iterator[list[RawRecord]]:
    """The rows of `read_pair_records` in lists of at most `chunk_rows`: memory bounded by one chunk."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    records = iter_pair_records(sources, hub_split)
    while chunk := list(itertools.islice(records, chunk_rows)):
        yield chunk
