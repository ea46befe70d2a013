"""Reward datasets in: read pair files with `datasets`, check columns, tokenize text pairs.

This is the core's own reader, for code that hands `RewardTrainer` a file or a hub id. The pipeline reads
files line by line under its validation rules (`tasks/data/load.py`); both accept the file types of
`PAIR_FILE_TYPES`, defined here once.
"""

from __future__ import annotations

import gzip
import logging
import math
import warnings
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict, IterableDataset, Json, load_dataset
from transformers import PreTrainedTokenizerBase

from rmcore.data.tokenization import TEXT_COLUMNS, TOKEN_COLUMNS, is_conversational_row, tokenize_pairs

logger = logging.getLogger(__name__)
ID_COLUMNS = ("chosen_ids", "rejected_ids")  # TRL's pre-tokenized columns (no attention masks)
LEGACY_ID_COLUMNS = ("chosen_input_ids", "rejected_input_ids")
STRING_DTYPES = ("string", "large_string")

# The pair file types, by how a file's name ends, and the `datasets` builder that reads each.
PAIR_FILE_TYPES = {
    ".jsonl": "json",
    ".jsonl.gz": "json",
    ".json": "json",
    ".json.gz": "json",
    ".parquet": "parquet",
    ".csv": "csv",
}
_TYPE_LIST = ", ".join(PAIR_FILE_TYPES)


def is_pair_file_name(name: str) -> bool:
    return name.endswith(tuple(PAIR_FILE_TYPES))


def _builder(path: Path) -> str:
    for suffix, builder in PAIR_FILE_TYPES.items():
        if path.name.endswith(suffix):
            return builder
    raise ValueError(f"{path}: unknown file type {path.suffix!r}; use {_TYPE_LIST}")


def _is_empty_text(path: Path) -> bool:
    """True for a JSONL/CSV file with nothing but whitespace: `datasets` fails on those with StopIteration."""
    if _builder(path) == "parquet":
        return False
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return not f.read(4096).strip()


def load_pairs(source: str, split: str = "train") -> Dataset:
    """Read preference pairs from a file, a folder of files or a hub dataset id (online)."""
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and is_pair_file_name(p.name))
        skipped = sorted(p.name for p in path.iterdir() if p not in files and not p.name.startswith("."))
        if skipped:
            logger.warning("%s: not read (not %s files): %s", path, _TYPE_LIST, ", ".join(skipped))
        if not files:
            raise ValueError(f"{path}: no {_TYPE_LIST} files in this folder")
        files = [p for p in files if not _is_empty_text(p)]
        if not files:
            raise ValueError(f"{path} is empty: every pair file in this folder is empty")
        builders = {_builder(p) for p in files}
        if len(builders) > 1:
            raise ValueError(f"{path}: mixes file types {sorted(builders)}; keep one type per folder")
        return load_dataset(builders.pop(), data_files=[str(p) for p in files], split="train")
    if path.is_file():
        if _is_empty_text(path):
            raise ValueError(f"{path} is empty: there are no preference pairs to train or evaluate on")
        return load_dataset(_builder(path), data_files=str(path), split="train")
    if is_pair_file_name(path.name) or source.startswith((".", "/")):
        raise FileNotFoundError(f"{source}: no such file or folder")
    loaded = load_dataset(source, split=split)
    return loaded[split] if isinstance(loaded, DatasetDict) else loaded


def column_names(dataset: Dataset | IterableDataset) -> list[str]:
    """Column names of a dataset or a stream (a stream without features is asked for its first row)."""
    if dataset.column_names is not None:
        return list(dataset.column_names)
    return list(next(iter(dataset)).keys())


def check_pair_columns(dataset: Dataset | IterableDataset, name: str = "dataset") -> str:
    """Say which form the dataset has ("tokens", "ids" or "text"), or fail naming what is missing."""
    if isinstance(dataset, Dataset) and len(dataset) == 0:
        raise ValueError(f"{name} is empty: there are no preference pairs to train or evaluate on")
    columns = set(column_names(dataset))
    if "margin" in columns and isinstance(dataset, Dataset):
        check_margins(list(dataset["margin"]), name)
    if set(TOKEN_COLUMNS) <= columns:
        return "tokens"
    if set(ID_COLUMNS) <= columns or set(LEGACY_ID_COLUMNS) <= columns:
        return "ids"
    if set(TEXT_COLUMNS) <= columns:
        return "text"
    missing_text = sorted(set(TEXT_COLUMNS) - columns)
    raise ValueError(
        f"{name} lacks column(s) {missing_text}: give text pairs as `chosen`/`rejected` (optional `prompt`, "
        f"`margin`) or tokens as {list(TOKEN_COLUMNS)}; it has {sorted(columns)}"
    )


def check_margins(margins: list, name: str) -> None:
    """Margins must be finite numbers: a string or NaN would silently poison the loss."""
    for row, value in enumerate(margins):
        if isinstance(value, list) and len(value) == 1:  # TRL's own tests store margins as [m]
            value = value[0]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{name} row {row}: column `margin` must be a finite number, got {value!r}")


def _margin_scalar(batch: dict[str, list]) -> dict[str, list]:
    return {"margin": [m[0] if isinstance(m, list) else m for m in batch["margin"]]}


def _from_id_columns(batch: dict[str, list]) -> dict[str, list]:
    """TRL's `chosen_ids`/`rejected_ids` to our four token columns (every token is real)."""
    return {
        "input_ids_chosen": batch["chosen_ids"],
        "attention_mask_chosen": [[1] * len(x) for x in batch["chosen_ids"]],
        "input_ids_rejected": batch["rejected_ids"],
        "attention_mask_rejected": [[1] * len(x) for x in batch["rejected_ids"]],
    }


def _untruncated(batch: dict[str, list]) -> dict[str, list]:
    """Pre-tokenized pairs: nothing was cut; TRL's id columns are added when absent."""
    out = {"truncated": [False] * len(batch["input_ids_chosen"])}
    if "chosen_ids" not in batch:
        out.update(chosen_ids=batch["input_ids_chosen"], rejected_ids=batch["input_ids_rejected"])
    return out


def check_text_features(dataset: Dataset, name: str) -> None:
    """Text columns hold strings (also `large_string`) or message lists; anything else is refused up front."""
    for column in (*TEXT_COLUMNS, "prompt"):
        feature = dataset.features.get(column)
        if feature is None:
            continue
        if getattr(feature, "dtype", None) in STRING_DTYPES or isinstance(feature, list):
            continue
        inner = getattr(feature, "feature", None)  # datasets' List/Sequence of messages
        # messages as structs, or as datasets' Json (messages of mixed shapes, e.g. tool calls): each row's
        # messages are checked when it is rendered
        if isinstance(inner, dict | Json) or isinstance(feature, Json):
            continue
        raise ValueError(f"{name}: column `{column}` must hold strings or message lists, not {feature}")


def _tokenize_rows(batch: dict[str, list], indices: list[int], **kwargs: Any) -> dict[str, list]:
    """`tokenize_pairs` with the row numbers `datasets` passes, so an error names the row.

    Also writes TRL's `chosen_ids`/`rejected_ids`, so code written against TRL finds its columns.
    """
    out = tokenize_pairs(batch, indices=indices, **kwargs)
    return {**out, "chosen_ids": out["input_ids_chosen"], "rejected_ids": out["input_ids_rejected"]}


def _first_row(dataset: Dataset | IterableDataset) -> dict[str, Any]:
    return dataset[0] if isinstance(dataset, Dataset) else next(iter(dataset))


def prepare_pairs(
    dataset: Dataset | IterableDataset,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    num_proc: int | None = None,
    name: str = "dataset",
) -> Dataset | IterableDataset:
    """Return the dataset with the four token columns and `truncated`, tokenizing text pairs if needed.

    Accepts text or conversational pairs, TRL's `chosen_ids`/`rejected_ids`, or our four token
    columns, as a `Dataset` or a stream (`IterableDataset`, mapped lazily).
    """
    form = check_pair_columns(dataset, name)
    columns = column_names(dataset)
    stream = isinstance(dataset, IterableDataset)
    map_kwargs = {} if stream else {"num_proc": num_proc}
    if "margin" in columns:
        dataset = dataset.map(_margin_scalar, batched=True, **map_kwargs)
    if form == "ids":
        if not set(ID_COLUMNS) <= set(columns):
            warnings.warn(
                "legacy columns `chosen_input_ids`/`rejected_input_ids` are deprecated and will not be supported in v1 "
                "(as in TRL): name them `chosen_ids`/`rejected_ids`",
                FutureWarning,
                stacklevel=3,
            )
            dataset = dataset.rename_columns(dict(zip(LEGACY_ID_COLUMNS, ID_COLUMNS, strict=True)))
        dataset = dataset.map(_from_id_columns, batched=True, **map_kwargs)
        form = "tokens"
    if form == "tokens":
        if "truncated" not in columns:
            dataset = dataset.map(_untruncated, batched=True)
        return dataset
    if not stream:
        check_text_features(dataset, name)
        map_kwargs["desc"] = f"Tokenizing {name}"
    conversational = is_conversational_row(_first_row(dataset))
    return dataset.map(
        _tokenize_rows,
        batched=True,
        with_indices=True,
        fn_kwargs={"tokenizer": tokenizer, "max_length": max_length, "name": name, "conversational": conversational},
        **map_kwargs,
    )


def pair_texts(dataset: Dataset, tokenizer: PreTrainedTokenizerBase) -> tuple[list[str], list[str]]:
    """The full chosen and rejected texts of each pair: the text columns if kept, else decoded tokens."""
    if isinstance(dataset, IterableDataset):  # a stream is read once more, row by row
        rows = list(dataset)
        dataset = Dataset.from_dict({k: [r[k] for r in rows] for k in TOKEN_COLUMNS})
    text = getattr(dataset.features.get("chosen"), "dtype", None) in STRING_DTYPES  # message lists have none
    if set(TEXT_COLUMNS) <= set(dataset.column_names) and text:
        prompts = list(dataset["prompt"]) if "prompt" in dataset.column_names else [""] * len(dataset)
        return (
            [p + c for p, c in zip(prompts, dataset["chosen"], strict=True)],
            [p + r for p, r in zip(prompts, dataset["rejected"], strict=True)],
        )
    # datasets returns a `Column`, which transformers 5 would decode as one sequence: make it a list.
    decode = tokenizer.batch_decode
    return (
        decode(list(dataset["input_ids_chosen"]), skip_special_tokens=True),
        decode(list(dataset["input_ids_rejected"]), skip_special_tokens=True),
    )


def prepare_split(
    dataset: Dataset | IterableDataset,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    num_proc: int | None,
    name: str,
) -> tuple[Dataset | IterableDataset, int]:
    """`prepare_pairs` plus the count of truncated pairs, logged (0 for a stream, which is not read ahead)."""
    dataset = prepare_pairs(dataset, tokenizer, max_length, num_proc, name)
    if isinstance(dataset, IterableDataset):
        return dataset, 0
    count = int(sum(dataset["truncated"]))
    if count:
        logger.warning(
            "%s: %d of %d pairs are longer than max_length=%d and were truncated from the left "
            "(the final replies are kept)",
            name,
            count,
            len(dataset),
            max_length,
        )
    return dataset, count


def is_prepared(dataset: Any) -> bool:
    """True for a dataset `prepare_pairs` has already seen (token columns and `truncated`)."""
    names = getattr(dataset, "column_names", None) or []
    return set(TOKEN_COLUMNS) <= set(names) and "truncated" in names
