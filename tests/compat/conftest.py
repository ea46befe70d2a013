"""Fixtures TRL's tests use (pytest-datadir's `lazy_shared_datadir`), and one torch thread for tiny models."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def lazy_shared_datadir(tmp_path) -> Path:
    """TRL's tests/data folder: the chat template file its tests read."""
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(HERE / "template.jinja", folder / "template.jinja")
    return folder
