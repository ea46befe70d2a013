"""The TRL guide's code (`examples/trl_guide.py`) runs on rmcore with only the import changed."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import torch
from peft import PeftModel

GUIDE = Path(__file__).resolve().parents[2] / "examples" / "trl_guide.py"


def load_guide():
    spec = importlib.util.spec_from_file_location("trl_guide", GUIDE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_guide_imports_rmcore_not_trl():
    source = GUIDE.read_text()
    assert "from rmcore import RewardConfig, RewardTrainer" in source
    assert "import trl" not in source and "\nfrom trl" not in source


def test_guide_trains_with_lora_margin_and_centering(tmp_path, shared_pairs_path):
    guide = load_guide()
    trainer = guide.main(
        ["--data", str(shared_pairs_path), "--pairs", "16", "--max_steps", "2", "--output_dir", str(tmp_path)]
    )
    assert isinstance(trainer.model, PeftModel)
    assert trainer.args.center_rewards_coefficient == 0.01
    assert trainer.train_dataset["margin"][:4] == [3.0, 1.0, 3.0, 1.0]
    assert trainer.state.global_step == 2
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    lora_b = [p for name, p in trainer.model.named_parameters() if "lora_B" in name]
    assert lora_b and any(torch.count_nonzero(p) > 0 for p in lora_b), "LoRA B starts at zero and must train"
