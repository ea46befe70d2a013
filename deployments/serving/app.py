"""The reward server's HTTP face (FastAPI): /get_reward (OpenRLHF), /classify (vLLM), /score, /health, /info.

Handlers only validate, tokenize (off the event loop), check limits and shape responses; scoring goes
through the `Batcher`, and the model through the `ModelSlot`, so every response names the version
that actually scored it.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from deployments.serving.batcher import Batcher, ModelNotReadyError
from deployments.serving.config import ServeConfig
from deployments.serving.inputs import (
    RequestTexts,
    TooLargeError,
    check_limits,
    check_tokens,
    classify_texts,
    request_texts,
    score_body,
)
from deployments.serving.model_slot import LoadedModel, ModelSlot
from deployments.serving.schemas import ClassifyRequest, GetRewardRequest, ScoreRequest
from rmcore.data.tokenization import tokenize_texts
from rmcore.models.normalization import normalize

Hook = Callable[[], Awaitable[None] | None]


def field_name(loc: tuple | list) -> str:
    """pydantic's error location as the field a person wrote: ('body', 'pairs', 0, 'chosen') -> pairs[0].chosen."""
    parts = [p for p in loc if p != "body"] or ["body"]
    name = str(parts[0])
    for part in parts[1:]:
        name += f"[{part}]" if isinstance(part, int) else f".{part}"
    return name


def json_content_type(value: str | None) -> bool:
    """Whether a Content-Type header lets the body be read as JSON (absent counts: it is read as JSON)."""
    media = (value or "application/json").split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def validation_message(errors: list[dict[str, Any]]) -> str:
    """One line naming each bad field: `query: List should have at least 1 item after validation, not 0`."""
    return "; ".join(_one_error(e) for e in errors[:5])


def _one_error(error: dict[str, Any]) -> str:
    loc = error.get("loc", ())
    if error.get("type") == "json_invalid":  # loc is ('body', character offset)
        return f"body: not valid JSON ({error.get('msg', '')} at character {loc[-1] if loc else '?'})"
    return f"{field_name(loc)}: {error.get('msg', 'invalid')}"


def bearer_guard(token: str | None):
    """A dependency refusing requests without `Authorization: Bearer <token>` (constant-time compare)."""
    scheme = HTTPBearer(auto_error=False)

    async def guard(credentials: HTTPAuthorizationCredentials | None = Depends(scheme)) -> None:
        if token is None:
            return
        given = credentials.credentials if credentials else ""
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise _Unauthorized()

    return guard


class _Unauthorized(Exception):
    pass


def create_app(
    config: ServeConfig, slot: ModelSlot, batcher: Batcher, on_start: Hook | None = None, on_stop: Hook | None = None
) -> FastAPI:
    """The FastAPI app; `on_start`/`on_stop` start and stop what feeds the slot (follower, first load)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        if on_start is not None:
            on_start()
        try:
            yield
        finally:
            if on_stop is not None:
                on_stop()
            await batcher.stop()

    guard = Depends(bearer_guard(config.token))
    # strict_content_type=False: a body sent without a Content-Type header is read as JSON (FastAPI's own
    # switch). Any other non-JSON type is refused with the header to send (see `add_error_handlers`).
    app = FastAPI(title="rewardflow reward server", lifespan=lifespan, dependencies=[guard], strict_content_type=False)
    add_error_handlers(app)
    add_body_limit(app, max_body_bytes(config))
    add_scoring_routes(app, config, slot, batcher)
    add_status_routes(app, config, slot, batcher)
    return app


def max_body_bytes(config: ServeConfig) -> int:
    """A body no valid request can exceed: every text at its limit, 6 bytes a character (a JSON \\uXXXX escape),
    plus JSON framing."""
    return config.max_texts * (6 * config.max_chars + 64) + 65536


def add_body_limit(app: FastAPI, limit: int) -> None:
    """Refuse a declared Content-Length beyond `limit` with 413 before the body is read."""

    @app.middleware("http")
    async def body_limit(request: Request, call_next):
        declared = request.headers.get("content-length", "0")
        if declared.isdigit() and int(declared) > limit:
            message = f"body: {declared} bytes, more than any request within --max_texts and --max_chars ({limit})"
            return JSONResponse(status_code=413, content={"error": message})
        return await call_next(request)


def add_error_handlers(app: FastAPI) -> None:
    """422 naming the field, 413 naming the limit, 503 saying why no model is served, 401 without the token."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        errors = err.errors()
        message = validation_message(errors)
        content_type = request.headers.get("content-type")
        if not json_content_type(content_type):  # the body was never read as JSON
            message = (
                f"body: Content-Type {content_type!r} is not JSON; send the body as JSON with the header "
                "'Content-Type: application/json' (curl: -H 'Content-Type: application/json')"
            )
        return JSONResponse(status_code=422, content={"error": message, "detail": _safe(errors)})

    @app.exception_handler(TooLargeError)
    async def too_large(request: Request, err: TooLargeError) -> JSONResponse:
        return JSONResponse(status_code=413, content={"error": str(err)})

    @app.exception_handler(ModelNotReadyError)
    async def not_ready(request: Request, err: ModelNotReadyError) -> JSONResponse:
        body = {"error": f"no model served yet: {err}"}
        return JSONResponse(status_code=503, content=body, headers={"Retry-After": "5"})

    @app.exception_handler(_Unauthorized)
    async def unauthorized(request: Request, err: _Unauthorized) -> JSONResponse:
        body = {"error": "missing or wrong bearer token: send Authorization: Bearer <token>"}
        return JSONResponse(status_code=401, content=body, headers={"WWW-Authenticate": "Bearer"})


@dataclass(frozen=True)
class Answer:
    """A scored request: raw rewards in order, the model that scored them, texts truncated, tokens scored."""

    rewards: list[float]
    loaded: LoadedModel
    truncated: int
    tokens: int


def current_model(slot: ModelSlot) -> LoadedModel:
    """The model to tokenize and score a request with; 503 (with the reason) while there is none."""
    loaded = slot.current
    if loaded is None:
        raise ModelNotReadyError(slot.reason)
    return loaded


async def score_request(config: ServeConfig, batcher: Batcher, loaded: LoadedModel, request: RequestTexts) -> Answer:
    """Check the text limits, tokenize off the event loop, check the token limit, then score in slices."""
    check_limits(request.field, request.texts, config.max_texts, config.max_chars, request.items)
    ids, cut = await run_in_threadpool(
        tokenize_texts, request.texts, loaded.tokenizer, loaded.max_length, request.templated
    )
    tokens = check_tokens(request.field, ids, config.max_tokens, loaded.max_length)
    scored = await batcher.submit(loaded, ids)
    return Answer(scored.rewards, scored.loaded, int(sum(cut)), tokens)


def add_scoring_routes(app: FastAPI, config: ServeConfig, slot: ModelSlot, batcher: Batcher) -> None:
    @app.post("/get_reward")
    async def get_reward(body: GetRewardRequest) -> dict[str, Any]:
        """OpenRLHF's reward call: {"query": [...]} -> {"rewards": [...]}, plus the model version."""
        answer = await score_request(config, batcher, current_model(slot), RequestTexts("query", body.query))
        stats = answer.loaded.reward_stats if body.normalize else None
        return {"rewards": normalize(answer.rewards, stats), "model_version": answer.loaded.version}

    @app.post("/score")
    async def score(body: ScoreRequest) -> dict[str, Any]:
        """Texts, pairs or conversations -> raw and normalised rewards, the version, how many were truncated."""
        loaded = current_model(slot)
        request = request_texts(body, loaded.tokenizer)
        answer = await score_request(config, batcher, loaded, request)
        version = answer.loaded.version
        stats = answer.loaded.reward_stats
        return score_body(request.field, answer.rewards, stats, body.normalize, version, answer.truncated)

    @app.post("/classify")
    @app.post("/v1/classify")
    async def classify(body: ClassifyRequest) -> dict[str, Any]:
        """vLLM's pooling call: one result per input with the raw reward (never normalised) in `probs[0]`."""
        loaded = current_model(slot)
        answer = await score_request(config, batcher, loaded, classify_texts(body, loaded.tokenizer))
        label = (getattr(loaded.model.config, "id2label", None) or {}).get(0)
        return {
            "id": f"classify-{uuid.uuid4().hex}",
            "object": "list",
            "created": int(time.time()),
            "model": body.model or config.model,
            "data": [
                {"index": i, "label": label, "probs": [reward], "num_classes": 1}
                for i, reward in enumerate(answer.rewards)
            ],
            "usage": {
                "prompt_tokens": answer.tokens,
                "total_tokens": answer.tokens,
                "completion_tokens": 0,
                "prompt_tokens_details": None,
            },
            "model_version": answer.loaded.version,
        }


def add_status_routes(app: FastAPI, config: ServeConfig, slot: ModelSlot, batcher: Batcher) -> None:
    @app.get("/health")
    async def health() -> JSONResponse:
        loaded = slot.current
        if loaded is None:
            return JSONResponse(status_code=503, content={"status": "unavailable", "reason": slot.reason})
        return JSONResponse(content={"status": "ok", "model_version": loaded.version, "waiting": batcher.load()})

    @app.get("/info")
    async def info() -> dict[str, Any]:
        loaded = current_model(slot)
        scoring = config.scoring
        return {
            **loaded.info,
            "model_version": loaded.version,
            "model": config.model,
            "precision": scoring.precision_in_effect,
            "precision_setting": scoring.precision,
            "limits": {
                "max_texts": config.max_texts,
                "max_chars": config.max_chars,
                "max_tokens": config.max_tokens,
                "max_batch_tokens": config.max_batch_tokens,
            },
        }


def _safe(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pydantic errors without their `input` and `ctx` (the input may be huge; ctx may not be JSON)."""
    return [{"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": e.get("msg")} for e in errors[:20]]
