"""OpenAIModel against a real OpenAI-compatible server: llama-cpp-python's ``llama_cpp.server``.

The server runs SmolLM2-135M (see the ``llama_server`` fixture in ``conftest.py``)
with ``--chat_format chatml-function-calling``. Sampling is greedy
(``temperature=0``) and replies are capped at a few dozen tokens, so each call
takes seconds. A 135M model answers badly; these tests check the wire, not
the wisdom: what the adapter sends is accepted, what the server returns is
parsed, and failures are classified.

What this server does differently from OpenAI (asserted or allowed for below):

- tools are only used when ``tool_choice`` is sent (a ``ModelSettings`` extra,
  passed through as ``extra_body``); without it the reply is plain text;
- an assistant message with tool calls must have string ``content`` (the
  adapter sends ``""`` to compatible servers; ``null`` gets a 500);
- the chatml-function-calling template does not show ``tool`` messages to the
  model, so the answer after a tool result cannot use it;
- ``stream_options.include_usage`` is ignored: a streamed reply has no usage,
  and no reply reports ``prompt_tokens_details`` (cached tokens stay 0).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("openai")

from tether import Agent, Runtime, tool
from tether.exceptions import ModelError
from tether.models._openai import OpenAIModel
from tether.models._types import (
    Message,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    StreamDelta,
    ToolSpec,
    Usage,
)

pytestmark = pytest.mark.slow

MODEL = "smollm2"
# Seconds per request: generous, since CI machines may be busy; a hang fails, not waits.
REQUEST_TIMEOUT = 90.0
GREEDY = ModelSettings(temperature=0.0, max_tokens=32, seed=7)
INSTRUCTIONS = "You are a customer support agent. Answer in one short sentence."

LOOKUP_ORDER = ToolSpec(
    name="lookup_order",
    description="Look up an order by its id.",
    parameters={
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"],
    },
)
FORCE_LOOKUP = {"type": "function", "function": {"name": "lookup_order"}}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def openai_model(base_url: str, timeout: float = REQUEST_TIMEOUT) -> OpenAIModel:
    return OpenAIModel(MODEL, base_url=base_url, timeout=timeout)


def ask(text: str, **changes: Any) -> ModelRequest:
    return ModelRequest(
        instructions=INSTRUCTIONS,
        messages=[Message(role="user", content=text)],
        settings=GREEDY,
    ).model_copy(update=changes)


def assert_counted(usage: Usage) -> None:
    assert usage.input_tokens > 0
    assert usage.output_tokens > 0
    assert isinstance(usage.cached_input_tokens, int)
    assert usage.cached_input_tokens >= 0


# ----------------------------------------------------------------------------- replies


async def test_complete_returns_text_and_usage(llama_server: str) -> None:
    async with openai_model(llama_server) as model:
        reply = await model.complete(ask("What is the capital of France?"))

    assert reply.text is not None and reply.text.strip()
    assert reply.tool_calls == []
    assert reply.finish_reason in ("stop", "length")
    assert reply.model == f"openai:{MODEL}@{llama_server}"
    assert_counted(reply.usage)


async def test_forced_tool_call_and_tool_result_round_trip(llama_server: str) -> None:
    """A forced call parses into a ToolCall; the history with its result is accepted."""
    forced = GREEDY.model_copy(update={"tool_choice": FORCE_LOOKUP})
    request = ask("Where is my order 1234?", tools=[LOOKUP_ORDER], settings=forced)
    async with openai_model(llama_server) as model:
        first = await model.complete(request)

        assert first.finish_reason == "tool_calls"
        assert [call.name for call in first.tool_calls] == ["lookup_order"]
        call = first.tool_calls[0]
        assert call.id
        assert call.invalid_arguments is None  # grammar-constrained JSON
        assert isinstance(call.arguments, dict)
        assert isinstance(call.arguments.get("order_id"), str)
        assert_counted(first.usage)

        # Send the result back; without tool_choice this server answers in text.
        history = [
            *request.messages,
            Message(role="assistant", content=None, tool_calls=[call]),
            Message(
                role="tool",
                tool_call_id=call.id,
                content=json.dumps({"order_id": call.arguments["order_id"], "status": "shipped"}),
            ),
        ]
        second = await model.complete(
            request.model_copy(update={"messages": history, "settings": GREEDY})
        )

    assert second.tool_calls == []
    assert second.text is not None and second.text.strip()
    assert second.finish_reason in ("stop", "length")
    assert_counted(second.usage)


async def test_stream_yields_text_deltas_then_the_assembled_reply(llama_server: str) -> None:
    pieces: list[StreamDelta | ModelResponse] = []
    async with openai_model(llama_server) as model:
        async for piece in model.stream(ask("Say hello to a customer.")):
            pieces.append(piece)

    *deltas, final = pieces
    assert isinstance(final, ModelResponse)
    assert all(isinstance(delta, StreamDelta) for delta in deltas)
    texts = [d.text for d in deltas if isinstance(d, StreamDelta) and d.kind == "text"]
    assert texts, "no text delta was streamed"
    assert final.text == "".join(texts)
    assert final.tool_calls == []
    assert final.finish_reason in ("stop", "length")
    # llama-cpp-python ignores stream_options.include_usage; servers that honour it
    # (OpenAI, vLLM, llama.cpp's C++ llama-server) must report real counts.
    if final.usage != Usage():
        assert_counted(final.usage)


# ----------------------------------------------------------------------------- errors


async def test_unknown_path_is_a_non_retryable_invalid_request(llama_server: str) -> None:
    wrong = llama_server.removesuffix("/v1") + "/v2"
    async with openai_model(wrong) as model:
        with pytest.raises(ModelError) as info:
            await model.complete(ask("hi"))
        with pytest.raises(ModelError) as streamed:
            async for _ in model.stream(ask("hi")):
                pass
    for error in (info.value, streamed.value):
        assert (error.error_code, error.retryable, error.status_code) == (
            "invalid_request",
            False,
            404,
        )


async def test_prompt_longer_than_the_window_is_context_length(llama_server: str) -> None:
    """The server's own check (n_ctx=2048) answers 400 ``context_length_exceeded``."""
    async with openai_model(llama_server) as model:
        with pytest.raises(ModelError) as info:
            await model.complete(ask("hello " * 3000, settings=ModelSettings(max_tokens=8)))
    assert (info.value.error_code, info.value.retryable, info.value.status_code) == (
        "context_length",
        False,
        400,
    )


async def test_closed_port_is_a_retryable_connection_error_not_a_timeout() -> None:
    """A refused connection is classified as such (not waited out as a timeout)."""
    async with openai_model(f"http://127.0.0.1:{closed_port()}/v1", timeout=5) as model:
        with pytest.raises(ModelError) as info:
            await model.complete(ask("hi"))
    assert (info.value.error_code, info.value.retryable) == ("connection", True)


# ----------------------------------------------------------------------------- end to end


@tool
async def lookup_order(order_id: str) -> dict[str, str]:
    """Look up an order by its id.

    Args:
        order_id: The order number, e.g. "1234".
    """
    return {"order_id": order_id, "status": "shipped"}


async def run_agent(agent: Agent, tmp_path: Path) -> tuple[Any, list[Any]]:
    """Run ``agent`` on a fresh SQLite store; return its result and event log."""
    client = agent.client
    assert isinstance(client, OpenAIModel)
    try:
        async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
            run = await rt.start(agent, "Where is my order 1234?")
            result = await run.result(timeout=120)
            events = [e async for e in run.events(follow=False)]
    finally:
        await client.aclose()
    return result, events


def assert_stopped_with_a_reason(result: Any, events: list[Any]) -> None:
    assert result.status in ("completed", "failed")
    if result.status == "failed":
        assert result.error and result.error.error_code, result.error
    finished = [e.event for e in events if e.type == "run.finished"]
    assert [f.status for f in finished] == [result.status]
    completed = [e.event for e in events if e.type == "model.completed"]
    assert completed
    for event in completed:
        assert_counted(event.response.usage)
    assert result.usage.input_tokens == sum(e.response.usage.input_tokens for e in completed)
    # The server accepted every request (a timeout on a very busy machine is not a rejection).
    rejected = [e.event for e in events if e.type == "model.failed"]
    assert all(e.error_code == "timeout" for e in rejected), rejected


async def test_agent_run_through_the_runtime_reaches_a_terminal_status(
    llama_server: str, tmp_path: Path
) -> None:
    """Agent(model="openai:smollm2@...") end to end; tools unused without ``tool_choice``."""
    agent = Agent(
        name="smollm2_support",
        instructions=INSTRUCTIONS,
        model=f"openai:{MODEL}@{llama_server}",
        tools=[lookup_order],
        max_turns=3,
        model_settings=GREEDY,
    )
    result, events = await run_agent(agent, tmp_path)

    assert_stopped_with_a_reason(result, events)


async def test_agent_run_executes_tool_calls_and_replays_them_to_the_server(
    llama_server: str, tmp_path: Path
) -> None:
    """Forced tool calls every turn: the tool runs, its history is accepted, max_turns ends it.

    The second model call carries the assistant tool-call message and the tool
    result; llama-cpp-python's server rejects that history (500) unless the adapter sends
    string ``content`` with the tool calls.
    """
    agent = Agent(
        name="smollm2_forced",
        instructions=INSTRUCTIONS,
        model=f"openai:{MODEL}@{llama_server}",
        tools=[lookup_order],
        max_turns=2,
        model_settings=GREEDY.model_copy(update={"tool_choice": FORCE_LOOKUP}),
    )
    result, events = await run_agent(agent, tmp_path)

    assert_stopped_with_a_reason(result, events)
    assert len([e for e in events if e.type == "model.completed"]) == 2
    tool_results = [e.event for e in events if e.type == "tool.completed"]
    assert tool_results and tool_results[0].tool == "lookup_order"
    assert tool_results[0].result["status"] == "shipped"
    assert result.status == "failed"
    assert result.error.error_code == "max_turns_exceeded"
