"""Reward datasets in: read pair files for the command line, check columns, tokenize text pairs."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

from datasets import Dataset, DatasetDict, load_dataset
from transformers import PreTrainedTokenizerBase

from rmcore.tokenization import TEXT_COLUMNS, TOKEN_COLUMNS, tokenize_pairs

_FORMATS = {".jsonl": "json", ".json": "json", ".gz": "json", ".parquet": "parquet", ".csv": "csv"}


def _builder(path: Path) -> str:
    builder = _FORMATS.get(path.suffix)
    if builder is None:
        raise ValueError(f"{path}: unknown file type {path.suffix!r}; use .jsonl, .jsonl.gz, .parquet or .csv")
    return builder


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
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in _FORMATS)
        if not files:
            raise ValueError(f"{path}: no .jsonl, .jsonl.gz, .parquet or .csv files in this folder")
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
    if path.suffix in _FORMATS or source.startswith((".", "/")):
        raise FileNotFoundError(f"{source}: no such file or folder")
    loaded = load_dataset(source, split=split)
    return loaded[split] if isinstance(loaded, DatasetDict) else loaded


def check_pair_columns(dataset: Dataset, name: str = "dataset") -> str:
    """Say which form the dataset has ("tokens" or "text"), or fail naming what is missing."""
    if len(dataset) == 0:
        raise ValueError(f"{name} is empty: there are no preference pairs to train or evaluate on")
    columns = set(dataset.column_names)
    if "margin" in columns:
        check_margins(dataset["margin"], name)
    if set(TOKEN_COLUMNS) <= columns:
        return "tokens"
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
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{name} row {row}: column `margin` must be a finite number, got {value!r}")


def prepare_pairs(
    dataset: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    num_proc: int | None = None,
    name: str = "dataset",
) -> Dataset:
    """Return the dataset with the four token columns and `truncated`, tokenizing text pairs if needed."""
    form = check_pair_columns(dataset, name)
    if form == "tokens":
        if "truncated" not in dataset.column_names:
            dataset = dataset.add_column("truncated", [False] * len(dataset))
        return dataset
    for column in (*TEXT_COLUMNS, "prompt"):
        if column in dataset.column_names and dataset.features[column].dtype != "string":
            raise ValueError(f"{name}: column `{column}` must hold strings, not {dataset.features[column]}")
    return dataset.map(
        tokenize_pairs,
        batched=True,
        num_proc=num_proc,
        fn_kwargs={"tokenizer": tokenizer, "max_length": max_length},
        desc=f"Tokenizing {name}",
    )


def pair_texts(dataset: Dataset, tokenizer: PreTrainedTokenizerBase) -> tuple[list[str], list[str]]:
    """The full chosen and rejected texts of each pair: the text columns if kept, else decoded tokens."""
    if set(TEXT_COLUMNS) <= set(dataset.column_names):
        prompts = dataset["prompt"] if "prompt" in dataset.column_names else [""] * len(dataset)
        return (
            [p + c for p, c in zip(prompts, dataset["chosen"], strict=True)],
            [p + r for p, r in zip(prompts, dataset["rejected"], strict=True)],
        )
    decode = tokenizer.batch_decode
    return (
        decode(dataset["input_ids_chosen"], skip_special_tokens=True),
        decode(dataset["input_ids_rejected"], skip_special_tokens=True),
    )
