"""rmcore.data.chat: recognising, checking, rendering and hashing conversations."""

from __future__ import annotations

import hashlib
import json

import pytest
from transformers import AutoTokenizer

from rmcore.data.chat import (
    chat_template_hash,
    check_messages,
    decode_template_kwargs,
    decode_tools,
    is_conversational,
    load_chat_template,
    message_issue,
    message_problem,
    render_conversation,
)
from rmcore.models.loading import default_model_path

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


TIMER_CALL = {"type": "function", "function": {"name": "start_timer", "arguments": {"duration": 600}}}
TOOL_CHAT = [
    {"role": "user", "content": "Set a timer for 10 minutes."},
    {"role": "assistant", "content": None, "tool_calls": [TIMER_CALL]},
    {"role": "tool", "name": "start_timer", "content": "600"},
    {"role": "assistant", "content": "Timer set."},
]
TIMER_TOOL = {"type": "function", "function": {"name": "start_timer", "parameters": {"type": "object"}}}


def test_tool_calls_are_well_formed_messages():
    assert message_issue(TOOL_CHAT) is None
    no_content_key = [TOOL_CHAT[0], {k: v for k, v in TOOL_CHAT[1].items() if k != "content"}, *TOOL_CHAT[2:]]
    assert message_issue(no_content_key) is None
    as_text = json.loads(json.dumps(TOOL_CHAT))
    as_text[1]["tool_calls"][0]["function"]["arguments"] = '{"duration": 600}'
    assert message_issue(as_text) is None


@pytest.mark.parametrize(
    ("message", "rule"),
    [
        ({"role": "tool", "name": "start_timer"}, "tool_content"),
        ({"role": "assistant", "tool_calls": [{"function": {"arguments": {}}}]}, "tool_call_name"),
        ({"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "[1]"}}]}, "tool_call_arguments"),
        ({"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": 7}}]}, "tool_call_arguments"),
        ({"role": "assistant", "tool_calls": "start_timer()"}, "message_list"),
        ({"role": "user", "tool_calls": [{"function": {"name": "f", "arguments": {}}}]}, "message_list"),
        ({"role": "assistant", "content": None}, "message_list"),
    ],
)  # fmt: skip
def test_tool_faults_are_named_by_rule(message, rule):
    assert message_issue([TOOL_CHAT[0], message]).rule == rule


def test_render_tool_calls_without_template_in_the_documented_plain_form(minilm):
    text = render_conversation(minilm, TOOL_CHAT, tools=json.dumps([TIMER_TOOL]))
    assert text == (
        f"\n\nTools: {json.dumps([TIMER_TOOL])}"
        "\n\nHuman: Set a timer for 10 minutes."
        '\n\nAssistant: <tool_call>{"name": "start_timer", "arguments": {"duration": 600}}</tool_call>'
        "\n\nTool (start_timer): 600"
        "\n\nAssistant: Timer set."
    )
    as_text = json.loads(json.dumps(TOOL_CHAT))
    as_text[1]["tool_calls"][0]["function"]["arguments"] = '{"duration": 600}'
    assert render_conversation(minilm, as_text, tools=[TIMER_TOOL]) == text


def test_render_tool_calls_with_template_as_apply_chat_template(templated):
    templated.chat_template = (
        "{% for m in messages %}<|{{ m.role }}|>{{ m.content or '' }}"
        "{% for c in m.tool_calls or [] %}[{{ c.function.name }}]{% endfor %}\n{% endfor %}"
    )
    expected = templated.apply_chat_template(TOOL_CHAT, tools=[TIMER_TOOL], tokenize=False)
    assert render_conversation(templated, TOOL_CHAT, tools=json.dumps([TIMER_TOOL])) == expected
    assert "<|assistant|>[start_timer]" in expected


def test_bad_tools_and_kwargs_are_refused_by_name():
    with pytest.raises(ValueError, match="`tools` is not JSON text"):
        decode_tools("{nope")
    with pytest.raises(ValueError, match="list of function schemas"):
        decode_tools({"name": "f"})
    assert decode_tools("") is None and decode_tools(None) is None
    with pytest.raises(ValueError, match="`chat_template_kwargs` must be an object"):
        decode_template_kwargs("[1]")
    assert decode_template_kwargs('{"enable_thinking": false}') == {"enable_thinking": False}
