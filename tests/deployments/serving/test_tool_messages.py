"""The reward server takes conversations with tool calls, rendered as training renders them."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError

from deployments.serving.inputs import request_texts
from deployments.serving.schemas import ScoreRequest
from rmcore.data.chat import render_conversation
from tests.compat.hub import QWEN_TOKENS, build_dataset, word_tokenizer


def test_toolcall_conversations_render_as_in_training():
    tokenizer = word_tokenizer(**QWEN_TOKENS)
    row = build_dataset("trl-internal-testing/toolcall@json", "preference")["train"][0]
    conversation = row["prompt"] + row["chosen"]
    request = ScoreRequest(messages=[conversation], tools=json.dumps(row["tools"]))
    expected = render_conversation(tokenizer, conversation, tools=row["tools"])
    texts = request_texts(request, tokenizer)
    assert (texts.field, texts.texts, texts.templated) == ("messages", [expected], True)
    assert "<tool_call>" in expected and "<tool_response>" in expected


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"messages": [[{"role": "tool", "name": "f"}]]}, "messages[0]: message 0 (a tool result) has no string"),
        ({"messages": [[{"role": "assistant", "tool_calls": [{"function": {}}]}]]}, "no function name"),
        ({"messages": [[{"role": "user", "content": "hi"}]], "tools": "{nope"}, "`tools` is not JSON text"),
    ],
)
def test_malformed_tool_use_is_refused_naming_the_field(body, says):
    with pytest.raises(ValidationError, match=re.escape(says)):
        ScoreRequest.model_validate(body)
