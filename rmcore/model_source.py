"""Check a model argument before any work: a local folder must exist and hold weights and a tokenizer.

Without this, a mistyped path reaches the hub client ("Repo id must be in the form 'repo_name'...") and
a folder saved without its tokenizer loads a tokenizer with no vocabulary, failing later or not at all.
"""

from __future__ import annotations

import os
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "tokenizer.model")
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "adapter_model.safetensors",
    "adapter_model.bin",
)


def looks_local(name: str) -> bool:
    """A path rather than a hub id: absolute, relative (./, ../, ~), more than one '/', or existing."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or os.path.exists(name)


def check_model_source(name: str) -> str:
    """`name` unchanged when it is a hub id or a usable local folder, else a clear error.

    Raises:
        FileNotFoundError: the local path does not exist.
        ValueError: the folder holds no weights, or no tokenizer (an adapter folder may borrow its base's).
    """
    if not looks_local(name):
        return name
    folder = Path(name).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"model path {name} does not exist: pass a saved model folder or a hub id")
    if not folder.is_dir():
        raise ValueError(f"model path {name} is a file: pass the folder save_pretrained wrote")
    names = {p.name for p in folder.iterdir()}
    if not names & set(WEIGHT_FILES):
        raise ValueError(f"model folder {name} holds no weights ({', '.join(WEIGHT_FILES[:3])}, ...)")
    if not names & set(TOKENIZER_FILES) and "adapter_config.json" not in names:
        raise ValueError(
            f"model folder {name} holds no tokenizer ({', '.join(TOKENIZER_FILES[:3])}, ...): "
            "save it beside the model with tokenizer.save_pretrained(folder)"
        )
    return name
