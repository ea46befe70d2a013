"""The GPU check's CPU smoke mode: a tiny Qwen2 trains through rmcore, and padding-free rewards equal padded ones."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from benchmarks import gpu_check
from benchmarks.runs import DATA

REPO = Path(__file__).resolve().parents[2]


def test_the_shell_script_parses_and_runs_the_python_check_under_a_time_limit():
    script = REPO / "benchmarks" / "gpu_check.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    assert "timeout 480" in text and "benchmarks/gpu_check.py" in text


def test_the_default_model_is_about_half_a_billion_parameters():
    from transformers import Qwen2Config, Qwen2ForSequenceClassification

    hidden, layers, heads, kv_heads, intermediate, vocab = gpu_check.SIZES["0.5b"]
    config = Qwen2Config(
        vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        num_key_value_heads=kv_heads, intermediate_size=intermediate, num_labels=1,
    )  # fmt: skip
    with __import__("torch").device("meta"):
        params = sum(p.numel() for p in Qwen2ForSequenceClassification(config).parameters())
    assert 0.4e9 < params < 0.6e9


@pytest.mark.timeout(600)
def test_tiny_cpu_smoke_mode(tmp_path):
    if not DATA.is_file():
        pytest.skip(f"shared pairs not found at {DATA}")
    out = tmp_path / "gpu.json"
    argv = ["--size", "tiny", "--device", "cpu", "--n-pairs", "4", "--batch-size", "4", "--max-length", "512"]
    assert gpu_check.main([*argv, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["reward_gap"] < 2e-2  # bf16 autocast: packed + shared vs padded, same weights
    rmcore = result["runs"][0]
    assert rmcore["system"] == "rmcore" and rmcore["pairs"] == 4 and rmcore["flops"] > 0 and rmcore["mfu"] > 0
