"""Tiny BERT reward models with MiniLM's real tokenizer: fast stand-ins wherever a test needs a model."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, PreTrainedTokenizerBase

from rmcore.models import default_model_path


def tiny_bert(
    seed: int = 0,
    hidden: int = 32,
    layers: int = 1,
    max_positions: int = 128,
    initializer_range: float = 0.02,
) -> tuple[BertForSequenceClassification, PreTrainedTokenizerBase]:
    """A `layers`-layer, `hidden`-wide BERT with num_labels=1, seeded; a wide `initializer_range` makes
    rewards differ well beyond bf16 ties, for tests that judge untrained models."""
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(default_model_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=max_positions,
        num_labels=1,
        initializer_range=initializer_range,
    )
    return BertForSequenceClassification(config), tokenizer


def save_tiny_bert(folder: str | Path, **kwargs) -> Path:
    """`tiny_bert(**kwargs)` saved with its tokenizer (safetensors), loadable by `load_reward_model`."""
    model, tokenizer = tiny_bert(**kwargs)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return Path(folder)
