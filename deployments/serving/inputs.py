"""Pure steps between a request and the model: the texts it asks to score, the limits, the response body."""

from __future__ import annotations

from typing import Any

from deployments.serving.schemas import ScoreRequest
from rmcore.chat import render_conversation
from rmcore.normalization import normalize


class TooLargeError(ValueError):
    """A request beyond --max-texts or --max-chars (HTTP 413); the message names the field and the limit."""


def request_texts(request: ScoreRequest, tokenizer: Any) -> tuple[str, list[str]]:
    """(field name, flat texts) of a /score request; pairs give prompt+chosen, prompt+rejected, pair after pair."""
    if request.texts is not None:
        return "texts", list(request.texts)
    if request.pairs is not None:
        return "pairs", [p.prompt + side for p in request.pairs for side in (p.chosen, p.rejected)]
    conversations = [[m.model_dump(exclude_none=True) for m in conversation] for conversation in request.messages or []]
    return "messages", [render_conversation(tokenizer, c, tools=request.tools) for c in conversations]


def check_limits(field: str, texts: list[str], max_texts: int, max_chars: int, items: int | None = None) -> None:
    """Raise TooLargeError naming the field when the request holds too many texts or one too long."""
    if len(texts) > max_texts:
        count = f"{len(texts)} texts" if items is None else f"{items} items ({len(texts)} texts)"
        raise TooLargeError(f"{field}: {count} in one request, the limit is {max_texts} texts (--max-texts)")
    for i, text in enumerate(texts):
        if len(text) > max_chars:
            index = i // 2 if field == "pairs" else i
            raise TooLargeError(
                f"{field}[{index}]: {len(text)} characters, the limit is {max_chars} per text (--max-chars)"
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
