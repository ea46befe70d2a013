"""Script and LoRA arguments: flags, help, validation, and the LoraConfig they build."""

from __future__ import annotations

import dataclasses

import pytest
from peft import LoraConfig, TaskType
from transformers import HfArgumentParser

from rmcore.training.script_args import LoraArguments, ScriptArguments, build_peft_config


@pytest.mark.parametrize("cls", [ScriptArguments, LoraArguments])
def test_every_field_has_help(cls):
    for field in dataclasses.fields(cls):
        assert field.metadata.get("help", "").strip(), f"{cls.__name__}.{field.name} has no help text"


def test_flags_parse_like_trl_scripts():
    script, lora = HfArgumentParser((ScriptArguments, LoraArguments)).parse_args_into_dataclasses(
        args=[
            "--dataset_name", "pairs.jsonl.gz",
            "--eval_fraction", "0.2",
            "--use_peft",
            "--lora_r", "8",
            "--lora_alpha", "16",
            "--lora_target_modules", "query", "value",
        ]
    )  # fmt: skip
    assert script.dataset_name == "pairs.jsonl.gz"
    assert script.eval_fraction == 0.2
    assert script.model_name_or_path is None
    assert lora.use_peft is True
    assert (lora.lora_r, lora.lora_alpha) == (8, 16)
    assert lora.lora_target_modules == ["query", "value"]


def test_no_peft_config_without_use_peft():
    assert build_peft_config(LoraArguments()) is None


def test_build_peft_config_makes_a_seq_cls_lora():
    config = build_peft_config(
        LoraArguments(use_peft=True, lora_r=8, lora_alpha=32, lora_dropout=0.1, lora_target_modules=["q_proj"])
    )
    assert isinstance(config, LoraConfig)
    assert config.task_type == TaskType.SEQ_CLS
    assert (config.r, config.lora_alpha, config.lora_dropout) == (8, 32, 0.1)
    assert set(config.target_modules) == {"q_proj"}


def test_all_linear_is_peft_shorthand():
    config = build_peft_config(LoraArguments(use_peft=True, lora_target_modules=["all-linear"]))
    assert config.target_modules == "all-linear"


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: ScriptArguments(eval_fraction=1.0), "eval_fraction"),
        (lambda: ScriptArguments(eval_fraction=-0.1), "eval_fraction"),
        (lambda: LoraArguments(lora_r=0), "lora_r"),
        (lambda: LoraArguments(lora_dropout=1.5), "lora_dropout"),
    ],
)
def test_bad_values_name_the_field(make, name):
    with pytest.raises(ValueError, match=name):
        make()
