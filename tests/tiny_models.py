"""Tiny BERT reward models with MiniLM's real tokenizer: fast stand-ins wherever a test needs a model."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, PreTrainedTokenizerBase

from rmcore.models.loading import default_model_path


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


# A BERT under its own model type whose classes live in the folder: loadable only with trust_remote_code.
REMOTE_CODE = {
    "configuration_tiny_remote.py": (
        "from transformers import BertConfig\n\n\nclass TinyRemoteConfig(BertConfig):\n"
        "    model_type = 'tiny-remote-bert'\n"
    ),
    "modeling_tiny_remote.py": (
        "from transformers import BertForSequenceClassification\n\n"
        "from .configuration_tiny_remote import TinyRemoteConfig\n\n\n"
        "class TinyRemoteForSequenceClassification(BertForSequenceClassification):\n"
        "    config_class = TinyRemoteConfig\n"
    ),
}
REMOTE_AUTO_MAP = {
    "AutoConfig": "configuration_tiny_remote.TinyRemoteConfig",
    "AutoModelForSequenceClassification": "modeling_tiny_remote.TinyRemoteForSequenceClassification",
}


def save_tiny_remote_bert(folder: str | Path, **kwargs) -> Path:
    """`save_tiny_bert` with its model code in the folder (config.json `auto_map`), as a custom model saves."""
    folder = save_tiny_bert(folder, **kwargs)
    config = json.loads((folder / "config.json").read_text())
    config.update(
        model_type="tiny-remote-bert", architectures=["TinyRemoteForSequenceClassification"], auto_map=REMOTE_AUTO_MAP
    )
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    for name, code in REMOTE_CODE.items():
        (folder / name).write_text(code)
    return folder
