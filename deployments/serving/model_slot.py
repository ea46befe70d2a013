"""The model being served, and the slot that holds it: swapped atomically, read without locks.

A request takes `slot.current` once, is tokenized for it and keeps that reference through all its
slices, so a swap never changes the model under a request: requests in flight finish on the version
they started on, and the old model is freed when the last of them lets go.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn
from transformers import PreTrainedTokenizerBase

from rmcore import load_reward_model
from rmcore.data.chat import chat_template_hash
from rmcore.data.tokenization import position_limit, resolve_max_length
from rmcore.models.normalization import read_reward_stats
from rmcore.models.scoring import ScoringConfig, score_token_ids


@dataclass(frozen=True)
class LoadedModel:
    """A reward model ready to score, with what `/info` says about it."""

    model: nn.Module
    tokenizer: PreTrainedTokenizerBase
    version: str
    max_length: int
    reward_stats: dict[str, float] | None
    info: dict[str, Any] = field(default_factory=dict)


def base_model_of(model: nn.Module) -> str | None:
    """The model it was fine-tuned from, as far as its config says (`_name_or_path` is the folder it came from)."""
    config = getattr(model, "config", None)
    return getattr(config, "base_model_name_or_path", None) or getattr(config, "model_type", None)


def max_length_source(model: nn.Module, tokenizer: PreTrainedTokenizerBase, flag: int | None) -> str:
    """Where the served max_length comes from, for `/info`: the flag, the saved tokenizer or the positions."""
    if flag:
        return "--max_length"
    saved = getattr(tokenizer, "model_max_length", None)
    limit = position_limit(model)
    if isinstance(saved, int) and saved < 1_000_000 and (limit is None or saved <= limit):
        return "tokenizer model_max_length (as saved with the model)"
    return "model config position embeddings" if limit is not None else "default (neither tokenizer nor config has one)"


def load_folder(
    folder: str | Path,
    version: str,
    info: dict[str, Any],
    max_length: int | None = None,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load a model folder and describe it: reward stats from its config.json, chat-template hash, max length."""
    model, tokenizer = load_reward_model(folder, trust_remote_code)
    model.eval()
    stats = read_reward_stats(folder)
    length = resolve_max_length(max_length, model, tokenizer)  # once per loaded model
    described = {
        **info,
        "version": version,
        "base_model": info.get("base_model") or base_model_of(model),
        "max_length": length,
        "max_length_source": max_length_source(model, tokenizer, max_length),
        "reward_stats": stats,
        "chat_template_hash": chat_template_hash(tokenizer),
    }
    return LoadedModel(model, tokenizer, version, length, stats, described)


class ModelSlot:
    """Holds the current model (None until the first load) and, before that, why there is none."""

    def __init__(self, reason: str = "loading the model") -> None:
        self._current: LoadedModel | None = None
        self._reason = reason
        self._lock = threading.Lock()

    @property
    def current(self) -> LoadedModel | None:
        return self._current

    @property
    def reason(self) -> str:
        """Why no model is served yet (meaningful while `current` is None)."""
        return self._reason

    def set_reason(self, reason: str) -> None:
        self._reason = reason

    def swap(self, loaded: LoadedModel) -> LoadedModel | None:
        """Serve `loaded` from now on; returns the model it replaces (still used by batches in flight)."""
        with self._lock:
            previous, self._current = self._current, loaded
        return previous


def score_loaded(loaded: LoadedModel, ids: list[list[int]], config: ScoringConfig) -> list[float]:
    """Raw rewards of token lists (tokenized and truncated for `loaded`) at the server's scoring settings."""
    return score_token_ids(loaded.model, loaded.tokenizer, ids, config)
