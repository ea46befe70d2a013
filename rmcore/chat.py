"""Conversational pairs: recognise message lists, check them, and render them to text.

A conversational row holds `chosen`/`rejected` (and optionally `prompt`) as lists of
`{"role", "content"}` messages, TRL's main preference format. The tokenizer's chat template renders
them exactly as TRL does; a tokenizer without one (MiniLM, any BERT) gets hh-rlhf's own
`\\n\\nHuman: ... \\n\\nAssistant: ...` form, so conversational data works with the default model and
scores the same as the hh-rlhf text it usually comes from.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

ROLES = ("system", "user", "assistant", "tool")
# hh-rlhf speaker names; system and tool turns have no hh-rlhf name, so they keep a plain one.
HH_SPEAKERS = {"system": "System", "user": "Human", "assistant": "Assistant", "tool": "Tool"}
CONVERSATION_KEYS = ("prompt", "chosen", "rejected", "completion", "messages")
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


def decode_messages(value: Any) -> Any:
    """The message list a JSON string holds (as stored in Parquet or CSV); anything else unchanged."""
    if isinstance(value, str) and value.startswith("[") and '"role"' in value:
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        if is_conversational(decoded):
            return decoded
    return value


def message_problem(messages: Any) -> str | None:
    """What is wrong with a message list, in words, or None when it is well formed."""
    if not isinstance(messages, list):
        return f"must be a list of messages, got {type(messages).__name__}"
    if not messages:
        return "is an empty message list"
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            return f"message {i} is a {type(message).__name__}, not a {{'role', 'content'}} mapping"
        for key in ("role", "content"):
            if message.get(key) is None:
                return f"message {i} has no {key!r}"
        if message["role"] not in ROLES:
            return f"message {i} has unknown role {message['role']!r} (roles: {', '.join(ROLES)})"
        if not isinstance(message["content"], str):
            return f"message {i} content must be a string, got {type(message['content']).__name__}"
    return None


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


def render_hh(messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = False) -> str:
    """hh-rlhf's own text form: each turn as `\\n\\nHuman: ...` / `\\n\\nAssistant: ...`."""
    text = "".join(f"\n\n{HH_SPEAKERS.get(m['role'], m['role'].title())}: {m['content']}" for m in messages)
    return text + "\n\nAssistant:" if add_generation_prompt else text


def render_conversation(
    tokenizer: Any,
    messages: Sequence[Mapping[str, Any]],
    *,
    tools: list | str | None = None,
    chat_template_kwargs: Mapping[str, Any] | None = None,
    add_generation_prompt: bool = False,
) -> str:
    """Render messages with the tokenizer's chat template, as TRL does; hh-rlhf text when it has none.

    `tools` may be a JSON string (as datasets often store it). The rendered text carries the template's
    own special tokens, so it is tokenized without adding more.
    """
    tools = json.loads(tools) if isinstance(tools, str) else tools
    if chat_template_in_effect(tokenizer) is None:
        name = type(tokenizer).__name__
        if name not in _logged_fallback:
            _logged_fallback.add(name)
            logger.warning("%s has no chat template: rendering messages in hh-rlhf's Human/Assistant form", name)
        return render_hh(messages, add_generation_prompt)
    return tokenizer.apply_chat_template(
        list(messages),
        tools=tools,
        tokenize=False,
        add_generation_prompt=add_generation_prompt,
        **dict(chat_template_kwargs or {}),
    )


def resolve_chat_template(path: str | Path) -> str:
    """The template `chat_template_path` names: a Jinja file, or the template of a tokenizer folder/hub id."""
    name = str(path)
    if name.endswith((".jinja", ".j2")) or Path(name).is_file():
        return load_chat_template(name)
    from transformers import AutoTokenizer  # a folder or hub id: only its template is taken

    from rmcore.models import is_missing_local_path

    if is_missing_local_path(name):
        raise FileNotFoundError(f"chat_template_path={name!r}: no such file or folder")

    template = chat_template_in_effect(AutoTokenizer.from_pretrained(name))
    if template is None:
        raise ValueError(f"chat_template_path={name!r}: that tokenizer has no chat template")
    return template
