"""Pure steps between a request and the model: the texts it asks to score, the limits, the response body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deployments.serving.schemas import ClassifyRequest, ScoreRequest
from rmcore.data.chat import chat_template_in_effect, render_conversation
from rmcore.models.normalization import normalize


class TooLargeError(ValueError):
    """A request beyond --max_texts, --max_chars or --max_tokens (HTTP 413); the message names the field and limit."""


@dataclass(frozen=True)
class RequestTexts:
    """The texts a request asks to score, the field they came from, and how to tokenize them.

    Attributes:
        field: the request field named in errors (`query`, `texts`, `pairs`, `messages`, `input`).
        texts: flat texts, one reward each (a pair gives two, chosen then rejected).
        templated: rendered by a chat template, which writes its own special tokens (none are added).
        items: pairs in the request, when texts come two per item; None otherwise.
    """

    field: str
    texts: list[str]
    templated: bool = False
    items: int | None = None


def rendered(field: str, conversations: list[list[dict[str, Any]]], tokenizer: Any, tools: Any = None) -> RequestTexts:
    """Conversations rendered with the model's chat template (and the request's tools), as training rendered them."""
    texts = [render_conversation(tokenizer, conversation, tools=tools) for conversation in conversations]
    return RequestTexts(field, texts, templated=chat_template_in_effect(tokenizer) is not None)


def request_texts(request: ScoreRequest, tokenizer: Any) -> RequestTexts:
    """The texts of a /score request; pairs give prompt+chosen, prompt+rejected, pair after pair."""
    if request.texts is not None:
        return RequestTexts("texts", list(request.texts))
    if request.pairs is not None:
        texts = [p.prompt + side for p in request.pairs for side in (p.chosen, p.rejected)]
        return RequestTexts("pairs", texts, items=len(request.pairs))
    conversations = [[m.model_dump(exclude_none=True) for m in conversation] for conversation in request.messages or []]
    return rendered("messages", conversations, tokenizer, tools=request.tools)


def classify_texts(request: ClassifyRequest, tokenizer: Any) -> RequestTexts:
    """The texts of a vLLM /classify request: `input` (one text or a list), or one `messages` conversation."""
    if request.messages is not None:
        return rendered("messages", [[m.model_dump(exclude_none=True) for m in request.messages]], tokenizer)
    return RequestTexts("input", [request.input] if isinstance(request.input, str) else list(request.input))


def check_tokens(field: str, ids: list[list[int]], max_tokens: int, max_length: int) -> int:
    """The request's tokens after truncation; TooLargeError naming the field when over `max_tokens`."""
    total = sum(len(x) for x in ids)
    if total > max_tokens:
        raise TooLargeError(
            f"{field}: {total} tokens after truncation to {max_length} per text, the limit is {max_tokens} tokens "
            "per request (--max_tokens); send fewer texts per request"
        )
    return total


def check_limits(field: str, texts: list[str], max_texts: int, max_chars: int, items: int | None = None) -> None:
    """Raise TooLargeError naming the field when the request holds too many texts or one too long."""
    if len(texts) > max_texts:
        count = f"{len(texts)} texts" if items is None else f"{items} items ({len(texts)} texts)"
        raise TooLargeError(f"{field}: {count} in one request, the limit is {max_texts} texts (--max_texts)")
    for i, text in enumerate(texts):
        if len(text) > max_chars:
            index = i // 2 if field == "pairs" else i
            raise TooLargeError(
                f"{field}[{index}]: {len(text)} characters, the limit is {max_chars} per text (--max_chars)"
            )


def pair_rewards(rewards: list[float]) -> list[dict[str, float]]:
    """[c0, r0, c1, r1, ...] -> [{chosen, rejected, margin}, ...]."""
    return [{"chosen": c, "rejected": r, "margin": c - r} for c, r in zip(rewards[0::2], rewards[1::2], strict=True)]


def score_body(
    field: str, raw: list[float], stats: dict | None, normalized: bool, version: str, truncated: int | None
) -> dict[str, Any]:
    """The /score response: `rewards` (normalised unless asked not to), `raw`, the version and the stats used."""
    scaled = normalize(raw, stats) if normalized else list(raw)
    shape = pair_rewards if field == "pairs" else list
    return {
        "rewards": shape(scaled),
        "raw": shape(list(raw)),
        "normalized": bool(normalized and stats),
        "reward_stats": stats,
        "model_version": version,
        "truncated": truncated,
        "count": len(raw) // 2 if field == "pairs" else len(raw),
    }
