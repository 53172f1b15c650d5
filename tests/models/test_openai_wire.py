"""OpenAIModel against the Chat Completions wire format, served by a mock transport.

Bodies follow OpenAI's API reference (``chat.completion`` objects and
``chat.completion.chunk`` server-sent events ending in ``data: [DONE]``).
Tests against a real llama.cpp server live in a separate module.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

openai = pytest.importorskip("openai")

from tether.context import UNTRUSTED_DATA_NOTICE, render_tool_output  # noqa: E402
from tether.exceptions import ConfigError, MissingExtraError, ModelError  # noqa: E402
from tether.models._openai import OpenAIModel  # noqa: E402
from tether.models._types import (  # noqa: E402
    Message,
    ModelClient,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    StreamDelta,
    ToolCall,
    ToolSpec,
    Usage,
)

from ._http import FakeServer, sse_events  # noqa: E402

WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
)


def completion(message: dict[str, Any], finish: str = "stop", **usage: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4.1-mini-2025-04-14",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12, **usage},
    }


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4.1-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    yield FakeServer(openai)


@pytest.fixture
async def model(server: FakeServer) -> AsyncIterator[OpenAIModel]:
    sdk = openai.AsyncOpenAI(api_key="sk-test", http_client=server.client(), max_retries=0)
    try:
        yield OpenAIModel("gpt-4.1-mini", client=sdk)
    finally:
        await sdk.close()


def conversation() -> ModelRequest:
    return ModelRequest(
        instructions="You are terse.",
        messages=[
            Message(role="user", content="Weather in Paris and Rome?"),
            Message(
                role="assistant",
                content=None,
                tool_calls=[
                    ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"}),
                    ToolCall(id="call_2", name="get_weather", invalid_arguments="{city: Rome"),
                ],
            ),
            Message(role="tool", tool_call_id="call_1", content="18C"),
            Message(role="tool", tool_call_id="call_2", content="error: arguments not JSON"),
        ],
        tools=[WEATHER],
        settings=ModelSettings(temperature=0.0, max_tokens=50, seed=7),
    )


async def test_request_translates_conversation_tools_and_settings(
    server: FakeServer, model: OpenAIModel
) -> None:
    """System prompt first, tool calls as JSON strings, tool results by id, no ``strict``."""
    server.add_json(completion({"content": "Paris 18C."}))
    await model.complete(conversation())

    request = server.requests[0]
    assert request.url.path.endswith("/chat/completions")
    body = server.body()
    assert body["model"] == "gpt-4.1-mini"
    assert body["messages"] == [
        # Tools are offered, so the instructions end with the untrusted-data notice.
        {"role": "system", "content": f"You are terse.\n\n{UNTRUSTED_DATA_NOTICE}"},
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                # Unparsable arguments are replayed as {} (servers re-parse history).
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                },
            ],
        },
        # Tool results travel as delimited untrusted data.
        {"role": "tool", "tool_call_id": "call_1", "content": render_tool_output(None, "18C")},
        {
            "role": "tool",
            "tool_call_id": "call_2",
            "content": render_tool_output(None, "error: arguments not JSON"),
        },
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city.",
                "parameters": WEATHER.parameters,
            },
        }
    ]
    assert body["parallel_tool_calls"] is True
    assert body["temperature"] == 0.0
    assert body["seed"] == 7
    assert body["max_completion_tokens"] == 50
    assert "max_tokens" not in body
    assert "response_format" not in body
    assert "stream" not in body


async def test_output_schema_becomes_json_schema_response_format(
    server: FakeServer, model: OpenAIModel
) -> None:
    server.add_json(completion({"content": '{"answer": 4}'}))
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}}
    request = ModelRequest(messages=[Message(role="user", content="2+2")], output_schema=schema)
    response = await model.complete(request)

    body = server.body()
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema},
    }
    assert "tools" not in body
    assert "parallel_tool_calls" not in body
    assert response.text == '{"answer": 4}'


async def test_extra_settings_pass_through_to_the_body(
    server: FakeServer, model: OpenAIModel
) -> None:
    server.add_json(completion({"content": "ok"}))
    settings = ModelSettings(reasoning_effort="low")  # an extra setting (extra="allow")
    await model.complete(
        ModelRequest(messages=[Message(role="user", content="hi")], settings=settings)
    )
    assert server.body()["reasoning_effort"] == "low"


async def test_custom_endpoint_uses_max_tokens_and_placeholder_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Compatible servers get the older ``max_tokens`` and need no real key."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server = FakeServer(openai)
    server.add_json(completion({"content": "ok"}))
    real_client = openai.AsyncOpenAI
    monkeypatch.setattr(
        openai,
        "AsyncOpenAI",
        lambda **kwargs: real_client(**kwargs, http_client=server.client()),
    )
    model = OpenAIModel("qwen2.5", base_url="http://127.0.0.1:8000/v1")
    assert model.model_id == "openai:qwen2.5@http://127.0.0.1:8000/v1"
    async with model:
        await model.complete(
            ModelRequest(
                messages=[Message(role="user", content="hi")],
                settings=ModelSettings(max_tokens=5),
            )
        )
    assert str(server.requests[0].url) == "http://127.0.0.1:8000/v1/chat/completions"
    assert server.requests[0].headers["authorization"] == "Bearer sk-no-key-required"
    assert server.body()["max_tokens"] == 5
    assert "max_completion_tokens" not in server.body()


async def test_missing_api_key_for_openai_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = OpenAIModel("gpt-4.1-mini")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        await model.complete(ModelRequest(messages=[Message(role="user", content="hi")]))


async def test_response_with_tool_calls_usage_and_cached_tokens(
    server: FakeServer, model: OpenAIModel
) -> None:
    """Parallel tool calls parse; non-JSON arguments become ``invalid_arguments``."""
    server.add_json(
        completion(
            {
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Ro'},
                    },
                    {
                        "id": "call_c",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    },
                ],
            },
            finish="tool_calls",
            prompt_tokens=1200,
            completion_tokens=30,
            prompt_tokens_details={"cached_tokens": 1024},
        )
    )
    response = await model.complete(conversation())

    assert response == ModelResponse(
        text=None,
        tool_calls=[
            ToolCall(id="call_a", name="get_weather", arguments={"city": "Paris"}),
            ToolCall(id="call_b", name="get_weather", invalid_arguments='{"city": "Ro'),
            ToolCall(id="call_c", name="get_weather", arguments={}),
        ],
        usage=Usage(input_tokens=1200, output_tokens=30, cached_input_tokens=1024),
        finish_reason="tool_calls",
        model="openai:gpt-4.1-mini",
    )


@pytest.mark.parametrize(
    ("wire", "expected"),
    [("stop", "stop"), ("length", "length"), ("content_filter", "content_filter")],
)
async def test_finish_reasons_map(
    server: FakeServer, model: OpenAIModel, wire: str, expected: str
) -> None:
    server.add_json(completion({"content": "x"}, finish=wire))
    response = await model.complete(ModelRequest(messages=[Message(role="user", content="hi")]))
    assert response.finish_reason == expected


async def test_stream_yields_text_and_tool_fragments_then_the_whole_reply(
    server: FakeServer, model: OpenAIModel
) -> None:
    """Deltas arrive as sent; the final reply is assembled, with usage from the last chunk."""
    call_0 = {"id": "call_a", "type": "function", "function": {"name": "get_weather"}}
    server.add_sse(
        sse_events(
            (None, chunk({"role": "assistant", "content": ""})),
            (None, chunk({"content": "Checking"})),
            (None, chunk({"content": " both."})),
            (
                None,
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                **call_0,
                                "function": {"name": "get_weather", "arguments": ""},
                            }
                        ]
                    }
                ),
            ),
            (None, chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]})),
            (None, chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]})),
            (
                None,
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 1,
                                "id": "call_b",
                                "type": "function",
                                "function": {
                                    "name": "get_weather",
                                    "arguments": '{"city": "Rome"}',
                                },
                            }
                        ]
                    }
                ),
            ),
            (None, chunk({}, finish="tool_calls")),
            (
                None,
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion.chunk",
                    "created": 1_700_000_000,
                    "model": "gpt-4.1-mini",
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 50,
                        "completion_tokens": 12,
                        "total_tokens": 62,
                        "prompt_tokens_details": {"cached_tokens": 32},
                    },
                },
            ),
            (None, "[DONE]"),
        )
    )
    items = [item async for item in model.stream(conversation())]

    body = server.body()
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}

    deltas = items[:-1]
    assert all(isinstance(d, StreamDelta) for d in deltas)
    assert [d.text for d in deltas if isinstance(d, StreamDelta) and d.kind == "text"] == [
        "Checking",
        " both.",
    ]
    tool_deltas = [d for d in deltas if isinstance(d, StreamDelta) and d.kind == "tool_call"]
    assert [(d.tool_call_index, d.tool_name, d.arguments_fragment) for d in tool_deltas] == [
        (0, "get_weather", ""),
        (0, None, '{"city": '),
        (0, None, '"Paris"}'),
        (1, "get_weather", '{"city": "Rome"}'),
    ]
    final = items[-1]
    assert final == ModelResponse(
        text="Checking both.",
        tool_calls=[
            ToolCall(id="call_a", name="get_weather", arguments={"city": "Paris"}),
            ToolCall(id="call_b", name="get_weather", arguments={"city": "Rome"}),
        ],
        usage=Usage(input_tokens=50, output_tokens=12, cached_input_tokens=32),
        finish_reason="tool_calls",
        model="openai:gpt-4.1-mini",
    )


async def test_stream_cut_off_before_finish_is_malformed(
    server: FakeServer, model: OpenAIModel
) -> None:
    server.add_sse(sse_events((None, chunk({"content": "Hel"}))))
    with pytest.raises(ModelError) as info:
        async for _ in model.stream(ModelRequest(messages=[Message(role="user", content="hi")])):
            pass
    assert info.value.error_code == "malformed_response"
    assert info.value.retryable


async def test_stream_error_event_is_classified(server: FakeServer, model: OpenAIModel) -> None:
    """An ``error`` object inside a 200 stream is classified by its type."""
    error = {"error": {"message": "The server had an error", "type": "server_error"}}
    server.add_sse(sse_events((None, chunk({"content": "Hel"})), (None, error)))
    with pytest.raises(ModelError) as info:
        async for _ in model.stream(ModelRequest(messages=[Message(role="user", content="hi")])):
            pass
    assert info.value.error_code == "server_error"
    assert info.value.retryable


# ----------------------------------------------------------------------------- errors


def error_body(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


@pytest.mark.parametrize(
    ("status", "body", "headers", "code", "retryable", "retry_after"),
    [
        (
            429,
            error_body("Rate limit reached", "requests", "rate_limit_exceeded"),
            {"retry-after": "7"},
            "rate_limited",
            True,
            7.0,
        ),
        (
            429,
            error_body("Rate limit reached", "requests", "rate_limit_exceeded"),
            {"retry-after-ms": "1500", "retry-after": "2"},
            "rate_limited",
            True,
            1.5,
        ),
        (
            429,
            error_body(
                "You exceeded your current quota", "insufficient_quota", "insufficient_quota"
            ),
            {},
            "quota_exceeded",
            False,
            None,
        ),
        (
            500,
            error_body("The server had an error", "server_error"),
            {},
            "server_error",
            True,
            None,
        ),
        (503, error_body("Slow down", "server_error"), {}, "overloaded", True, None),
        (
            401,
            error_body("Incorrect API key provided", "invalid_request_error", "invalid_api_key"),
            {},
            "auth",
            False,
            None,
        ),
        (
            400,
            error_body(
                "This model's maximum context length is 128000 tokens.",
                "invalid_request_error",
                "context_length_exceeded",
            ),
            {},
            "context_length",
            False,
            None,
        ),
        (
            400,
            error_body("Invalid value for 'temperature'", "invalid_request_error"),
            {},
            "invalid_request",
            False,
            None,
        ),
        (422, {"detail": "bad"}, {}, "invalid_request", False, None),
    ],
)
async def test_http_errors_are_classified(
    server: FakeServer,
    model: OpenAIModel,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    code: str,
    retryable: bool,
    retry_after: float | None,
) -> None:
    server.add_json(body, status=status, headers=headers)
    with pytest.raises(ModelError) as info:
        await model.complete(ModelRequest(messages=[Message(role="user", content="hi")]))
    error = info.value
    assert (error.error_code, error.retryable, error.retry_after) == (code, retryable, retry_after)
    assert error.status_code == status
    assert error.context["model"] == "openai:gpt-4.1-mini"
    assert isinstance(error.__cause__, openai.APIStatusError)
    assert len(server.requests) == 1  # no hidden SDK retries


async def test_transport_timeout_is_classified(server: FakeServer, model: OpenAIModel) -> None:
    server.add_raise(lambda request: server.lib.ReadTimeout("timed out", request=request))
    with pytest.raises(ModelError) as info:
        await model.complete(ModelRequest(messages=[Message(role="user", content="hi")]))
    assert (info.value.error_code, info.value.retryable) == ("timeout", True)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_connection_refused_is_a_retryable_connection_error() -> None:
    """A real connection attempt to a closed local port."""
    async with OpenAIModel(
        "qwen2.5", base_url=f"http://127.0.0.1:{closed_port()}/v1", api_key="x", timeout=5
    ) as model:
        with pytest.raises(ModelError) as info:
            await model.complete(ModelRequest(messages=[Message(role="user", content="hi")]))
    assert (info.value.error_code, info.value.retryable) == ("connection", True)
    assert isinstance(info.value.__cause__, openai.APIConnectionError)


def test_model_id_names_provider_and_model() -> None:
    model: ModelClient = OpenAIModel("gpt-4.1-mini")  # also checked statically by mypy
    assert isinstance(model, ModelClient)
    assert model.model_id == "openai:gpt-4.1-mini"


def test_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "openai", None)
    with pytest.raises(MissingExtraError, match=r"tether-runtime\[openai\]"):
        OpenAIModel("gpt-4.1-mini")


def _deep_arguments(depth: int) -> str:
    """Argument text whose ``city`` is nested ``depth`` arrays deep."""
    return '{"city": ' + "[" * depth + '"Paris"' + "]" * depth + "}"


@pytest.mark.parametrize("depth", [100, 1000, 100_000])
async def test_arguments_nested_deep_become_invalid_arguments_not_an_exception(
    server: FakeServer, model: OpenAIModel, depth: int
) -> None:
    """Argument text of any depth parses: past 64 levels it is kept as ``invalid_arguments``
    (``json.loads`` raises ``RecursionError`` near 1,000 levels; that is caught too)."""
    deep, shallow = _deep_arguments(depth), _deep_arguments(63)
    server.add_json(
        completion(
            {
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": deep},
                    },
                    {
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": shallow},
                    },
                ],
            },
            finish="tool_calls",
        )
    )
    response = await model.complete(conversation())
    deep_call, shallow_call = response.tool_calls
    assert deep_call == ToolCall(id="call_a", name="get_weather", invalid_arguments=deep)
    assert shallow_call.invalid_arguments is None  # 64 levels in all: still accepted


async def test_streamed_arguments_nested_1000_deep_become_invalid_arguments(
    server: FakeServer, model: OpenAIModel
) -> None:
    """The streaming assembler parses fragments with the same guard."""
    deep = _deep_arguments(1000)
    call = {"index": 0, "id": "call_a", "type": "function"}
    server.add_sse(
        sse_events(
            (None, chunk({"tool_calls": [{**call, "function": {"name": "get_weather"}}]})),
            (None, chunk({"tool_calls": [{"index": 0, "function": {"arguments": deep}}]})),
            (None, chunk({}, finish="tool_calls")),
            (None, "[DONE]"),
        )
    )
    items = [item async for item in model.stream(conversation())]
    final = items[-1]
    assert isinstance(final, ModelResponse)
    assert final.tool_calls == [ToolCall(id="call_a", name="get_weather", invalid_arguments=deep)]
