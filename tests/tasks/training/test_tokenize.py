"""tasks/training/tokenize.py: the core's truncation rule, and a disk cache keyed by data, tokenizer and max_length."""

from __future__ import annotations

import pandas as pd
import pytest
from transformers import AutoTokenizer

from rmcore import RewardConfig
from rmcore.data import tokenization
from rmcore.data.chat import encode_messages
from rmcore.models.loading import default_model_path
from tasks.data.store import pair_id
from tasks.training.tokenize import tokenize, tokenize_pairs_cached


@pytest.fixture(scope="module")
def tokenizer_path() -> str:
    return default_model_path()


@pytest.fixture
def pairs() -> pd.DataFrame:
    chosen = ["Human: hi Assistant: hello there friend", "Human: a long question " * 20 + "Assistant: yes"]
    rejected = ["Human: hi Assistant: go away", "Human: a long question " * 20 + "Assistant: no"]
    return pd.DataFrame(
        {
            "chosen": chosen,
            "rejected": rejected,
            "margin": [0.5, 1.0],
            "pair_id": [pair_id(c, r) for c, r in zip(chosen, rejected, strict=True)],
        }
    )


@pytest.fixture
def count_calls(monkeypatch):
    """Count calls of the core's tokenize function (the cache must not call it again)."""
    calls = []
    real = tokenization.tokenize_pairs

    def counting(batch, tokenizer, max_length):
        calls.append(len(batch["chosen"]))
        return real(batch, tokenizer, max_length)

    monkeypatch.setattr(tokenization, "tokenize_pairs", counting)
    return calls


def test_tokens_follow_the_core_rule(pairs, tokenizer_path, tmp_path):
    dataset = tokenize_pairs_cached(pairs, tokenizer_path, 32, tmp_path / "cache" / "tokenized")
    expected = tokenization.tokenize_pairs(
        {"chosen": list(pairs.chosen), "rejected": list(pairs.rejected)},
        AutoTokenizer.from_pretrained(tokenizer_path),
        32,
    )
    for column in (*tokenization.TOKEN_COLUMNS, "truncated"):
        assert dataset[column] == expected[column]
    assert dataset["truncated"] == [False, True]
    assert dataset["margin"] == [0.5, 1.0] and dataset["pair_id"] == list(pairs.pair_id)


def test_second_call_is_served_from_the_cache(pairs, tokenizer_path, tmp_path, count_calls):
    first = tokenize_pairs_cached(pairs, tokenizer_path, 32, tmp_path)
    assert count_calls == [2]
    second = tokenize_pairs_cached(pairs, tokenizer_path, 32, tmp_path)
    assert count_calls == [2]
    assert second["input_ids_chosen"] == first["input_ids_chosen"]
    assert [p.name.startswith("tokens-") for p in tmp_path.iterdir()] == [True]


def test_new_max_length_margin_or_rows_tokenize_again(pairs, tokenizer_path, tmp_path, count_calls):
    tokenize_pairs_cached(pairs, tokenizer_path, 32, tmp_path)
    tokenize_pairs_cached(pairs, tokenizer_path, 64, tmp_path)
    tokenize_pairs_cached(pairs.assign(margin=[0.5, 2.0]), tokenizer_path, 32, tmp_path)
    tokenize_pairs_cached(pairs.iloc[:1], tokenizer_path, 32, tmp_path)
    assert count_calls == [2, 2, 2, 1]
    assert len(list(tmp_path.iterdir())) == 4


def test_frames_without_pair_id_and_with_prompt(tokenizer_path, tmp_path):
    df = pd.DataFrame({"prompt": ["Q: "], "chosen": ["good"], "rejected": ["bad"]})
    dataset = tokenize_pairs_cached(df, tokenizer_path, 32, tmp_path)
    assert dataset["pair_id"] == [pair_id("good", "bad", "Q: ")]
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    assert dataset["input_ids_chosen"][0] == tokenizer("Q: good")["input_ids"]


def test_tokenize_task_fn_with_two_processes(pairs, tokenizer_path, tmp_path):
    dataset = tokenize.fn(pd.concat([pairs] * 4, ignore_index=True), tokenizer_path, 32, tmp_path, num_proc=2)
    assert len(dataset) == 8 and dataset["truncated"] == [False, True] * 4


@pytest.fixture
def conversations() -> pd.DataFrame:
    """Conversational pairs as the store keeps them: message lists as JSON text."""
    prompt = [{"role": "user", "content": "hi"}]
    chosen, rejected = [{"role": "assistant", "content": "hello"}], [{"role": "assistant", "content": "go away"}]
    return pd.DataFrame(
        {
            "prompt": [encode_messages(prompt)],
            "chosen": [encode_messages(chosen)],
            "rejected": [encode_messages(rejected)],
        }
    )


def template_config(folder, template: str) -> RewardConfig:
    """A RewardConfig whose chat_template_path is `folder/template.jinja`, (re)written with `template`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "template.jinja").write_text(template)
    return RewardConfig(
        output_dir=str(folder / "out"), report_to="none", chat_template_path=str(folder / "template.jinja")
    )


def test_chat_template_path_renders_the_conversations(conversations, tokenizer_path, tmp_path):
    template = "{% for m in messages %}[{{ m.role }}] {{ m.content }} {% endfor %}"
    config = template_config(tmp_path, template)
    dataset = tokenize_pairs_cached(conversations, tokenizer_path, 32, tmp_path / "cache", config=config)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    rendered = "[user] hi [assistant] hello "
    assert dataset["input_ids_chosen"][0] == tokenizer(rendered, add_special_tokens=False)["input_ids"]
    plain = tokenize_pairs_cached(conversations, tokenizer_path, 32, tmp_path / "cache")  # hh-rlhf text
    assert plain["input_ids_chosen"][0] != dataset["input_ids_chosen"][0]


def test_a_changed_chat_template_tokenizes_again(conversations, tokenizer_path, tmp_path, count_calls):
    cache = tmp_path / "cache"
    config = template_config(tmp_path, "{% for m in messages %}{{ m.content }} {% endfor %}")
    tokenize_pairs_cached(conversations, tokenizer_path, 32, cache, config=config)
    tokenize_pairs_cached(conversations, tokenizer_path, 32, cache, config=config)
    assert count_calls == [1]
    template_config(tmp_path, "{% for m in messages %}{{ m.role }}: {{ m.content }} {% endfor %}")  # edited
    tokenize_pairs_cached(conversations, tokenizer_path, 32, cache, config=config)
    assert count_calls == [1, 1] and len(list(cache.iterdir())) == 2
