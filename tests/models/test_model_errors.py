"""Classification of provider failures into ModelError codes, independent of any SDK."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from tether.exceptions import ModelError
from tether.models._errors import (
    ModelErrorCode,
    classify_status,
    model_error,
    parse_retry_after,
)
from tether.models._wire import tool_call_from_json


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        (None, None),
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after": "-4"}, None),
        ({"retry-after": "tomorrow-ish"}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str] | None, expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_accepts_http_dates() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = datetime(2025, 1, 1, 12, 0, 30, tzinfo=UTC)
    headers = {"retry-after": format_datetime(later, usegmt=True)}
    assert parse_retry_after(headers, now=now.timestamp()) == 30.0


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (429, None, "rate_limited"),
        (529, None, "overloaded"),
        (503, None, "overloaded"),
        (502, None, "server_error"),
        (500, None, "server_error"),
        (409, None, "server_error"),
        (408, None, "timeout"),
        (504, None, "timeout"),
        (401, None, "auth"),
        (403, None, "auth"),
        (400, None, "invalid_request"),
        (404, {"error": {"type": "not_found_error", "message": "model: x"}}, "invalid_request"),
        (422, None, "invalid_request"),
        (413, {"error": {"type": "request_too_large", "message": "too big"}}, "invalid_request"),
        # llama.cpp server and vLLM say "context" only in the type or message.
        (400, {"error": {"type": "exceed_context_size_error", "message": "x"}}, "context_length"),
        (
            400,
            {"error": {"message": "This model's maximum context length is 4096 tokens"}},
            "context_length",
        ),
        (429, {"error": {"code": "insufficient_quota", "message": "quota"}}, "quota_exceeded"),
        (429, {"error": {"message": "too many tokens per minute"}}, "rate_limited"),
        # An error event inside a 200 stream: the body decides.
        (200, {"type": "error", "error": {"type": "overloaded_error"}}, "overloaded"),
        (None, {"error": {"type": "rate_limit_error"}}, "rate_limited"),
        (None, {"error": {"type": "something_new"}}, "server_error"),
    ],
)
def test_classify_status(status: int | None, body: object, code: str) -> None:
    error = classify_status(status, body=body, provider="test")
    assert error.error_code == code
    assert error.retryable is (code in {"rate_limited", "overloaded", "server_error", "timeout"})
    assert error.status_code == status
    assert error.context["provider"] == "test"


def test_retry_after_is_kept_only_for_retryable_errors() -> None:
    headers = {"retry-after": "5"}
    assert classify_status(429, headers=headers).retry_after == 5.0
    assert classify_status(529, headers=headers).retry_after == 5.0
    assert classify_status(400, headers=headers).retry_after is None


def test_message_falls_back_from_body_to_text_to_status() -> None:
    assert classify_status(500, body={"error": {"message": "boom"}}).message == "boom"
    assert classify_status(500, message="plain").message == "plain"
    assert classify_status(500).message == "HTTP 500"


def test_classified_errors_survive_pickling() -> None:
    """Errors cross the durable boundary (``model.failed`` events, worker processes)."""
    error = model_error(
        ModelErrorCode.RATE_LIMITED, "slow down", status_code=429, retry_after=2.0, model="m"
    )
    clone = pickle.loads(pickle.dumps(error))
    assert isinstance(clone, ModelError)
    assert (clone.error_code, clone.retryable, clone.retry_after, clone.status_code) == (
        "rate_limited",
        True,
        2.0,
        429,
    )
    assert clone.context["model"] == "m"


@pytest.mark.parametrize(
    ("raw", "arguments", "invalid"),
    [
        ('{"a": 1}', {"a": 1}, None),
        ("", {}, None),
        (None, {}, None),
        ("  ", {}, None),
        ("[1, 2]", {}, "[1, 2]"),
        ('{"a": ', {}, '{"a": '),
    ],
)
def test_tool_call_arguments_that_are_not_an_object_are_kept_raw(
    raw: str | None, arguments: dict[str, int], invalid: str | None
) -> None:
    call = tool_call_from_json("c1", "t", raw)
    assert (call.arguments, call.invalid_arguments) == (arguments, invalid)
