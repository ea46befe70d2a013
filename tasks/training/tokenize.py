"""Tokenize stored pairs into the four token columns, cached on disk so a rerun does not tokenize again.

The cache key is the data (hash of the pair ids and margins), the tokenizer (path, class, vocabulary
and special tokens) and `max_length`: change any of them and the pairs are tokenized anew.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import datasets
import pandas as pd
from prefect import task
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from rmcore import tokenization
from tasks.atomic import write_atomic
from tasks.data.store import data_hash, pair_id

_KEEP = ("pair_id", "prompt", "chosen", "rejected", "margin")


def tokenizer_identity(tokenizer_path: str, tokenizer: PreTrainedTokenizerBase) -> dict[str, object]:
    """What decides the tokens: where the tokenizer came from and a hash of its vocabulary and special tokens."""
    vocab = json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=True)
    specials = json.dumps(tokenizer.special_tokens_map, sort_keys=True, default=str)
    return {
        "path": str(Path(tokenizer_path).resolve()) if Path(tokenizer_path).exists() else tokenizer_path,
        "class": type(tokenizer).__name__,
        "vocab_size": len(tokenizer),
        "vocab_sha256": hashlib.sha256((vocab + specials).encode("ascii")).hexdigest(),
    }


def with_pair_ids(df: pd.DataFrame) -> pd.DataFrame:
    """Frames from the store have `pair_id`; others get it computed from the text."""
    if "pair_id" in df:
        return df
    prompts = df["prompt"] if "prompt" in df else [""] * len(df)
    ids = [pair_id(c, r, p) for c, r, p in zip(df["chosen"], df["rejected"], prompts, strict=True)]
    return df.assign(pair_id=ids)


def cache_key(df: pd.DataFrame, identity: dict[str, object], max_length: int) -> str:
    margins = df["margin"].round(12).tolist() if "margin" in df else None
    parts = [data_hash(df), list(df["pair_id"]), margins, sorted(c for c in _KEEP if c in df), identity, max_length]
    return hashlib.sha256(json.dumps(parts, default=str).encode("ascii")).hexdigest()[:24]


def tokenize_frame(
    df: pd.DataFrame, tokenizer: PreTrainedTokenizerBase, max_length: int, num_proc: int | None = None
) -> datasets.Dataset:
    """Pairs to a Dataset with the four token columns and `truncated`, by the core's left-truncation rule."""
    columns = [c for c in _KEEP if c in df]
    dataset = datasets.Dataset.from_pandas(df[columns].reset_index(drop=True), preserve_index=False)
    return dataset.map(
        tokenization.tokenize_pairs,
        batched=True,
        num_proc=num_proc,
        fn_kwargs={"tokenizer": tokenizer, "max_length": max_length},
        desc="Tokenizing pairs",
    )


def tokenize_pairs_cached(
    df: pd.DataFrame, tokenizer_path: str, max_length: int, cache_dir: Path, num_proc: int | None = None
) -> datasets.Dataset:
    """Tokenize the pairs, or load them from `cache_dir` when the same data, tokenizer and max_length were seen.

    Args:
        df: pairs with `chosen`, `rejected`, optional `prompt`, `margin`, `pair_id` (row order is kept).
        tokenizer_path: a local tokenizer folder or hub id.
        max_length: longest sequence in tokens; longer ones lose tokens from the left.
        cache_dir: where tokenized datasets are kept, one folder per key (e.g. HOME/cache).
        num_proc: processes for `datasets.map`; None = this process.

    Returns:
        A Dataset of len(df) rows: the kept text columns, the four token columns and `truncated`.
    """
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    df = with_pair_ids(df)
    target = Path(cache_dir) / f"tokens-{cache_key(df, tokenizer_identity(tokenizer_path, tokenizer), max_length)}"
    if target.is_dir():
        return datasets.load_from_disk(str(target))
    dataset = tokenize_frame(df, tokenizer, max_length, num_proc)
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    try:
        write_atomic(target, lambda temp: dataset.save_to_disk(str(temp)))
    except OSError:  # another run cached the same key first: theirs is as good as ours
        if not target.is_dir():
            raise
    return datasets.load_from_disk(str(target))


@task(name="tokenize-pairs", log_prints=False)  # dill prints bytecode while datasets hashes the map function
def tokenize(
    df: pd.DataFrame, tokenizer_path: str, max_length: int, cache_dir: Path, num_proc: int | None = None
) -> datasets.Dataset:
    """Tokenize pairs with the on-disk cache (see `tokenize_pairs_cached`)."""
    return tokenize_pairs_cached(df, tokenizer_path, max_length, cache_dir, num_proc)
