"""LoRA through `peft_config`: the score head trains and is saved; loading back gives the same rewards."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, PeftModel, TaskType
from safetensors import safe_open
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from rmcore import RewardTrainer, load_reward_model, score_texts

TEXTS = ["human hello assistant hello how are you", "human yes assistant no no no", "thanks"]


@pytest.fixture(params=["minilm", "llama"])
def base(request, tmp_path, minilm_path, make_llama, llama_tokenizer) -> tuple[str, str]:
    """A base model folder (PEFT records it in the adapter) and the name of its reward head."""
    if request.param == "minilm":
        return minilm_path, "classifier"
    folder = tmp_path / "llama-base"
    make_llama().save_pretrained(folder)
    llama_tokenizer.save_pretrained(folder)
    return str(folder), "score"


def train_lora(base_path: str, output_dir, text_pairs, make_config, **config) -> RewardTrainer:
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(base_path, num_labels=1)
    trainer = RewardTrainer(
        model=model,
        args=make_config(output_dir, learning_rate=1e-2, **config),
        tokenizer=AutoTokenizer.from_pretrained(base_path),
        train_dataset=text_pairs,
        peft_config=LoraConfig(task_type=TaskType.SEQ_CLS, r=4, lora_alpha=8, lora_dropout=0.0),
    )
    trainer.train()
    return trainer


def test_head_is_trained_and_saved_and_reloads_to_the_same_rewards(tmp_path, base, text_pairs, make_config):
    base_path, head = base
    trainer = train_lora(base_path, tmp_path / "out", text_pairs, make_config)
    model = trainer.model
    assert isinstance(model, PeftModel)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert any(f"{head}.modules_to_save" in name for name in trainable), trainable
    assert any("lora_B" in name for name in trainable)

    trainer.save_model()
    out = tmp_path / "out"
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as f:
        assert any(head in key for key in f.keys()), "the reward head must be in the adapter file"
    loaded, tokenizer = load_reward_model(out)
    assert isinstance(loaded, PeftModel)
    expected = score_texts(model, trainer.processing_class, TEXTS)
    assert score_texts(loaded, tokenizer, TEXTS) == pytest.approx(expected, abs=1e-5)
    wrapper = getattr(model.get_base_model(), head)
    trained, initial = wrapper.modules_to_save["default"].weight, wrapper.original_module.weight
    assert not torch.equal(trained, initial), "the reward head did not train"


def test_merge_adapter_on_save_writes_a_plain_model(tmp_path, base, text_pairs, make_config):
    base_path, _ = base
    trainer = train_lora(base_path, tmp_path / "out", text_pairs, make_config, merge_adapter_on_save=True)
    trainer.save_model()
    out = tmp_path / "out"
    assert not (out / "adapter_config.json").exists()
    merged = AutoModelForSequenceClassification.from_pretrained(out, num_labels=1).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    expected = score_texts(trainer.model, trainer.processing_class, TEXTS)
    assert score_texts(merged, tokenizer, TEXTS) == pytest.approx(expected, abs=1e-4)
    assert isinstance(trainer.model, PeftModel), "saving must not merge the model still in training"
