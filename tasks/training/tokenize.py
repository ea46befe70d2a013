"""Tokenize stored pairs into the four token columns, cached on disk so a rerun does not tokenize again.

The tokenizer is the one training uses (`rmcore.models.loading.setup_tokenizer`: the saved tokenizer with the
config's `eos_token`, `pad_token` and `chat_template_path`). The cache key is the data (hash of the pair
ids and margins), the tokenizer (path, class, vocabulary, special tokens and chat template) and
`max_length`: change any of them and the pairs are tokenized anew.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import datasets
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from transformers import PreTrainedTokenizerBase

from rmcore import RewardConfig
from rmcore.data import tokenization
from rmcore.data.chat import chat_template_hash
from rmcore.models.tokenizer import setup_tokenizer
from tasks.atomic import write_atomic
from tasks.data.store import pair_id

_KEEP = ("pair_id", "prompt", "chosen", "rejected", "margin")


def tokenizer_identity(tokenizer_path: str, tokenizer: PreTrainedTokenizerBase) -> dict[str, object]:
    """What decides the tokens: where the tokenizer came from, a hash of its vocabulary and special tokens, and
    a hash of the chat template that renders conversational pairs (None without one)."""
    vocab = json.dumps(sorted(tokenizer.get_vocab().items()), ensure_ascii=True)
    specials = json.dumps(tokenizer.special_tokens_map, sort_keys=True, default=str)
    return {
        "path": str(Path(tokenizer_path).resolve()) if Path(tokenizer_path).exists() else tokenizer_path,
        "class": type(tokenizer).__name__,
        "vocab_size": len(tokenizer),
        "vocab_sha256": hashlib.sha256((vocab + specials).encode("ascii")).hexdigest(),
        "chat_template_sha256": chat_template_hash(tokenizer),
    }


def with_pair_ids(df: pd.DataFrame) -> pd.DataFrame:
    """Frames from the store have `pair_id`; others get it computed from the text."""
    if "pair_id" in df:
        return df
    prompts = df["prompt"] if "prompt" in df else [""] * len(df)
    ids = [pair_id(c, r, p) for c, r, p in zip(df["chosen"], df["rejected"], prompts, strict=True)]
    return df.assign(pair_id=ids)


def as_dataset(pairs: pd.DataFrame | datasets.Dataset) -> datasets.Dataset:
    """The kept columns as a Dataset (a store Dataset is on disk already; a frame is converted)."""
    if isinstance(pairs, datasets.Dataset):
        return pairs.select_columns([c for c in _KEEP if c in pairs.column_names])
    df = with_pair_ids(pairs)
    columns = [c for c in _KEEP if c in df]
    return datasets.Dataset.from_pandas(df[columns].reset_index(drop=True), preserve_index=False)


def cache_key(pairs: datasets.Dataset, identity: dict[str, object], max_length: int) -> str:
    """Hash of the ids in order, the margins, the columns, the tokenizer and max_length, streamed."""
    hasher = hashlib.sha256()
    for part in (identity, max_length, sorted(pairs.column_names)):
        hasher.update(json.dumps(part, default=str).encode("ascii") + b"\n")
    margin = "margin" in pairs.column_names
    for batch in pairs.select_columns(["pair_id", *(["margin"] if margin else [])]).iter(batch_size=10_000):
        hasher.update("\n".join(batch["pair_id"]).encode("ascii"))
        if margin:
            hasher.update(json.dumps([round(float(m), 12) for m in batch["margin"]]).encode("ascii"))
    return hasher.hexdigest()[:24]


def tokenize_dataset(
    dataset: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int, num_proc: int | None = None
) -> datasets.Dataset:
    """Pairs to a Dataset with the four token columns and `truncated`, by the core's left-truncation rule."""
    return dataset.map(
        tokenization.tokenize_pairs,
        batched=True,
        num_proc=num_proc,
        fn_kwargs={"tokenizer": tokenizer, "max_length": max_length},
        desc="Tokenizing pairs",
    )


def tokenize_pairs_cached(
    pairs: pd.DataFrame | datasets.Dataset,
    tokenizer_path: str,
    max_length: int,
    cache_dir: Path,
    num_proc: int | None = None,
    config: RewardConfig | None = None,
) -> datasets.Dataset:
    """Tokenize the pairs, or load them from `cache_dir` when the same data, tokenizer and max_length were seen.

    Args:
        pairs: `chosen`, `rejected`, optional `prompt`, `margin`, `pair_id` (row order is kept): a frame, or
            a Dataset read from the store (`tasks.data.store.store_pairs`, on disk: memory stays flat).
        tokenizer_path: a local tokenizer folder or hub id.
        max_length: longest sequence in tokens; longer ones lose tokens from the left.
        cache_dir: where tokenized datasets are kept, one folder per key (e.g. HOME/cache).
        num_proc: processes for `datasets.map`; None = this process.
        config: the training's `RewardConfig`, whose `trust_remote_code`, `eos_token`, `pad_token` and
            `chat_template_path` shape the tokenizer as in training; None = the tokenizer as saved.

    Returns:
        A Dataset of len(pairs) rows: the kept text columns, the four token columns and `truncated`.
    """
    tokenizer = setup_tokenizer(tokenizer_path, None, config)
    dataset = as_dataset(pairs)
    target = Path(cache_dir) / f"tokens-{cache_key(dataset, tokenizer_identity(tokenizer_path, tokenizer), max_length)}"
    if target.is_dir():
        return datasets.load_from_disk(str(target))
    dataset = tokenize_dataset(dataset, tokenizer, max_length, num_proc)
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    try:
        write_atomic(target, lambda temp: dataset.save_to_disk(str(temp)))
    except OSError:  # another run cached the same key first: theirs is as good as ours
        if not target.is_dir():
            raise
    return datasets.load_from_disk(str(target))


@task(name="tokenize-pairs", cache_policy=NO_CACHE, log_prints=False)  # dill prints bytecode while hashing
def tokenize(
    pairs: pd.DataFrame | datasets.Dataset,
    tokenizer_path: str,
    max_length: int,
    cache_dir: Path,
    num_proc: int | None = None,
    config: RewardConfig | None = None,
) -> datasets.Dataset:
    """Tokenize pairs with the on-disk cache and the training's tokenizer settings (see `tokenize_pairs_cached`)."""
    return tokenize_pairs_cached(pairs, tokenizer_path, max_length, cache_dir, num_proc, config)
