"""The data store: accepted pairs as Parquet files under `HOME/store/`, one file per ingest.

Files are named by a hash of their content and written atomically (tasks.atomic), so a crash
never leaves half a file and the same ingest twice writes nothing new. Each pair's id is a hash of its
text, and its train/eval split is read off that hash: a pair stays in its split night after night.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from rmcore.data.chat import RENDER_KEYS
from rmcore.training.script_args import ScriptArguments
from tasks.atomic import write_atomic
from tasks.data.holds import held_file_names
from tasks.data.id_index import IdIndex

if TYPE_CHECKING:  # datasets and transformers load only when a store is streamed, not on every ingest
    from datasets import Dataset, IterableDataset
    from transformers import PreTrainedTokenizerBase

STORE_PREFIX = "pairs-"
# Columns that say how a conversation is rendered (JSON text, "" for none): kept with each pair.
RENDER_COLUMNS = RENDER_KEYS
_ID_DIGITS = 15  # hex digits of the id read as the split draw: 60 bits, exact in a float


def pair_id(chosen: str, rejected: str, prompt: str = "") -> str:
    """A stable id for a pair: sha256 of [prompt, chosen, rejected] as JSON (unambiguous, ASCII-only)."""
    return hashlib.sha256(json.dumps([prompt, chosen, rejected]).encode("ascii")).hexdigest()


def split_of(pair_id: str, eval_fraction: float) -> str:
    """ "eval" when the id's hash, read as a number in [0, 1), is under eval_fraction; else "train".

    Raising eval_fraction only moves pairs from train to eval, never back.
    """
    draw = int(pair_id[:_ID_DIGITS], 16) / 16**_ID_DIGITS
    return "eval" if draw < eval_fraction else "train"


def data_hash(df: pd.DataFrame) -> str:
    """sha256 of the sorted pair ids: names a set of pairs whatever its row order."""
    return hashlib.sha256("\n".join(sorted(df["pair_id"])).encode("ascii")).hexdigest()


def store_files(store_dir: Path) -> list[Path]:
    return sorted(Path(store_dir).glob(f"{STORE_PREFIX}*.parquet"))


def trainable_files(store_dir: Path) -> list[Path]:
    """Store files not on hold (`tasks.data.holds`): what training reads."""
    held = held_file_names(store_dir)
    return [path for path in store_files(store_dir) if path.name not in held]


def append_to_store(store_dir: Path, good_df: pd.DataFrame) -> Path | None:
    """Write the accepted pairs as one new Parquet file; None when there is nothing to write.

    Returns:
        The store file holding these pairs (the existing one when the same content was stored before).
    """
    if good_df.empty:
        return None
    store_dir = Path(store_dir)
    store_dir.mkdir(parents=True, exist_ok=True)
    target = store_dir / f"{STORE_PREFIX}{data_hash(good_df)[:16]}.parquet"
    if target.exists():
        return target
    stamped = good_df.assign(ingested_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return write_atomic(target, lambda temp: stamped.to_parquet(temp, index=False))


def _read_file(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, columns=columns)
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise ValueError(f"{path}: store file cannot be read ({err}); move it out of the store") from err


def read_store(store_dir: Path, eval_fraction: float = ScriptArguments.eval_fraction) -> pd.DataFrame:
    """All stored pairs, deduplicated by pair_id, with their `split` ("train"/"eval").

    Files without `prompt` or `margin` get "" and 0.0 (no margin) when other files have those columns.
    Batches on hold are left out until released.
    """
    frames = [_read_file(path) for path in trainable_files(store_dir)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=str) for c in ("chosen", "rejected", "pair_id", "split")})
    df = pd.concat(frames, ignore_index=True).drop_duplicates("pair_id", keep="first").reset_index(drop=True)
    if "prompt" in df:
        df["prompt"] = df["prompt"].fillna("")
    if "margin" in df:
        df["margin"] = df["margin"].fillna(0.0).astype(float)
    for column in RENDER_COLUMNS:
        if column in df:
            df[column] = df[column].fillna("")
    df["split"] = [split_of(pid, eval_fraction) for pid in df["pair_id"]]
    return df


def stored_ids(store_dir: Path) -> set[str]:
    """Ids of every stored pair (reads only the id column)."""
    return {pid for path in store_files(store_dir) for pid in _read_file(path, ["pair_id"])["pair_id"]}


def stored_id_index(store_dir: Path) -> IdIndex:
    """`stored_ids` as an `IdIndex` (8 bytes a pair), read one store file at a time."""
    index = IdIndex()
    for path in store_files(store_dir):
        index.add(_read_file(path, ["pair_id"])["pair_id"])
    return index


def ids_array(ids: Iterable[str]) -> np.ndarray:
    """Hex pair ids as a fixed-width bytes array (64 bytes a pair, no Python object per id)."""
    return np.array([pid.encode("ascii") for pid in ids], dtype="S64")


def sorted_ids_hash(ids: np.ndarray) -> str:
    """`data_hash` of ids held in an `ids_array`, for a batch too big for a DataFrame of ids (sorts `ids` in place)."""
    ids.sort()
    hasher = hashlib.sha256()
    for n, pid in enumerate(ids):
        hasher.update(b"\n" + pid if n else pid)
    return hasher.hexdigest()


def staging_dir(store_dir: Path) -> Path:
    """Where one ingest writes its chunks before the batch is accepted: invisible to `store_files`."""
    return Path(store_dir) / f".staging-{os.getpid()}"


def publish_staged(staging: Path, store_dir: Path) -> list[Path]:
    """Move staged chunk files into the store (renames on one file system); returns the store files."""
    published = []
    for path in sorted(Path(staging).glob(f"{STORE_PREFIX}*.parquet")):
        target = Path(store_dir) / path.name
        if target.exists():  # the same content stored before: keep the old file
            path.unlink()
        else:
            os.replace(path, target)
        published.append(target)
    discard_staged(staging)
    return published


def discard_staged(staging: Path) -> None:
    if Path(staging).is_dir():
        shutil.rmtree(staging, ignore_errors=True)


def store_ids(store_dir: Path) -> pd.DataFrame:
    """Every stored pair id, once, in store order (only the id column is read): what splits and hashes need."""
    frames = [_read_file(path, ["pair_id"]) for path in trainable_files(store_dir)]
    if not frames:
        return pd.DataFrame({"pair_id": pd.Series(dtype=str)})
    return pd.concat(frames, ignore_index=True).drop_duplicates("pair_id").reset_index(drop=True)


def _store_rows(
    files: list[str],
    split: str | None,
    eval_fraction: float,
    margin: bool,
    ids: Iterable[str] | None = None,
    with_id: bool = False,
    all_columns: bool = False,
    render: tuple[str, ...] = (),
) -> Iterator[dict[str, Any]]:
    """Rows of the store files in `split` (or with one of `ids`, each once), one record batch at a time.

    `render`: the columns saying how conversations are rendered (`tools`, `chat_template_kwargs`) that some
    file has; every row gets them, "" where its file has none, so a generator's rows keep one shape.
    """
    wanted = set(ids) if ids is not None else None
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1000):
            for row in batch.to_pylist():
                if wanted is not None:
                    if row["pair_id"] not in wanted:
                        continue
                    wanted.discard(row["pair_id"])
                elif split_of(row["pair_id"], eval_fraction) != split:
                    continue
                out = {"chosen": row["chosen"], "rejected": row["rejected"], "prompt": row.get("prompt") or ""}
                out |= {column: row.get(column) or "" for column in render}
                if all_columns:  # e.g. a category column the eval report slices by
                    out = {**{k: v for k, v in row.items() if k != "pair_id"}, **out}
                if margin:
                    out["margin"] = float(row.get("margin") or 0.0)
                yield {"pair_id": row["pair_id"], **out} if with_id else out


def _has_margins(files: list[str]) -> bool:
    return any("margin" in pq.read_schema(path).names for path in files)


def _render_columns(files: list[str]) -> tuple[str, ...]:
    """Which of `RENDER_COLUMNS` some store file has."""
    names = {name for path in files for name in pq.read_schema(path).names}
    return tuple(column for column in RENDER_COLUMNS if column in names)


def store_pairs(store_dir: Path, pair_ids: Iterable[str], cache_dir: Path) -> Dataset:
    """The stored pairs with these ids, in store order, as an on-disk (memory-mapped) `Dataset`.

    The store is read as a stream, a record batch at a time, and written to Arrow under `cache_dir`, so
    memory stays flat whatever the store's size; a later run with the same ids reads the cached file.
    """
    from datasets import Dataset

    files = [str(p) for p in store_files(store_dir)]
    kwargs = {"files": files, "split": None, "eval_fraction": 0.0, "margin": _has_margins(files)}
    kwargs |= {
        "ids": tuple(pair_ids),
        "with_id": True,
        "render": _render_columns(files),
    }  # a tuple: `datasets` shards lists, not tuples
    return Dataset.from_generator(_store_rows, gen_kwargs=kwargs, cache_dir=str(cache_dir))


def store_frame(store_dir: Path, pair_ids: Iterable[str]) -> pd.DataFrame:
    """The stored pairs with these ids as a DataFrame, read as a stream: for the (capped) eval pairs."""
    files = [str(p) for p in store_files(store_dir)]
    margin, render = _has_margins(files), _render_columns(files)
    rows = list(_store_rows(files, None, 0.0, margin, list(pair_ids), with_id=True, all_columns=True, render=render))
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["pair_id", "chosen", "rejected", "prompt"])


def stream_store(
    store_dir: Path,
    split: str,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    eval_fraction: float = ScriptArguments.eval_fraction,
) -> IterableDataset:
    """The store's `split` pairs as a tokenized `IterableDataset`, read and tokenized as training consumes it.

    For stores larger than memory: nothing is loaded up front. Pass `max_steps` to the trainer (an
    iterable has no length). Files without `prompt`/`margin` get "" and 0.0 (no margin) as in `read_store`;
    pairs are not deduplicated across files (ingest never stores a pair twice).

    Returns:
        Rows with `input_ids_chosen`, `attention_mask_chosen`, `input_ids_rejected`,
        `attention_mask_rejected`, `truncated` and, when any file has margins, `margin`.
    """
    from datasets import IterableDataset

    from rmcore.data import tokenization

    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    files = [str(p) for p in trainable_files(store_dir)]
    if not files:
        raise ValueError(f"{store_dir}: the store holds no pair files ({STORE_PREFIX}*.parquet); ingest some first")
    render = _render_columns(files)
    kwargs = {"files": files, "split": split, "eval_fraction": eval_fraction, "margin": _has_margins(files)}
    rows = IterableDataset.from_generator(_store_rows, gen_kwargs={**kwargs, "render": render})
    return rows.map(
        tokenization.tokenize_pairs,
        batched=True,
        fn_kwargs={"tokenizer": tokenizer, "max_length": max_length},
        remove_columns=["chosen", "rejected", "prompt", *render],
    )
