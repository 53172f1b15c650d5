"""Every failure as JSON: ``{"error": {"code": ..., "message": ...}}``, 4xx for bad input.

The handlers here turn FastAPI's validation errors, Starlette's HTTP errors, Tether's
typed run errors and :class:`ApiError` into that one shape. Anything else is a bug: it
is logged and answered with a 500 in the same shape, never a traceback. The body-size
limit is an ASGI middleware, so an oversized body is refused before any handler (or
JSON parser) reads it. A JSON body is measured where it is parsed (:class:`JsonRoute`):
one nested deeper than :data:`MAX_BODY_DEPTH` is refused with 422 before anything walks
it, whichever endpoint it is sent to.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Coroutine
from typing import Any, Final

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tether.exceptions import (
    AgentVersionMismatchError,
    ApprovalError,
    ConcurrentWriteError,
    RunError,
    RunFinishedError,
    RunLeasedError,
    RunNotFoundError,
    RunNotWaitingError,
    RunQueueFullError,
    StoreError,
    TetherError,
    UserError,
)
from tether.models import nesting_exceeds

log = logging.getLogger("tether.server")

MAX_BODY_DEPTH: Final = 128
"""Levels of objects and arrays a JSON request body may nest (the body itself is level 1).

What a body carries fits with room to spare: a decision's arguments (a tool's arguments
nest at most 64 levels) and a ``resolve_write`` result (a tool result at most 100). A
deeper body would exhaust the stack of whatever walks it next (the validators, the event
encoder), so it is refused where it is parsed, with 422 ``invalid_request``.
"""

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


class ApiError(Exception):
    """An answer other than success, with its HTTP status, a stable code and a message.

    The message says what went wrong and what to do about it.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The JSON every error response carries."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSON error response."""
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


_BUSY = "the run is being changed by another worker or request; retry shortly"
"""What a client is told when another process holds (or took) the run's lease."""


def from_tether_error(exc: TetherError) -> ApiError:
    """The HTTP answer to a typed Tether error raised by a runtime call.

    Errors about who holds a run's lease are answered with a generic message: theirs
    name the lease owner (``host:pid:...``), an internal detail kept for the log (the
    CLI, on the operator's machine, still shows it). A missing run's names the store.
    """
    message = str(exc)
    if isinstance(exc, RunNotFoundError):
        return ApiError(404, "run_not_found", f"no run {exc.run_id!r} for this API key's tenant")
    if isinstance(exc, RunLeasedError):
        log.warning("409 run_leased for run %s: %s", exc.run_id, message)
        return ApiError(409, "run_leased", _BUSY)
    if isinstance(exc, ConcurrentWriteError):
        # Another writer took the run over (LeaseLostError names both owners).
        log.warning("409 run_refused for run %s: %s", exc.run_id, message)
        return ApiError(409, "run_refused", _BUSY)
    if isinstance(exc, RunFinishedError):
        return ApiError(409, "run_finished", message)
    if isinstance(exc, RunNotWaitingError):
        return ApiError(409, "run_not_waiting", message)
    if isinstance(exc, AgentVersionMismatchError):
        return ApiError(409, "agent_version_mismatch", message)
    if isinstance(exc, ApprovalError):
        return ApiError(422, "approval_refused", message)
    if isinstance(exc, RunQueueFullError):
        # Backpressure: the queue of runs waiting for a worker passed its bound.
        wait = str(max(1, math.ceil(exc.retry_after)))
        return ApiError(429, "queue_full", message, headers={"Retry-After": wait})
    if isinstance(exc, StoreError):
        # What failed inside (a connection string, a host, a file path) is the operator's
        # to read in the log, not every caller's: the key lookup that answers this may run
        # before any key is judged.
        log.warning("the store failed: %s", message)
        return ApiError(503, "store_unavailable", "the store is unavailable; retry later")
    if isinstance(exc, RunError | UserError):
        return ApiError(409, "run_refused", message)
    return ApiError(409, "refused", message)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Only where and what: the offending input can be large, or a secret.
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Answer every failure of ``app`` with the JSON error shape."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(
            exc.status, exc.code, exc.message, details=exc.details, headers=exc.headers
        )

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = _validation_details(exc)
        where = ", ".join(f"{'.'.join(str(p) for p in d['loc'])}: {d['msg']}" for d in details[:5])
        return error_response(
            422,
            "invalid_request",
            f"the request does not fit the API schema ({where}); see /openapi.json",
            details=jsonable_encoder(details),
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint {request.url.path}; see /openapi.json"
        headers = dict(exc.headers) if exc.headers else None
        details = exc.details if isinstance(exc, BodyTooDeepError) else None
        return error_response(exc.status_code, code, message, details=details, headers=headers)

    async def tether_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, TetherError)
        return await api_error(request, from_tether_error(exc))

    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error_response(
            500, "internal_error", "the server failed on this request; it is logged"
        )

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(TetherError, tether_error)
    app.add_exception_handler(Exception, internal_error)


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, before the app reads them.

    A declared ``Content-Length`` over the limit is refused at once. A body without
    one (chunked) is read here up to the limit and handed on whole, or refused.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._refuse(send, 400, "bad_request", "Content-Length is not a number")
                    return
        if declared is not None:
            if declared > self.max_bytes:
                await self._too_large(send)
                return
            await self.app(scope, receive, send)
            return
        # No length given: buffer the body (bounded), then replay it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # disconnected: let the app see it
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        await self._refuse(
            send,
            413,
            "body_too_large",
            f"the request body is over the server's limit of {self.max_bytes} bytes",
        )

    @staticmethod
    async def _refuse(send: Send, status: int, code: str, message: str) -> None:
        response = error_response(status, code, message, headers={"Connection": "close"})
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": response.raw_headers,
            }
        )
        await send({"type": "http.response.body", "body": response.body, "more_body": False})


class BodyTooDeepError(HTTPException):
    """A JSON body nested deeper than :data:`MAX_BODY_DEPTH`: 422 ``invalid_request``.

    An ``HTTPException``, because FastAPI passes those on from body parsing as they are
    (any other exception there becomes a bare 400).
    """

    def __init__(self) -> None:
        message = (
            f"the request body nests objects and arrays deeper than {MAX_BODY_DEPTH} "
            "levels, more than the API accepts; send flatter JSON"
        )
        super().__init__(422, detail=message)
        self.details = [
            {
                "loc": ["body"],
                "msg": message,
                "type": "too_deep",
                "max_depth": MAX_BODY_DEPTH,
            }
        ]


class _MeasuredRequest(Request):
    """A request whose JSON body is refused if it nests too deep (see :class:`JsonRoute`)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                parsed = json.loads(body)
            except RecursionError:  # ~1,000 levels: the parser itself gives up
                raise BodyTooDeepError() from None
            # Iterative: a body just under the parser's limit is measured, never walked.
            if nesting_exceeds(parsed, MAX_BODY_DEPTH):
                raise BodyTooDeepError()
            self._json = parsed
        return self._json


class JsonRoute(APIRoute):
    """An API route whose JSON body is measured once, as it is parsed.

    A body nested deeper than :data:`MAX_BODY_DEPTH` is answered with 422 before
    validation, a handler or the runtime sees it (a signal's payload 500 lists deep used
    to reach the event encoder and come back as a 500).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def measured(request: Request) -> Response:
            return await handler(_MeasuredRequest(request.scope, request.receive))

        return measured
