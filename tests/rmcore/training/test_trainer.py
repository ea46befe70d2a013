"""`RewardTrainer` end to end on tiny models: both dataset forms, the loss hook, truncation, bad input."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset

from rmcore import RewardDataCollatorWithPadding, RewardTrainer, pairwise_loss
from rmcore.data.tokenization import TOKEN_COLUMNS


def snapshot(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def changed(before: dict[str, torch.Tensor], model) -> set[str]:
    after = dict(model.named_parameters())
    return {name for name, p in before.items() if not torch.equal(p, after[name])}


def test_trains_on_text_pairs_with_prompt_and_margin(tmp_path, make_llama, llama_tokenizer, text_pairs, make_config):
    dataset = text_pairs.map(lambda row: {"prompt": "human ", "chosen": row["chosen"][6:], "margin": 0.5})
    model = make_llama()
    before = snapshot(model)
    trainer = RewardTrainer(model=model, args=make_config(tmp_path), tokenizer=llama_tokenizer, train_dataset=dataset)
    assert set(TOKEN_COLUMNS) <= set(trainer.train_dataset.column_names)
    output = trainer.train()
    assert trainer.state.global_step == 2
    assert output.metrics["train_truncated"] == 0
    assert {"model.embed_tokens.weight", "score.weight"} <= changed(before, model)
    assert len(changed(before, model)) == len(before)


def test_trains_on_pre_tokenized_pairs(tmp_path, make_gpt2, gpt2_tokenizer, text_pairs, make_config):
    def encode(row):
        chosen, rejected = gpt2_tokenizer(row["chosen"]), gpt2_tokenizer(row["rejected"])
        return {
            "input_ids_chosen": chosen["input_ids"],
            "attention_mask_chosen": chosen["attention_mask"],
            "input_ids_rejected": rejected["input_ids"],
            "attention_mask_rejected": rejected["attention_mask"],
        }

    dataset = text_pairs.map(encode, remove_columns=["chosen", "rejected"])
    model = make_gpt2()
    before = snapshot(model)
    trainer = RewardTrainer(
        model=model, args=make_config(tmp_path), processing_class=gpt2_tokenizer, train_dataset=dataset
    )
    trainer.train()
    assert "score.weight" in changed(before, model)
    assert trainer.train_dataset["input_ids_chosen"] == dataset["input_ids_chosen"]


def test_compute_loss_returns_the_rewards_of_a_collated_batch(
    tmp_path, make_llama, llama_tokenizer, text_pairs, make_config
):
    dataset = text_pairs.add_column("margin", [0.25 * i for i in range(len(text_pairs))])
    trainer = RewardTrainer(
        model=make_llama(),
        args=make_config(tmp_path, center_rewards_coefficient=0.01),
        tokenizer=llama_tokenizer,
        train_dataset=dataset,
    )
    assert isinstance(trainer.data_collator, RewardDataCollatorWithPadding)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    loss, outputs = trainer.compute_loss(trainer.model, batch, return_outputs=True)
    assert set(outputs) == {"rewards_chosen", "rewards_rejected"}
    assert outputs["rewards_chosen"].shape == outputs["rewards_rejected"].shape == (4,)
    expected = pairwise_loss(outputs["rewards_chosen"], outputs["rewards_rejected"], batch["margin"], 0.01)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    no_centering = pairwise_loss(outputs["rewards_chosen"], outputs["rewards_rejected"], batch["margin"])
    assert loss.item() > no_centering.item()


def test_tokenizer_is_required(tmp_path, make_gpt2, text_pairs, make_config):
    with pytest.raises(ValueError, match="tokenizer"):
        RewardTrainer(model=make_gpt2(), args=make_config(tmp_path), train_dataset=text_pairs)


def test_default_max_length_is_the_model_limit(tmp_path, make_gpt2, gpt2_tokenizer, text_pairs, make_config):
    trainer = RewardTrainer(
        model=make_gpt2(), args=make_config(tmp_path), tokenizer=gpt2_tokenizer, train_dataset=text_pairs
    )
    assert trainer.max_length == 64  # the tiny GPT-2's n_positions


def test_long_pairs_are_truncated_counted_and_kept(tmp_path, make_llama, llama_tokenizer, text_pairs, make_config):
    trainer = RewardTrainer(
        model=make_llama(),
        args=make_config(tmp_path, max_length=5),
        tokenizer=llama_tokenizer,
        train_dataset=text_pairs,
        eval_dataset=text_pairs.select(range(4)),
    )
    assert len(trainer.train_dataset) == len(text_pairs)
    assert len(trainer.eval_dataset) == 4
    expected = sum(
        max(len(llama_tokenizer(c)["input_ids"]), len(llama_tokenizer(r)["input_ids"])) > 5
        for c, r in zip(text_pairs["chosen"], text_pairs["rejected"], strict=True)
    )
    assert 0 < expected < len(text_pairs)
    assert trainer.truncated_counts["train"] == expected
    kept = llama_tokenizer.decode(trainer.train_dataset[1]["input_ids_chosen"])
    assert kept == "<s> sat on the mat"  # BOS plus the last four of "... the cat sat on the mat"
    assert trainer.train().metrics["train_truncated"] == expected
    metrics = trainer.evaluate()
    assert metrics["eval_truncated"] == sum(trainer.eval_dataset["truncated"]) > 0


def test_num_labels_other_than_one_is_refused(tmp_path, make_config, text_pairs, minilm_path, minilm_tokenizer):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=2)
    with pytest.raises(ValueError, match="num_labels=2.*require `num_labels=1`"):
        RewardTrainer(
            model=model, args=make_config(tmp_path / "out"), tokenizer=minilm_tokenizer, train_dataset=text_pairs
        )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("columns", "match"),
    [
        ({"chosen": ["a b"], "answer": ["c"]}, r"lacks column\(s\) \['rejected'\]"),
        ({"chosen": ["a", "b"], "rejected": ["c", "d"], "margin": ["1", "x"]}, r"row 0: column `margin`"),
        ({"chosen": [], "rejected": []}, "train is empty"),
    ],
    ids=["missing-column", "non-numeric-margin", "empty"],
)
def test_bad_datasets_fail_before_anything_is_written(tmp_path, make_gpt2, gpt2_tokenizer, make_config, columns, match):
    model = make_gpt2()
    before = snapshot(model)
    with pytest.raises(ValueError, match=match):
        RewardTrainer(
            model=model,
            args=make_config(tmp_path / "out"),
            tokenizer=gpt2_tokenizer,
            train_dataset=Dataset.from_dict(columns),
        )
    assert not (tmp_path / "out").exists()
    assert not changed(before, model)


def test_signature_follows_trl_positional_order():
    import inspect

    names = list(inspect.signature(RewardTrainer.__init__).parameters)[1:14]
    assert names == [
        "model", "args", "data_collator", "train_dataset", "eval_dataset", "tokenizer", "model_init",
        "compute_metrics", "callbacks", "optimizers", "preprocess_logits_for_metrics", "max_length", "peft_config",
    ]  # fmt: skip


def test_max_length_argument_overrides_the_config(tmp_path, make_llama, llama_tokenizer, text_pairs, make_config):
    trainer = RewardTrainer(
        make_llama(), make_config(tmp_path, max_length=64), None, text_pairs, tokenizer=llama_tokenizer, max_length=5
    )
    assert trainer.max_length == 5
    assert max(len(ids) for ids in trainer.train_dataset["input_ids_chosen"]) == 5
    assert len(trainer.train_dataset) == len(text_pairs)
