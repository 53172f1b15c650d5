"""AnthropicModel against the Messages API wire format, served by a mock transport.

Reply bodies and server-sent events follow Anthropic's documented formats
(``message`` objects; ``message_start`` … ``message_stop`` stream events,
``ping`` and ``error`` events).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

anthropic = pytest.importorskip("anthropic")

from tether.context import UNTRUSTED_DATA_NOTICE, render_tool_output  # noqa: E402
from tether.exceptions import MissingExtraError, ModelError  # noqa: E402
from tether.models._anthropic import AnthropicModel  # noqa: E402
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

EPHEMERAL = {"type": "ephemeral"}
WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
TIME = ToolSpec(name="get_time", description="Current time.")


def message(content: list[dict[str, Any]], stop: str = "end_turn", **usage: Any) -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5-20251001",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 2, **usage},
    }


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    yield FakeServer(anthropic)


@pytest.fixture
async def model(server: FakeServer) -> AsyncIterator[AnthropicModel]:
    sdk = anthropic.AsyncAnthropic(
        api_key="sk-ant-test", http_client=server.client(), max_retries=0
    )
    try:
        yield AnthropicModel("claude-haiku-4-5", client=sdk)
    finally:
        await sdk.close()


def conversation() -> ModelRequest:
    return ModelRequest(
        instructions="You are a weather bot.",
        messages=[
            Message(role="system", content="The user is in Europe."),
            Message(role="user", content="Weather in Paris and Rome?"),
            Message(
                role="assistant",
                content="Checking both.",
                tool_calls=[
                    ToolCall(id="toolu_1", name="get_weather", arguments={"city": "Paris"}),
                    ToolCall(id="toolu_2", name="get_weather", invalid_arguments="{city"),
                ],
            ),
            Message(role="tool", tool_call_id="toolu_1", content="18C"),
            Message(role="tool", tool_call_id="toolu_2", content="error: arguments not JSON"),
            Message(role="user", content="Also, be brief."),
        ],
        tools=[WEATHER, TIME],
        settings=ModelSettings(temperature=0.2, seed=3),
    )


async def test_request_builds_system_blocks_tools_and_grouped_tool_results(
    server: FakeServer, model: AnthropicModel
) -> None:
    """Cache breakpoints sit on the last tool and the last system block, nowhere else."""
    server.add_json(message([{"type": "text", "text": "Paris 18C."}]))
    await model.complete(conversation())

    assert server.requests[0].url.path == "/v1/messages"
    body = server.body()
    assert body["model"] == "claude-haiku-4-5"
    assert body["max_tokens"] == 1024
    assert body["temperature"] == 0.2
    assert "seed" not in body
    assert body["system"] == [
        # Tools are offered, so the instructions end with the untrusted-data notice.
        {"type": "text", "text": f"You are a weather bot.\n\n{UNTRUSTED_DATA_NOTICE}"},
        {"type": "text", "text": "The user is in Europe.", "cache_control": EPHEMERAL},
    ]
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "input_schema": WEATHER.parameters,
        },
        {
            "name": "get_time",
            "description": "Current time.",
            "input_schema": {"type": "object", "properties": {}},
            "cache_control": EPHEMERAL,
        },
    ]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking both."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {}},
            ],
        },
        {
            # Both results and the following user text share one user turn, results first.
            "role": "user",
            "content": [
                # Tool results travel as delimited untrusted data.
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": render_tool_output(None, "18C"),
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": render_tool_output(None, "error: arguments not JSON"),
                },
                {"type": "text", "text": "Also, be brief."},
            ],
        },
    ]


async def test_cache_messages_adds_a_breakpoint_on_the_newest_block(
    server: FakeServer,
) -> None:
    sdk = anthropic.AsyncAnthropic(api_key="k", http_client=server.client(), max_retries=0)
    server.add_json(message([{"type": "text", "text": "ok"}]))
    try:
        model = AnthropicModel("claude-haiku-4-5", client=sdk, cache_messages=True, max_tokens=64)
        await model.complete(conversation())
    finally:
        await sdk.close()
    body = server.body()
    assert body["max_tokens"] == 64
    last_turn = body["messages"][-1]["content"]
    assert last_turn[-1]["cache_control"] == EPHEMERAL
    assert all("cache_control" not in block for block in last_turn[:-1])


async def test_mid_conversation_system_message_and_output_schema(
    server: FakeServer, model: AnthropicModel
) -> None:
    server.add_json(message([{"type": "text", "text": '{"ok": true}'}]))
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    await model.complete(
        ModelRequest(
            messages=[
                Message(role="user", content="hi"),
                Message(role="assistant", content="hello"),
                Message(role="system", content="Answer in JSON."),
            ],
            output_schema=schema,
            settings=ModelSettings(max_tokens=10),
        )
    )
    body = server.body()
    assert "system" not in body
    assert body["max_tokens"] == 10
    assert body["messages"][-1] == {
        "role": "user",
        "content": [{"type": "text", "text": "<system>\nAnswer in JSON.\n</system>"}],
    }
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


async def test_response_with_text_tool_use_and_cache_usage(
    server: FakeServer, model: AnthropicModel
) -> None:
    """Input tokens include cache reads and writes; each is also reported on its own."""
    server.add_json(
        message(
            [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "toolu_9",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
            ],
            stop="tool_use",
            input_tokens=20,
            output_tokens=40,
            cache_read_input_tokens=1500,
            cache_creation_input_tokens=300,
        )
    )
    response = await model.complete(conversation())
    assert response == ModelResponse(
        text="Let me check.",
        tool_calls=[ToolCall(id="toolu_9", name="get_weather", arguments={"city": "Paris"})],
        usage=Usage(
            input_tokens=1820, output_tokens=40, cached_input_tokens=1500, cache_write_tokens=300
        ),
        finish_reason="tool_calls",
        model="anthropic:claude-haiku-4-5",
    )


@pytest.mark.parametrize(
    ("stop", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
    ],
)
async def test_stop_reasons_map(
    server: FakeServer, model: AnthropicModel, stop: str, expected: str
) -> None:
    server.add_json(message([{"type": "text", "text": "x"}], stop=stop))
    response = await model.complete(ModelRequest(messages=[Message(role="user", content="hi")]))
    assert response.finish_reason == expected


def documented_stream(tool_json: list[str]) -> str:
    """A text block then a tool_use block, as in Anthropic's streaming documentation."""
    return sse_events(
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_01",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-haiku-4-5",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 472,
                        "cache_read_input_tokens": 2000,
                        "cache_creation_input_tokens": 0,
                        "output_tokens": 2,
                    },
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Okay"},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": ", checking."},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "get_weather",
                    "input": {},
                },
            },
        ),
        *(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": part},
                },
            )
            for part in tool_json
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 89},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    )


async def test_stream_yields_text_and_input_json_then_the_whole_reply(
    server: FakeServer, model: AnthropicModel
) -> None:
    server.add_sse(documented_stream(["", '{"city":', ' "Paris"}']))
    items = [item async for item in model.stream(conversation())]

    assert server.body()["stream"] is True
    deltas = [item for item in items if isinstance(item, StreamDelta)]
    assert [
        (d.kind, d.text, d.tool_call_index, d.tool_name, d.arguments_fragment) for d in deltas
    ] == [
        ("text", "Okay", 0, None, ""),
        ("text", ", checking.", 0, None, ""),
        ("tool_call", "", 0, "get_weather", ""),
        ("tool_call", "", 0, None, ""),
        ("tool_call", "", 0, None, '{"city":'),
        ("tool_call", "", 0, None, ' "Paris"}'),
    ]
    assert items[-1] == ModelResponse(
        text="Okay, checking.",
        tool_calls=[ToolCall(id="toolu_01", name="get_weather", arguments={"city": "Paris"})],
        usage=Usage(input_tokens=2472, output_tokens=89, cached_input_tokens=2000),
        finish_reason="tool_calls",
        model="anthropic:claude-haiku-4-5",
    )


async def test_stream_with_unparsable_tool_input_keeps_the_raw_text(
    server: FakeServer, model: AnthropicModel
) -> None:
    server.add_sse(documented_stream(['{"city": Par']))
    items = [item async for item in model.stream(conversation())]
    final = items[-1]
    assert isinstance(final, ModelResponse)
    assert final.tool_calls == [
        ToolCall(id="toolu_01", name="get_weather", invalid_arguments='{"city": Par')
    ]


async def test_stream_error_event_is_classified(server: FakeServer, model: AnthropicModel) -> None:
    """An ``error`` event mid-stream (HTTP status 200) is classified by its error type."""
    text = documented_stream([]).split("event: content_block_stop")[0] + sse_events(
        ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    )
    server.add_sse(text)
    with pytest.raises(ModelError) as info:
        async for _ in model.stream(conversation()):
            pass
    assert (info.value.error_code, info.value.retryable) == ("overloaded", True)


async def test_stream_cut_off_before_message_stop_is_malformed(
    server: FakeServer, model: AnthropicModel
) -> None:
    server.add_sse(documented_stream([]).split("event: message_delta")[0])
    with pytest.raises(ModelError) as info:
        async for _ in model.stream(conversation()):
            pass
    assert (info.value.error_code, info.value.retryable) == ("malformed_response", True)


def api_error(type_: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message}}


@pytest.mark.parametrize(
    ("status", "body", "headers", "code", "retryable", "retry_after"),
    [
        (529, api_error("overloaded_error", "Overloaded"), {}, "overloaded", True, None),
        (
            429,
            api_error("rate_limit_error", "Number of request tokens has exceeded your limit"),
            {"retry-after": "12"},
            "rate_limited",
            True,
            12.0,
        ),
        (500, api_error("api_error", "Internal server error"), {}, "server_error", True, None),
        (401, api_error("authentication_error", "invalid x-api-key"), {}, "auth", False, None),
        (403, api_error("permission_error", "no access"), {}, "auth", False, None),
        (
            400,
            api_error(
                "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"
            ),
            {},
            "context_length",
            False,
            None,
        ),
        (
            400,
            api_error("invalid_request_error", "messages: text content blocks must be non-empty"),
            {},
            "invalid_request",
            False,
            None,
        ),
    ],
)
async def test_http_errors_are_classified(
    server: FakeServer,
    model: AnthropicModel,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    code: str,
    retryable: bool,
    retry_after: float | None,
) -> None:
    server.add_json(body, status=status, headers=headers)
    with pytest.raises(ModelError) as info:
        await model.complete(conversation())
    error = info.value
    assert (error.error_code, error.retryable, error.retry_after) == (code, retryable, retry_after)
    assert error.status_code == status
    assert error.context["provider"] == "anthropic"
    assert len(server.requests) == 1  # no hidden SDK retries


def test_model_id_and_missing_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    model: ModelClient = AnthropicModel("claude-haiku-4-5")  # also checked statically by mypy
    assert model.model_id == "anthropic:claude-haiku-4-5"
    assert (
        AnthropicModel("claude-haiku-4-5", base_url="https://gw.example/v1").model_id
        == "anthropic:claude-haiku-4-5@https://gw.example/v1"
    )
    monkeypatch.setitem(__import__("sys").modules, "anthropic", None)
    with pytest.raises(MissingExtraError, match=r"tether-runtime\[anthropic\]"):
        AnthropicModel("claude-haiku-4-5")


def _nested(depth: int) -> Any:
    value: Any = "Paris"
    for _ in range(depth):
        value = {"city": value}
    return value


async def test_tool_input_nested_600_deep_becomes_invalid_arguments(
    server: FakeServer, model: AnthropicModel
) -> None:
    """A parsed ``input`` past 64 levels is kept as text for the executor to report, so the
    recorded call never holds data too deep to serialize."""
    server.add_json(
        message(
            [
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": _nested(600)},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": _nested(63)},
            ],
            stop="tool_use",
        )
    )
    response = await model.complete(conversation())
    deep, shallow = response.tool_calls
    assert deep.arguments == {}
    assert deep.invalid_arguments is not None
    assert deep.invalid_arguments.startswith('{"city": {"city": ')
    assert shallow.invalid_arguments is None and shallow.arguments == _nested(63)


def test_tool_input_too_deep_for_json_dumps_gets_a_placeholder() -> None:
    """Input nested 100,000 deep (beyond what ``json.dumps`` can write) still parses."""
    from tether.models._anthropic import parse_message

    reply = message(
        [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": _nested(100_000)}],
        stop="tool_use",
    )
    [call] = parse_message(reply, "anthropic:claude").tool_calls
    assert call.invalid_arguments == "<dict nested deeper than 64 levels>"


async def test_streamed_tool_input_nested_1000_deep_becomes_invalid_arguments(
    server: FakeServer, model: AnthropicModel
) -> None:
    """``input_json_delta`` text nested past ``json``'s recursion limit is kept as raw text."""
    deep = '{"city": ' + "[" * 1000 + "]" * 1000 + "}"
    server.add_sse(documented_stream([deep[:500], deep[500:]]))
    items = [item async for item in model.stream(conversation())]
    final = items[-1]
    assert isinstance(final, ModelResponse)
    assert final.tool_calls == [ToolCall(id="toolu_01", name="get_weather", invalid_arguments=deep)]
