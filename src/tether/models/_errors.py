"""Classify provider failures into :class:`~tether.exceptions.ModelError` codes at the boundary.

Adapters never let an SDK or transport exception escape: they call the
``map_*_errors`` context managers around every provider call, so the engine
sees one exception type whose ``error_code`` and ``retryable`` decide the
retry plan (recorded in ``model.failed``).

Codes and what to do about them:

================== ========= =================================================
code               retryable meaning
================== ========= =================================================
rate_limited       yes       429; ``retry_after`` from ``retry-after-ms`` /
                             ``retry-after`` when the provider sent one
overloaded         yes       529 / 503: the provider sheds load
server_error       yes       other 5xx (and 409, which both SDKs retry)
timeout            yes       the request or the provider timed out (408, 504)
connection         yes       the host could not be reached or dropped the line
malformed_response yes       a reply we cannot parse (truncated stream, bad
                             JSON envelope); a retry usually gets a clean one
context_length     no        the prompt does not fit the model's window
invalid_request    no        400 / 404 / 413 / 422: fix the request
auth               no        401 / 403: fix the key or its permissions
quota_exceeded     no        429 ``insufficient_quota``: billing, not load
================== ========= =================================================

Tool-call arguments that are not JSON are *not* an error: adapters return
``ToolCall(invalid_arguments=raw)`` so the executor can tell the model.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from enum import StrEnum
from typing import Any

from tether.exceptions import ModelError

__all__ = [
    "NOT_GENERATED_CODES",
    "ModelErrorCode",
    "classify_status",
    "from_anthropic_error",
    "from_openai_error",
    "malformed_response",
    "map_anthropic_errors",
    "map_openai_errors",
    "model_error",
    "parse_retry_after",
]


class ModelErrorCode(StrEnum):
    """Stable values of :attr:`ModelError.error_code` raised by the model adapters."""

    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    MALFORMED_RESPONSE = "malformed_response"
    CONTEXT_LENGTH = "context_length"
    INVALID_REQUEST = "invalid_request"
    AUTH = "auth"
    QUOTA_EXCEEDED = "quota_exceeded"


RETRYABLE_CODES = frozenset(
    {
        ModelErrorCode.RATE_LIMITED,
        ModelErrorCode.OVERLOADED,
        ModelErrorCode.SERVER_ERROR,
        ModelErrorCode.TIMEOUT,
        ModelErrorCode.CONNECTION,
        ModelErrorCode.MALFORMED_RESPONSE,
    }
)

NOT_GENERATED_CODES = frozenset(
    {
        ModelErrorCode.RATE_LIMITED,
        ModelErrorCode.OVERLOADED,
        ModelErrorCode.SERVER_ERROR,
        ModelErrorCode.CONTEXT_LENGTH,
        ModelErrorCode.INVALID_REQUEST,
        ModelErrorCode.AUTH,
        ModelErrorCode.QUOTA_EXCEEDED,
    }
)
"""Failures the provider reports before it generates a reply: nothing was billed for
output. The others (a timeout, a dropped connection, a broken reply) may come after a
whole reply was generated and billed."""

# Phrases providers use for "the prompt is longer than the window"; OpenAI sets a
# code, but vLLM, llama.cpp, Ollama and Anthropic only say it in the message.
_CONTEXT_PHRASES = (
    "context_length_exceeded",
    "context length",
    "context window",
    "maximum context",
    "exceed_context_size",
    "exceeds the available context",
    "prompt is too long",
    "too many tokens",
)

# Provider error ``type`` / ``code`` strings (Anthropic and OpenAI envelopes),
# used when the HTTP status alone is ambiguous, e.g. an error event inside a
# 200 streaming response.
_BODY_CODES: dict[str, ModelErrorCode] = {
    "rate_limit_error": ModelErrorCode.RATE_LIMITED,
    "rate_limit_exceeded": ModelErrorCode.RATE_LIMITED,
    "insufficient_quota": ModelErrorCode.QUOTA_EXCEEDED,
    "overloaded_error": ModelErrorCode.OVERLOADED,
    "api_error": ModelErrorCode.SERVER_ERROR,
    "server_error": ModelErrorCode.SERVER_ERROR,
    "timeout_error": ModelErrorCode.TIMEOUT,
    "authentication_error": ModelErrorCode.AUTH,
    "permission_error": ModelErrorCode.AUTH,
    "invalid_api_key": ModelErrorCode.AUTH,
    "invalid_request_error": ModelErrorCode.INVALID_REQUEST,
    "not_found_error": ModelErrorCode.INVALID_REQUEST,
    "request_too_large": ModelErrorCode.INVALID_REQUEST,
    "context_length_exceeded": ModelErrorCode.CONTEXT_LENGTH,
    "exceed_context_size_error": ModelErrorCode.CONTEXT_LENGTH,
}

_HTTPX_ROOTS = frozenset({"httpx", "httpx2", "httpcore", "httpcore2"})


def model_error(
    code: ModelErrorCode,
    message: str,
    *,
    status_code: int | None = None,
    retry_after: float | None = None,
    **context: Any,
) -> ModelError:
    """Build a :class:`ModelError` whose ``retryable`` flag follows from its code."""
    return ModelError(
        message,
        error_code=code.value,
        retryable=code in RETRYABLE_CODES,
        retry_after=retry_after,
        status_code=status_code,
        **context,
    )


def malformed_response(message: str, **context: Any) -> ModelError:
    """A reply we could not turn into a :class:`ModelResponse`."""
    return model_error(ModelErrorCode.MALFORMED_RESPONSE, message, **context)


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """Seconds the provider asked us to wait, from ``retry-after-ms`` or ``retry-after``.

    ``retry-after-ms`` (OpenAI, Anthropic) is more precise and wins; ``retry-after``
    may be seconds or an HTTP date. Negative or unparsable values give ``None``.
    """
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0:
            return value
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        current = time.time() if now is None else now
        seconds = parsed.timestamp() - current
    return seconds if seconds >= 0 else None


def _body_error(body: object) -> tuple[str | None, str | None, str]:
    """Extract (type, code, message) from an OpenAI- or Anthropic-style error body."""
    if not isinstance(body, Mapping):
        return None, None, str(body) if body else ""
    inner = body.get("error", body)
    if not isinstance(inner, Mapping):
        return None, None, str(inner)
    err_type = inner.get("type")
    code = inner.get("code")
    message = inner.get("message")
    return (
        err_type if isinstance(err_type, str) else None,
        str(code) if code is not None else None,
        message if isinstance(message, str) else "",
    )


def classify_status(
    status_code: int | None,
    *,
    headers: Mapping[str, str] | None = None,
    body: object = None,
    message: str = "",
    **context: Any,
) -> ModelError:
    """Classify an HTTP error reply (or an error event inside a stream) into a ModelError.

    Args:
        status_code: HTTP status, or ``None``/2xx for an error delivered in a stream.
        headers: response headers, for ``retry-after``.
        body: the decoded error body (``{"error": {"type", "code", "message"}}``).
        message: fallback text when the body has none.
        **context: extra fields kept on the error (provider, model).
    """
    err_type, err_code, body_message = _body_error(body)
    text = body_message or message or f"HTTP {status_code}"
    haystack = " ".join(filter(None, (err_type, err_code, text))).lower()
    by_body = _BODY_CODES.get(err_code or "") or _BODY_CODES.get(err_type or "")

    # Rate-limit and server-error messages talk about tokens too; only a
    # rejected request can mean "the prompt does not fit".
    rejected = status_code is None or (status_code < 500 and status_code != 429)

    code: ModelErrorCode
    if rejected and any(phrase in haystack for phrase in _CONTEXT_PHRASES):
        code = ModelErrorCode.CONTEXT_LENGTH
    elif by_body is ModelErrorCode.QUOTA_EXCEEDED:
        code = by_body
    elif status_code == 429:
        code = ModelErrorCode.RATE_LIMITED
    elif status_code in (503, 529):
        code = ModelErrorCode.OVERLOADED
    elif status_code in (408, 504):
        code = ModelErrorCode.TIMEOUT
    elif status_code in (401, 403):
        code = ModelErrorCode.AUTH
    elif status_code == 409:
        # Both official SDKs retry 409 (lock contention on the provider's side).
        code = ModelErrorCode.SERVER_ERROR
    elif status_code is not None and status_code >= 500:
        code = ModelErrorCode.SERVER_ERROR
    elif status_code is not None and 400 <= status_code < 500:
        auth = by_body is ModelErrorCode.AUTH
        code = ModelErrorCode.AUTH if auth else ModelErrorCode.INVALID_REQUEST
    else:
        # An error event inside a 200 stream: only the body can tell; if it
        # cannot, the provider failed mid-reply, which is worth a retry.
        code = by_body or ModelErrorCode.SERVER_ERROR

    retry_after = parse_retry_after(headers) if code in RETRYABLE_CODES else None
    return model_error(
        code,
        text,
        status_code=status_code,
        retry_after=retry_after,
        provider_error_type=err_type,
        provider_error_code=err_code,
        **context,
    )


def _is_httpx_error(exc: BaseException, *names: str) -> bool:
    """Whether ``exc`` is an httpx/httpx2 exception of one of the given class names.

    Checked by name so this works with either HTTP library the SDK was built on,
    without importing them.
    """
    for cls in type(exc).__mro__:
        if cls.__module__.partition(".")[0] in _HTTPX_ROOTS and cls.__name__ in names:
            return True
    return False


def _classify_transport(exc: BaseException, **context: Any) -> ModelError | None:
    """Transport failures that escape an SDK mid-stream (read errors, dropped lines)."""
    if _is_httpx_error(exc, "TimeoutException"):
        return model_error(ModelErrorCode.TIMEOUT, f"request timed out: {exc!r}", **context)
    if _is_httpx_error(exc, "TransportError", "NetworkError", "ProtocolError", "StreamError"):
        return model_error(ModelErrorCode.CONNECTION, f"connection failed: {exc!r}", **context)
    if _is_httpx_error(exc, "DecodingError"):
        return malformed_response(f"could not decode the reply: {exc!r}", **context)
    return None


def _headers_of(exc: BaseException) -> Mapping[str, str] | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return headers if isinstance(headers, Mapping) else None


def _from_sdk_error(exc: BaseException, sdk: Any, **context: Any) -> ModelError | None:
    """Map one exception raised by the ``openai`` or ``anthropic`` SDK (same class names)."""
    if isinstance(exc, sdk.APITimeoutError):
        return model_error(ModelErrorCode.TIMEOUT, str(exc) or "request timed out", **context)
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc
        return model_error(ModelErrorCode.CONNECTION, f"{exc} ({cause!r})", **context)
    if isinstance(exc, sdk.APIResponseValidationError):
        return malformed_response(str(exc), status_code=exc.status_code, **context)
    if isinstance(exc, sdk.APIStatusError):
        return classify_status(
            exc.status_code,
            headers=_headers_of(exc),
            body=exc.body,
            message=str(exc),
            **context,
        )
    if isinstance(exc, sdk.APIError):
        # An error envelope with no status, e.g. from an SSE ``error`` event.
        return classify_status(None, body=exc.body, message=str(exc), **context)
    return _classify_transport(exc, **context)


def from_openai_error(exc: BaseException, **context: Any) -> ModelError | None:
    """Classify an exception raised by the ``openai`` SDK; ``None`` if it is not one of its.

    Args:
        exc: what the SDK (or its HTTP library, mid-stream) raised.
        **context: fields kept on the error, typically ``provider`` and ``model``.
    """
    import openai

    return _from_sdk_error(exc, openai, **context)


def from_anthropic_error(exc: BaseException, **context: Any) -> ModelError | None:
    """Classify an exception raised by the ``anthropic`` SDK; ``None`` if it is not one of its.

    Args:
        exc: what the SDK (or its HTTP library, mid-stream) raised.
        **context: fields kept on the error, typically ``provider`` and ``model``.
    """
    import anthropic

    return _from_sdk_error(exc, anthropic, **context)


_SHAPE_ERRORS = (AttributeError, TypeError, ValueError, KeyError, IndexError)
"""What reading a reply of the wrong shape raises (a pydantic ``ValidationError`` is a
``ValueError``)."""


@contextmanager
def _map_errors(classify: Callable[..., ModelError | None], **context: Any) -> Iterator[None]:
    try:
        yield
    except ModelError:
        raise
    except Exception as exc:
        mapped = classify(exc, **context)
        if mapped is None and isinstance(exc, json.JSONDecodeError):
            # The SDK decodes each SSE ``data:`` line itself; garbage there is ours to classify.
            mapped = malformed_response(f"reply is not valid JSON: {exc}", **context)
        elif mapped is None and isinstance(exc, _SHAPE_ERRORS):
            # A reply of the wrong shape (a string where an object belongs, arguments as
            # an object, a list at the top): what reading it raised is a malformed reply,
            # retried like one, never a crash of the run.
            mapped = malformed_response(
                f"reply has an unexpected shape ({type(exc).__name__}: {str(exc)[:200]})",
                **context,
            )
        if mapped is None:
            raise
        raise mapped from exc


def map_openai_errors(**context: Any) -> AbstractContextManager[None]:
    """Context manager re-raising ``openai`` SDK and transport exceptions as ModelErrors.

    Args:
        **context: fields kept on the error, typically ``provider`` and ``model``.
    """
    return _map_errors(from_openai_error, **context)


def map_anthropic_errors(**context: Any) -> AbstractContextManager[None]:
    """Context manager re-raising ``anthropic`` SDK and transport exceptions as ModelErrors.

    Args:
        **context: fields kept on the error, typically ``provider`` and ``model``.
    """
    return _map_errors(from_anthropic_error, **context)
