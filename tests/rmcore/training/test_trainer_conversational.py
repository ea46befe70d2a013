"""RewardTrainer on conversational pairs, raw eval data and bad input: clear errors before any work."""

from __future__ import annotations

import pytest
from datasets import Dataset

from rmcore import RewardTrainer
from rmcore.data.chat import chat_template_hash

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
USER = [{"role": "user", "content": "hello how are you"}]
REPLIES = [("i am fine thanks", "no"), ("good", "bad"), ("yes please", "no no"), ("sure here it is", "sorry")]


def conversations(explicit_prompt: bool = True) -> Dataset:
    rows = []
    for good, bad in REPLIES:
        chosen, rejected = [{"role": "assistant", "content": good}], [{"role": "assistant", "content": bad}]
        if explicit_prompt:
            rows.append({"prompt": USER, "chosen": chosen, "rejected": rejected})
        else:
            rows.append({"chosen": USER + chosen, "rejected": USER + rejected})
    return Dataset.from_list(rows)


def test_minilm_without_template_reads_hh_rlhf_text(tmp_path, bert_with_minilm_vocab, minilm_tokenizer, make_config):
    assert chat_template_hash(minilm_tokenizer) is None
    trainer = RewardTrainer(
        model=bert_with_minilm_vocab,
        args=make_config(tmp_path, max_steps=2),
        processing_class=minilm_tokenizer,
        train_dataset=conversations(),
    )
    text = minilm_tokenizer.decode(trainer.train_dataset[0]["input_ids_chosen"], skip_special_tokens=True)
    assert text == "human : hello how are you assistant : i am fine thanks"
    assert trainer.train().metrics["train_truncated"] == 0


@pytest.mark.parametrize("explicit_prompt", [True, False])
def test_decoder_applies_the_chat_template_and_shares_the_prompt(
    tmp_path, make_llama, llama_tokenizer, make_config, explicit_prompt
):
    path = tmp_path / "chatml.jinja"
    path.write_text(CHATML)
    trainer = RewardTrainer(
        model=make_llama(),
        args=make_config(tmp_path, max_steps=2, chat_template_path=str(path), prefix_sharing="true"),
        processing_class=llama_tokenizer,
        train_dataset=conversations(explicit_prompt),
    )
    assert trainer.processing_class.chat_template == CHATML
    rejected = USER + [{"role": "assistant", "content": "no"}]
    expected = llama_tokenizer.apply_chat_template(rejected, tokenize=True, return_dict=True)["input_ids"]
    assert trainer.train_dataset[0]["input_ids_rejected"] == list(expected)
    assert trainer._share_prefix
    trainer.train()


def test_long_conversations_are_cut_from_the_left_and_counted(tmp_path, make_llama, llama_tokenizer, make_config):
    llama_tokenizer.chat_template = CHATML
    trainer = RewardTrainer(
        model=make_llama(), args=make_config(tmp_path, max_length=6), tokenizer=llama_tokenizer,
        train_dataset=conversations(),
    )  # fmt: skip
    assert trainer.truncated_counts["train"] == len(REPLIES)
    assert all(len(ids) <= 6 for ids in trainer.train_dataset["input_ids_chosen"])


def test_evaluate_prepares_raw_text_a_dict_and_streams(tmp_path, make_gpt2, gpt2_tokenizer, text_pairs, make_config):
    trainer = RewardTrainer(
        model=make_gpt2(), args=make_config(tmp_path), processing_class=gpt2_tokenizer, train_dataset=text_pairs
    )
    assert "eval_loss" in trainer.evaluate(eval_dataset=text_pairs)
    metrics = trainer.evaluate(eval_dataset={"a": text_pairs, "b": text_pairs.to_iterable_dataset()})
    assert "eval_a_accuracy" in metrics and "eval_b_loss" in metrics
    tokens = trainer.train_dataset.select_columns(["input_ids_chosen", "attention_mask_chosen"])
    tokens = tokens.add_column("input_ids_rejected", trainer.train_dataset["input_ids_rejected"])
    tokens = tokens.add_column("attention_mask_rejected", trainer.train_dataset["attention_mask_rejected"])
    assert trainer.predict(tokens).predictions.shape == (len(text_pairs), 2)  # the four token columns only


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        (
            [{"chosen": [{"role": "user", "content": "hi"}], "rejected": [{"content": "x"}]}],
            r"train row 0, column `rejected` message 0 has no 'role'",
        ),
        (
            [
                {"chosen": [{"role": "user", "content": "hi"}], "rejected": [{"role": "user", "content": "x"}]},
                {"chosen": [{"role": "user", "content": "hi"}], "rejected": [{"role": "user", "content": None}]},
            ],
            r"train row 1, column `rejected` message 0 has no 'content'",
        ),
        (
            [{"prompt": [{"role": "user", "content": "hi"}], "chosen": "text", "rejected": "text too"}],
            r"train row 0, column `chosen` holds text, but other rows hold message lists",
        ),
    ],
)
def test_bad_conversations_fail_naming_row_and_column(tmp_path, make_gpt2, gpt2_tokenizer, make_config, rows, says):
    with pytest.raises(ValueError, match=says):
        RewardTrainer(
            model=make_gpt2(), args=make_config(tmp_path / "out"), tokenizer=gpt2_tokenizer,
            train_dataset=Dataset.from_list(rows),
        )  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_bad_setup_is_refused_up_front(tmp_path, make_gpt2, gpt2_tokenizer, text_pairs, make_config):
    with pytest.raises(FileNotFoundError, match="chat_template_path="):
        RewardTrainer(
            model=make_gpt2(), args=make_config(tmp_path, chat_template_path=str(tmp_path / "no.jinja")),
            tokenizer=gpt2_tokenizer, train_dataset=text_pairs,
        )  # fmt: skip
    with pytest.raises(ValueError, match="--max_length 100 is above this model's position limit of 64"):
        RewardTrainer(
            model=make_gpt2(), args=make_config(tmp_path, max_length=100), tokenizer=gpt2_tokenizer,
            train_dataset=text_pairs,
        )  # fmt: skip
    with pytest.raises(ValueError, match="`train_dataset` is required"):
        RewardTrainer(model=make_gpt2(), args=make_config(tmp_path), tokenizer=gpt2_tokenizer)
    with pytest.warns(UserWarning, match="remove_unused_columns"):
        RewardTrainer(
            model=make_gpt2(), args=make_config(tmp_path, remove_unused_columns=True), tokenizer=gpt2_tokenizer,
            train_dataset=text_pairs,
        )  # fmt: skip
