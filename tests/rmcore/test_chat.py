"""rmcore.chat: recognising, checking, rendering and hashing conversations."""

from __future__ import annotations

import hashlib
import json

import pytest
from transformers import AutoTokenizer

from rmcore.chat import (
    chat_template_hash,
    check_messages,
    is_conversational,
    load_chat_template,
    message_problem,
    render_conversation,
)
from rmcore.models import default_model_path

TEMPLATE = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
TOOLS_TEMPLATE = "{% if tools %}[tools:{{ tools | length }}]{% endif %}" + TEMPLATE
CHAT = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]


@pytest.fixture(scope="module")
def minilm():
    return AutoTokenizer.from_pretrained(default_model_path())


@pytest.fixture
def templated(minilm):
    tokenizer = AutoTokenizer.from_pretrained(default_model_path())
    tokenizer.chat_template = TOOLS_TEMPLATE
    return tokenizer


def test_is_conversational_messages_rows_and_text():
    assert is_conversational(CHAT)
    assert is_conversational({"chosen": CHAT, "rejected": CHAT})
    assert is_conversational({"prompt": CHAT[:1], "chosen": CHAT[1:], "rejected": CHAT[1:]})
    assert not is_conversational("Human: hi")
    assert not is_conversational({"chosen": "a", "rejected": "b"})
    assert not is_conversational([])


@pytest.mark.parametrize(
    ("messages", "says"),
    [
        ([], "empty"),
        ([{"content": "x"}], "no 'role'"),
        ([{"role": "user"}], "no 'content'"),
        ([{"role": "robot", "content": "x"}], "unknown role 'robot'"),
        ([{"role": "user", "content": 3}], "must be a string"),
        ("text", "must be a list"),
    ],
)
def test_message_problem_names_the_fault(messages, says):
    assert says in message_problem(messages)
    with pytest.raises(ValueError, match="train row 2, column `chosen`"):
        check_messages(messages, "train row 2, column `chosen`")


def test_message_problem_none_for_good_messages():
    assert message_problem(CHAT) is None


def test_render_without_template_is_hh_rlhf(minilm):
    assert render_conversation(minilm, CHAT) == "\n\nHuman: Hi\n\nAssistant: Hello"
    assert render_conversation(minilm, CHAT[:1], add_generation_prompt=True) == "\n\nHuman: Hi\n\nAssistant:"


def test_render_with_template_passes_tools_and_kwargs(templated):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    plain = render_conversation(templated, CHAT)
    assert plain == "<|user|>Hi\n<|assistant|>Hello\n"
    assert render_conversation(templated, CHAT, tools=tools) == "[tools:1]" + plain
    assert render_conversation(templated, CHAT, tools=json.dumps(tools)) == "[tools:1]" + plain
    kw = "{{ greeting }}" + TEMPLATE
    templated.chat_template = kw
    assert render_conversation(templated, CHAT, chat_template_kwargs={"greeting": "yo"}).startswith("yo<|user|>")


def test_chat_template_hash(minilm, templated):
    assert chat_template_hash(minilm) is None
    assert chat_template_hash(templated) == hashlib.sha256(TOOLS_TEMPLATE.encode()).hexdigest()


def test_load_chat_template_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="chat_template_path="):
        load_chat_template(tmp_path / "nope.jinja")
    (tmp_path / "t.jinja").write_text(TEMPLATE)
    assert load_chat_template(tmp_path / "t.jinja") == TEMPLATE
