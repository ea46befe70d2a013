"""Model checks and wrappers: num_labels=1, dropout off, pad token, LoRA config, loading back."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, PeftModel, TaskType
from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

from rmcore import load_reward_model, score_texts
from rmcore.models.loading import (
    apply_peft,
    check_reward_model,
    disable_dropout,
    ensure_pad_token,
    is_adapter_dir,
    lora_config,
)


def test_check_reward_model_refuses_two_labels():
    model = BertForSequenceClassification(
        BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    )
    assert model.config.num_labels == 2
    with pytest.raises(ValueError, match="num_labels=2.*require `num_labels=1`"):
        check_reward_model(model)


def test_disable_dropout_turns_every_dropout_off(minilm):
    assert disable_dropout(minilm) > 0
    assert all(m.p == 0.0 for m in minilm.modules() if isinstance(m, torch.nn.Dropout))
    assert disable_dropout(minilm) == 0


def test_ensure_pad_token_uses_eos(make_gpt2, gpt2_tokenizer):
    gpt2_tokenizer.pad_token = None
    model = make_gpt2()
    model.config.pad_token_id = None
    ensure_pad_token(model, gpt2_tokenizer)
    assert gpt2_tokenizer.pad_token == gpt2_tokenizer.eos_token
    assert model.config.pad_token_id == gpt2_tokenizer.eos_token_id


def test_apply_peft_refuses_a_causal_lm_task_type(make_llama):
    with pytest.raises(ValueError, match="SEQ_CLS"):
        apply_peft(make_llama(), LoraConfig(task_type=TaskType.CAUSAL_LM, r=2, target_modules=["q_proj"]))


def test_apply_peft_keeps_the_score_head_trainable(make_llama):
    model = apply_peft(make_llama(), lora_config(r=2, target_modules=["q_proj", "v_proj"]))
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert any("lora_" in name for name in trainable)
    assert any(".score." in name for name in trainable)
    assert not any("embed_tokens" in name for name in trainable)


def test_load_reward_model_reads_a_full_model_folder(tmp_path, make_llama, llama_tokenizer):
    model = make_llama()
    model.save_pretrained(tmp_path)
    llama_tokenizer.save_pretrained(tmp_path)
    loaded, tokenizer = load_reward_model(tmp_path)
    assert not is_adapter_dir(tmp_path)
    assert not loaded.training
    texts = ["hello how are you", "no"]
    assert score_texts(loaded, tokenizer, texts) == pytest.approx(score_texts(model, llama_tokenizer, texts), abs=1e-6)


def test_load_reward_model_reads_an_adapter_folder(tmp_path, make_llama, llama_tokenizer):
    base_dir, adapter_dir = tmp_path / "base", tmp_path / "adapter"
    make_llama().save_pretrained(base_dir)
    base = AutoModelForSequenceClassification.from_pretrained(base_dir, num_labels=1)
    model = apply_peft(base, lora_config(r=2, target_modules=["q_proj"]))
    with torch.no_grad():
        model.base_model.model.score.modules_to_save["default"].weight.add_(1.0)  # a change the base lacks
    model.save_pretrained(adapter_dir)
    llama_tokenizer.save_pretrained(adapter_dir)
    loaded, tokenizer = load_reward_model(adapter_dir)
    assert isinstance(loaded, PeftModel)
    texts = ["hello how are you", "no"]
    assert score_texts(loaded, tokenizer, texts) == pytest.approx(score_texts(model, llama_tokenizer, texts), abs=1e-6)


# ----- loading: fp32 master weights, clear errors -------------------------------------------------------------
def _bf16_llama_folder(tmp_path, make_llama, llama_tokenizer):
    model = make_llama().to(torch.bfloat16)
    model.save_pretrained(tmp_path / "m")
    llama_tokenizer.save_pretrained(tmp_path / "m")
    return str(tmp_path / "m")


def test_bf16_checkpoint_loads_with_fp32_master_weights(tmp_path, make_llama, llama_tokenizer):
    from rmcore.models.loading import load_reward_backbone

    folder = _bf16_llama_folder(tmp_path, make_llama, llama_tokenizer)
    assert AutoModelForSequenceClassification.from_pretrained(folder).dtype == torch.bfloat16  # transformers' "auto"
    model = load_reward_backbone(folder)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert load_reward_backbone(folder, {"dtype": "bfloat16"}).dtype == torch.bfloat16  # asked for


def test_unknown_dtype_names_the_field(tmp_path, make_llama, llama_tokenizer):
    from rmcore.models.loading import load_reward_backbone

    with pytest.raises(ValueError, match=r"model_init_kwargs\['dtype'\]='float17'"):
        load_reward_backbone(_bf16_llama_folder(tmp_path, make_llama, llama_tokenizer), {"dtype": "float17"})


def test_missing_model_folder_and_folder_without_tokenizer_are_refused(tmp_path, make_llama):
    from rmcore.models.loading import load_reward_backbone, load_tokenizer

    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_reward_backbone(str(tmp_path / "nope" / "model"))
    make_llama().save_pretrained(tmp_path / "bare")
    with pytest.raises(ValueError, match="holds no tokenizer"):
        load_tokenizer(str(tmp_path / "bare"))


@pytest.mark.parametrize(("files", "words"), [([], "no safetensors"), (["model.safetensors"], "no tokenizer")])
def test_a_saved_model_folder_names_the_folder_and_what_is_missing(tmp_path, files, words):
    from rmcore.models.loading import check_model_folder

    for name in files:
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(ValueError, match=words) as err:
        check_model_folder(str(tmp_path), weights=True)
    assert str(tmp_path) in str(err.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_model_folder(str(tmp_path / "nope"), weights=True)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_model_folder("nope", weights=True)  # a hub id is no saved folder


def test_half_precision_model_object_is_upcast_with_a_warning(make_llama):
    from rmcore.models.loading import upcast_trainable

    model = make_llama().to(torch.bfloat16)
    with pytest.warns(UserWarning, match="training them in float32"):
        assert upcast_trainable(model)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert not upcast_trainable(model)


def test_model_folder_in_finds_the_model_of_a_saved_folder_and_of_a_downloaded_mlflow_model(tmp_path):
    from rmcore.models.loading import model_folder_in

    (tmp_path / "rm").mkdir()
    (tmp_path / "rm" / "config.json").write_text("{}")
    assert model_folder_in(tmp_path / "rm") == tmp_path / "rm"
    mlflow_root = tmp_path / "dl"
    (mlflow_root / "artifacts" / "model").mkdir(parents=True)
    (mlflow_root / "artifacts" / "model" / "config.json").write_text("{}")
    (mlflow_root / "MLmodel").write_text("flavors: {}\n")
    assert model_folder_in(mlflow_root) == mlflow_root / "artifacts" / "model"


def test_a_folder_without_a_model_names_the_newest_checkpoint(tmp_path):
    from rmcore.models.loading import model_folder_in

    for step in (2, 10):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=f"no config.json in {tmp_path}; a model is in .*checkpoint-10$"):
        load_reward_model(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no saved model"):
        model_folder_in(tmp_path / "empty")
