"""Train task: a thin shell over `rmcore.RewardTrainer` that turns pairs into a saved reward model."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from datasets import Dataset
from prefect import task
from prefect.cache_policies import NO_CACHE
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, set_seed

from rmcore import RewardConfig, RewardTrainer
from rmcore.models import default_model_path
from rmcore.tokenization import model_max_length


@dataclass
class TrainResult:
    """What a training run leaves behind, as paths and numbers (cheap to pass between tasks)."""

    model_dir: str
    output_dir: str
    train_metrics: dict[str, float] = field(default_factory=dict)
    eval_metrics: dict[str, float] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)


def build_reward_config(output_dir: Path, overrides: dict[str, Any]) -> RewardConfig:
    """A `RewardConfig` for the pipeline: our defaults, then the caller's overrides (unknown keys fail)."""
    defaults: dict[str, Any] = {
        "output_dir": str(output_dir),
        "eval_strategy": "no",
        "report_to": "none",
        "save_strategy": "no",
        "disable_tqdm": False,
    }
    known = RewardConfig.__dataclass_fields__
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"unknown RewardConfig field(s) {unknown}; see `rewardflow train --help` for the flags")
    return RewardConfig(**{**defaults, **overrides})


def resolve_max_length(model_name_or_path: str, config: RewardConfig) -> int:
    """The token limit training will use: the config's, else the model's own (read from its config)."""
    if config.max_length:
        return config.max_length
    model_config = AutoConfig.from_pretrained(model_name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(model_name_or_path)
    return model_max_length(SimpleNamespace(config=model_config), tokenizer)


def train_reward_model(
    train_dataset: Dataset,
    eval_dataset: Dataset | None,
    config: RewardConfig,
    model_name_or_path: str | None = None,
    peft_config: Any = None,
) -> TrainResult:
    """Train, evaluate once, and save model + tokenizer (safetensors) under `config.output_dir/model`."""
    path = model_name_or_path or default_model_path()
    set_seed(config.seed)  # the new score head is initialised here, before the Trainer seeds anything
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    trainer = RewardTrainer(
        model=model,
        args=config,
        processing_class=tokenizer,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        peft_config=peft_config,
    )
    train_metrics = dict(trainer.train().metrics)
    eval_metrics = dict(trainer.evaluate()) if eval_dataset is not None and len(eval_dataset) else {}
    model_dir = Path(config.output_dir) / "model"
    trainer.save_model(str(model_dir))
    if not (model_dir / "tokenizer_config.json").exists():
        tokenizer.save_pretrained(str(model_dir))
    out = Path(config.output_dir)
    artifacts = [str(p) for p in (out / "eval_logit_table.json", out / "eval_rewards.png") if p.exists()]
    (out / "metrics.json").write_text(json.dumps({"train": train_metrics, "eval": eval_metrics}, indent=2))
    return TrainResult(str(model_dir), str(out), train_metrics, eval_metrics, artifacts)


@task(name="train", cache_policy=NO_CACHE)
def train(
    train_dataset: Dataset,
    eval_dataset: Dataset | None,
    config: RewardConfig,
    model_name_or_path: str | None = None,
    peft_config: Any = None,
) -> TrainResult:
    """Train a reward model on tokenized pairs."""
    return train_reward_model(train_dataset, eval_dataset, config, model_name_or_path, peft_config)
