"""The reward server's HTTP face (FastAPI): /get_reward (OpenRLHF's shape), /score, /health, /info.

Handlers only validate, check limits and shape responses; scoring goes through the `Batcher`, and the
model through the `ModelSlot`, so every response names the version that actually scored it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from deployments.serving.batcher import Batcher, ModelNotReadyError
from deployments.serving.config import ServeConfig
from deployments.serving.inputs import TooLargeError, check_limits, request_texts, score_body
from deployments.serving.model_slot import ModelSlot
from deployments.serving.schemas import GetRewardRequest, ScoreRequest
from rmcore.normalization import normalize

Hook = Callable[[], Awaitable[None] | None]


def field_name(loc: tuple | list) -> str:
    """pydantic's error location as the field a person wrote: ('body', 'pairs', 0, 'chosen') -> pairs[0].chosen."""
    parts = [p for p in loc if p != "body"] or ["body"]
    name = str(parts[0])
    for part in parts[1:]:
        name += f"[{part}]" if isinstance(part, int) else f".{part}"
    return name


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
    app = FastAPI(title="rewardflow reward server", lifespan=lifespan, dependencies=[guard])
    add_error_handlers(app)
    add_body_limit(app, max_body_bytes(config))
    add_scoring_routes(app, config, slot, batcher)
    add_status_routes(app, config, slot)
    return app


def max_body_bytes(config: ServeConfig) -> int:
    """A body no valid request can exceed: every text at its limit, 4 bytes a character, plus JSON framing."""
    return config.max_texts * (4 * config.max_chars + 64) + 65536


def add_body_limit(app: FastAPI, limit: int) -> None:
    """Refuse a declared Content-Length beyond `limit` with 413 before the body is read."""

    @app.middleware("http")
    async def body_limit(request: Request, call_next):
        declared = request.headers.get("content-length", "0")
        if declared.isdigit() and int(declared) > limit:
            message = f"body: {declared} bytes, more than any request within --max-texts and --max-chars ({limit})"
            return JSONResponse(status_code=413, content={"error": message})
        return await call_next(request)


def add_error_handlers(app: FastAPI) -> None:
    """422 naming the field, 413 naming the limit, 503 saying why no model is served, 401 without the token."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        errors = err.errors()
        return JSONResponse(status_code=422, content={"error": validation_message(errors), "detail": _safe(errors)})

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


def add_scoring_routes(app: FastAPI, config: ServeConfig, slot: ModelSlot, batcher: Batcher) -> None:
    @app.post("/get_reward")
    async def get_reward(body: GetRewardRequest) -> dict[str, Any]:
        """OpenRLHF's reward call: {"query": [...]} -> {"rewards": [...]}, plus the model version."""
        check_limits("query", body.query, config.max_texts, config.max_chars)
        scored = await batcher.submit(body.query)
        stats = scored.loaded.reward_stats if body.normalize else None
        return {"rewards": normalize(scored.rewards, stats), "model_version": scored.loaded.version}

    @app.post("/score")
    async def score(body: ScoreRequest) -> dict[str, Any]:
        """Texts, pairs or conversations -> raw and normalised rewards, the version, how many were truncated."""
        loaded = slot.current
        if loaded is None:
            raise ModelNotReadyError(slot.reason)
        field, texts = request_texts(body, loaded.tokenizer)
        items = len(body.pairs) if body.pairs is not None else None
        check_limits(field, texts, config.max_texts, config.max_chars, items)
        scored = await batcher.submit(texts, count_truncated=True)
        version = scored.loaded.version
        return score_body(field, scored.rewards, scored.loaded.reward_stats, body.normalize, version, scored.truncated)


def add_status_routes(app: FastAPI, config: ServeConfig, slot: ModelSlot) -> None:
    @app.get("/health")
    async def health() -> JSONResponse:
        loaded = slot.current
        if loaded is None:
            return JSONResponse(status_code=503, content={"status": "unavailable", "reason": slot.reason})
        return JSONResponse(content={"status": "ok", "model_version": loaded.version})

    @app.get("/info")
    async def info() -> dict[str, Any]:
        loaded = slot.current
        if loaded is None:
            raise ModelNotReadyError(slot.reason)
        return {**loaded.info, "model_version": loaded.version, "model": config.model}


def _safe(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pydantic errors without their `input` and `ctx` (the input may be huge; ctx may not be JSON)."""
    return [{"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": e.get("msg")} for e in errors[:20]]
