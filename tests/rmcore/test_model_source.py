"""A model argument is checked before any work: missing path, no weights, no tokenizer, hub ids."""

from __future__ import annotations

import shutil

import pytest

from rmcore.model_source import check_model_source


def test_hub_ids_and_complete_folders_pass(minilm_path):
    assert check_model_source("sentence-transformers/all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"
    assert check_model_source(minilm_path) == minilm_path


def test_missing_path_empty_folder_and_folder_without_tokenizer(tmp_path, minilm_path):
    with pytest.raises(FileNotFoundError, match=r"model path .*/nope does not exist"):
        check_model_source(str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="holds no weights"):
        check_model_source(str(tmp_path))
    folder = tmp_path / "weights-only"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(f"{minilm_path}/{name}", folder / name)
    with pytest.raises(ValueError, match=r"holds no tokenizer .*tokenizer.save_pretrained"):
        check_model_source(str(folder))
