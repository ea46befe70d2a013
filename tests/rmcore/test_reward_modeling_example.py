"""`examples/reward_modeling.py` (TRL's script shape) trains, saves and evaluates on a few pairs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "reward_modeling.py"


def test_example_script_trains_saves_and_evaluates(tmp_path, text_pairs):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in text_pairs.to_list()))
    spec = importlib.util.spec_from_file_location("reward_modeling", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "out"
    metrics = module.main(
        [
            "--dataset_name",
            str(data),
            "--output_dir",
            str(out),
            "--max_steps",
            "2",
            "--per_device_train_batch_size",
            "2",
        ]
        + ["--eval_fraction", "0.25", "--report_to", "none", "--disable_tqdm", "true", "--use_peft", "--lora_r", "4"]
    )
    assert {"eval_accuracy", "eval_mean_margin", "eval_truncated"} <= set(metrics)
    assert (out / "adapter_config.json").is_file()
    assert (out / "tokenizer.json").is_file()
