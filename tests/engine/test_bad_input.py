"""Bad input never kills a run: hostile tool results and arguments become errors the model sees.

A real agent on a real SQLite store, a scripted model that sends a 1000-deep argument
text (through the same parser the provider adapters use), and tools that return an endless
generator, a 600-deep dict and a 5 MB string. The run must complete, with every problem
recorded as a structured ``tool.failed`` error and shown to the model on its next turn.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tether import Agent, Runtime, tool
from tether.engine import ToolFailed
from tether.models._types import ModelRequest, ModelResponse
from tether.models._wire import tool_call_from_json
from tether.testing import ScriptedModel, text


@tool
def endless() -> Iterator[dict[str, int]]:
    """Stream readings forever."""
    n = 0
    while True:
        n += 1
        yield {"reading": n}


@tool
def deep() -> Any:
    """Return a tree."""
    value: Any = "leaf"
    for _ in range(600):
        value = {"child": value}
    return value


@tool
async def huge() -> str:
    """Return a big document."""
    return "x" * 5_000_000


@tool
def echo(payload: Any = None) -> str:
    """Echo a payload."""
    return "echoed"


DEEP_ARGUMENTS = '{"payload": ' + "[" * 1000 + "]" * 1000 + "}"


async def test_hostile_results_and_arguments_become_errors_and_the_run_completes(
    store_url: str,
) -> None:
    """An endless generator, a 600-deep result, a 5 MB result and 1000-deep arguments:
    the run completes and the model saw one structured error per call."""
    seen: list[dict[str, Any]] = []

    def script(request: ModelRequest) -> Any:
        if request.messages[-1].role == "tool":
            seen.extend(
                {"tool": m.name, **json.loads(m.content or "{}")}
                for m in request.messages
                if m.role == "tool"
            )
            return text("All four tools failed; I will answer without them.")
        return ModelResponse(
            tool_calls=[
                tool_call_from_json("", "endless", "{}"),
                tool_call_from_json("", "deep", ""),
                tool_call_from_json("", "huge", None),
                tool_call_from_json("", "echo", DEEP_ARGUMENTS),
            ],
            finish_reason="tool_calls",
        )

    agent = Agent(
        name="bad-input",
        model=ScriptedModel(script),
        tools=[endless, deep, huge, echo],
    )
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "Use every tool.")
        result = await run.result(timeout=60)
        events = [e async for e in run.events(follow=False)]

    assert result.status == "completed"
    assert result.output == "All four tools failed; I will answer without them."
    failures = {e.event.tool: e.event.error for e in events if isinstance(e.event, ToolFailed)}
    assert {tool: error.error_code for tool, error in failures.items()} == {
        "endless": "result_too_large",
        "deep": "unserializable_result",
        "huge": "result_too_large",
        "echo": "invalid_arguments",
    }
    assert "nested deeper than 64 levels" in failures["echo"].message
    assert "nested deeper than 100 levels" in failures["deep"].message
    # The model was shown the same errors, in the {"error_code", "message", ...} shape.
    assert sorted(m["tool"] for m in seen) == ["deep", "echo", "endless", "huge"]
    for shown in seen:
        assert shown["error_code"] == failures[shown["tool"]].error_code
        assert {"error_code", "message", "retryable"} <= shown.keys()
        assert shown["hint"]
