"""Conversational pairs: recognise message lists, check them, and render them to text.

A conversational row holds `chosen`/`rejected` (and optionally `prompt`) as lists of messages, TRL's
main preference format: `{"role", "content"}`, assistant turns that call tools (`tool_calls`, with no
or null `content`) and `tool` turns holding a result (`content`, with `name`/`tool_call_id`). A row
may carry `tools` (a list of function schemas, or its JSON text) and `chat_template_kwargs`.

The tokenizer's chat template renders them exactly as TRL does. A tokenizer without one (MiniLM, any
BERT) gets hh-rlhf's own `\\n\\nHuman: ... \\n\\nAssistant: ...` form, so conversational data works
with the default model and scores the same as the hh-rlhf text it usually comes from; tool calls,
tool results and the tools list get the plain-text form `render_hh` documents.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rmcore.data.safety import is_missing_local_path

logger = logging.getLogger(__name__)

ROLES = ("system", "user", "assistant", "tool")
# hh-rlhf speaker names; system and tool turns have no hh-rlhf name, so they keep a plain one.
HH_SPEAKERS = {"system": "System", "user": "Human", "assistant": "Assistant", "tool": "Tool"}
CONVERSATION_KEYS = ("prompt", "chosen", "rejected", "completion", "messages")
# Per-row columns that say how a row's conversation is rendered (`apply_chat_template` arguments).
RENDER_KEYS = ("tools", "chat_template_kwargs")
_logged_fallback: set[str] = set()


def is_conversational(value: Any) -> bool:
    """True for a message list, or a row (mapping) whose prompt/chosen/rejected is one, as TRL decides it.

    Like TRL's `is_conversational`, only the first message is looked at: `message_problem` checks the rest.
    """
    if isinstance(value, Mapping) and not {"role", "content"} & set(value):
        return any(is_conversational(value[k]) for k in CONVERSATION_KEYS if k in value)
    return isinstance(value, list) and bool(value) and isinstance(value[0], Mapping) and "role" in value[0]


def encode_messages(value: Any) -> Any:
    """A message list as canonical JSON text (how the store keeps it in a string column); text unchanged."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list) else value


def _plain(value: Any) -> Any:
    """Nested arrays (how pandas hands back Parquet lists) as lists, all the way down."""
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        value = value.tolist()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def decode_messages(value: Any) -> Any:
    """The message list a JSON string holds (as stored in Parquet or CSV), or an array of messages as a list
    (as pandas reads Parquet); anything else unchanged."""
    if isinstance(value, str) and value.startswith("[") and '"role"' in value:
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        if is_conversational(decoded):
            return decoded
    if isinstance(value, list) or (hasattr(value, "tolist") and not isinstance(value, str | bytes)):
        return _plain(value)
    return value


# Named faults of a message list, as the data rules (tasks/data/schema.py) quarantine them.
MESSAGE_RULES = {
    "message_list": "is not a well-formed message list",
    "tool_content": "has a tool message without string content",
    "tool_call_name": "has a tool call without a function name",
    "tool_call_arguments": "has tool call arguments that are neither an object nor JSON text of one",
}


@dataclass(frozen=True)
class MessageIssue:
    """What is wrong with a message list: the rule it breaks (a key of `MESSAGE_RULES`) and the fault in words."""

    rule: str
    text: str


def _arguments_ok(arguments: Any) -> bool:
    """Tool call arguments are an object, or JSON text of one (the OpenAI API sends them as text)."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return False
    return isinstance(arguments, Mapping)


def _tool_calls_issue(i: int, calls: Any) -> MessageIssue | None:
    """A fault in message i's `tool_calls`: each entry is `{"type": "function", "function": {name, arguments}}`
    (or the bare `{name, arguments}` some datasets use)."""
    if not isinstance(calls, list) or not all(isinstance(c, Mapping) for c in calls):
        return MessageIssue("message_list", f"message {i} `tool_calls` must be a list of {{'function': ...}} objects")
    for j, call in enumerate(calls):
        function = call.get("function", call)
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(name, str) or not name.strip():
            return MessageIssue("tool_call_name", f"message {i} tool call {j} has no function name")
        if not _arguments_ok(function.get("arguments")):
            got = repr(function.get("arguments"))[:60]
            return MessageIssue(
                "tool_call_arguments", f"message {i} tool call {j} ({name}) arguments {got} are not an object"
            )
    return None


def _message_issue(i: int, message: Any) -> MessageIssue | None:
    if not isinstance(message, Mapping):
        return MessageIssue(
            "message_list", f"message {i} is a {type(message).__name__}, not a {{'role', 'content'}} mapping"
        )
    role, content, calls = message.get("role"), message.get("content"), message.get("tool_calls")
    if role is None:
        return MessageIssue("message_list", f"message {i} has no 'role'")
    if role not in ROLES:
        return MessageIssue("message_list", f"message {i} has unknown role {role!r} (roles: {', '.join(ROLES)})")
    if role == "tool" and not isinstance(content, str):
        return MessageIssue("tool_content", f"message {i} (a tool result) has no string 'content'")
    if calls is not None:
        if role != "assistant":
            return MessageIssue(
                "message_list", f"message {i} has `tool_calls` but role {role!r}: only assistant turns call tools"
            )
        issue = _tool_calls_issue(i, calls)
        if issue is not None:
            return issue
    if content is None and not calls:
        return MessageIssue("message_list", f"message {i} has no 'content'")
    if content is not None and not isinstance(content, str):
        return MessageIssue("message_list", f"message {i} content must be a string, got {type(content).__name__}")
    return None


def message_issue(messages: Any) -> MessageIssue | None:
    """The first fault of a message list, with the rule it breaks, or None when it is well formed.

    Every message needs a known role and string content, except an assistant turn with `tool_calls`,
    whose content may be absent or null (TRL's toolcall data). Keys set to null are absent: Arrow and
    Parquet fill the keys one message lacks with null when another message has them.
    """
    if not isinstance(messages, list):
        return MessageIssue("message_list", f"must be a list of messages, got {type(messages).__name__}")
    if not messages:
        return MessageIssue("message_list", "is an empty message list")
    for i, message in enumerate(messages):
        issue = _message_issue(i, message)
        if issue is not None:
            return issue
    return None


def message_problem(messages: Any) -> str | None:
    """What is wrong with a message list, in words, or None when it is well formed."""
    issue = message_issue(messages)
    return None if issue is None else issue.text


def decode_tools(value: Any) -> list | None:
    """A row's `tools`: a list of function schemas, its JSON text (TRL's recommended form), or none ("" / None).

    Raises:
        ValueError: the value is neither.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as err:
            raise ValueError(f"`tools` is not JSON text: {err}") from None
    value = _plain(value)  # pandas hands Parquet lists back as arrays
    if not isinstance(value, list) or not all(isinstance(t, Mapping) for t in value):
        raise ValueError(f"`tools` must be a list of function schemas or its JSON text, got {type(value).__name__}")
    return value or None


def decode_template_kwargs(value: Any) -> dict[str, Any]:
    """A row's `chat_template_kwargs`: an object, its JSON text, or none ("" / None) for no extra arguments.

    Raises:
        ValueError: the value is neither.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as err:
            raise ValueError(f"`chat_template_kwargs` is not JSON text: {err}") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"`chat_template_kwargs` must be an object or its JSON text, got {type(value).__name__}")
    return dict(value)


def check_messages(messages: Any, where: str) -> None:
    """Raise a ValueError naming `where` (e.g. "train row 3, column `chosen`") for a malformed message list."""
    problem = message_problem(messages)
    if problem is not None:
        raise ValueError(f"{where} {problem}")


def chat_template_in_effect(tokenizer: Any) -> str | None:
    """The template string the tokenizer renders with (the default one of a named set), or None."""
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, Mapping):
        template = template.get("default") or next(iter(template.values()), None)
    return template or None


def chat_template_hash(tokenizer: Any) -> str | None:
    """sha256 hex of the chat template in effect, None when the tokenizer has none.

    Recorded with a model so that a server renders conversations the way the model was trained on.
    """
    template = chat_template_in_effect(tokenizer)
    return hashlib.sha256(template.encode("utf-8")).hexdigest() if template else None


def load_chat_template(path: str | Path) -> str:
    """Read a Jinja chat template file (`chat_template_path`), or fail naming the path."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"chat_template_path={str(path)!r}: no such file")
    return file.read_text(encoding="utf-8")


def _tool_call_text(call: Mapping[str, Any]) -> str:
    """One tool call as `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (arguments given as JSON text
    are parsed, so both forms read the same)."""
    function = call.get("function", call)
    arguments = function.get("arguments")
    arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
    body = json.dumps({"name": function["name"], "arguments": arguments}, ensure_ascii=False)
    return f"<tool_call>{body}</tool_call>"


def _hh_turn(message: Mapping[str, Any]) -> str:
    role = message["role"]
    speaker = HH_SPEAKERS.get(role, role.title())
    if role == "tool" and message.get("name"):
        speaker = f"{speaker} ({message['name']})"
    parts = [message["content"]] if message.get("content") else []
    parts += [_tool_call_text(call) for call in message.get("tool_calls") or []]
    return f"\n\n{speaker}: {' '.join(parts)}"


def render_hh(
    messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = False, tools: list | None = None
) -> str:
    """hh-rlhf's own text form: each turn as `\\n\\nHuman: ...` / `\\n\\nAssistant: ...`.

    Tool use has no hh-rlhf form, so it gets a plain one: the tools list first as `\\n\\nTools: [<JSON>]`,
    each tool call after the assistant's text as `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`,
    each tool result as `\\n\\nTool (<name>): <content>`.
    """
    head = f"\n\nTools: {json.dumps(tools, ensure_ascii=False)}" if tools else ""
    text = head + "".join(_hh_turn(m) for m in messages)
    return text + "\n\nAssistant:" if add_generation_prompt else text


def render_conversation(
    tokenizer: Any,
    messages: Sequence[Mapping[str, Any]],
    *,
    tools: Any = None,
    chat_template_kwargs: Any = None,
    add_generation_prompt: bool = False,
) -> str:
    """Render messages with the tokenizer's chat template, as TRL does; hh-rlhf text when it has none.

    `tools` may be a list or its JSON text, `chat_template_kwargs` an object or its JSON text (as stores and
    CSV files keep them); both reach `apply_chat_template` as TRL passes them. The rendered text carries the
    template's own special tokens, so it is tokenized without adding more. Without a template,
    `chat_template_kwargs` have nothing to act on and are ignored.
    """
    tools = decode_tools(tools)
    if chat_template_in_effect(tokenizer) is None:
        name = type(tokenizer).__name__
        if name not in _logged_fallback:
            _logged_fallback.add(name)
            logger.warning("%s has no chat template: rendering messages in hh-rlhf's Human/Assistant form", name)
        return render_hh(messages, add_generation_prompt, tools)
    return tokenizer.apply_chat_template(
        list(messages),
        tools=tools,
        tokenize=False,
        add_generation_prompt=add_generation_prompt,
        **decode_template_kwargs(chat_template_kwargs),
    )


def resolve_chat_template(path: str | Path) -> str:
    """The template `chat_template_path` names: a Jinja file, or the template of a tokenizer folder/hub id."""
    name = str(path)
    if name.endswith((".jinja", ".j2")) or Path(name).is_file():
        return load_chat_template(name)
    from transformers import AutoTokenizer  # a folder or hub id: only its template is taken

    if is_missing_local_path(name):
        raise FileNotFoundError(f"chat_template_path={name!r}: no such file or folder")

    template = chat_template_in_effect(AutoTokenizer.from_pretrained(name))
    if template is None:
        raise ValueError(f"chat_template_path={name!r}: that tokenizer has no chat template")
    return template
