"""The ReAct loop end to end on a real SQLite store, including every kind of bad input."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
from pydantic import BaseModel

from tether import Agent, Runtime, ToolCallError, tool
from tether.engine import ToolCompleted, ToolFailed
from tether.models._types import ModelRequest, ModelResponse, ToolCall
from tether.testing import ScriptedModel, text, tool_call


@tool
async def lookup_order(order_id: str) -> dict[str, str]:
    """Look up an order by id.

    Args:
        order_id: The order number.
    """
    return {"order_id": order_id, "status": "shipped"}


def _last(request: ModelRequest) -> str:
    return request.messages[-1].content or ""


async def _run(agent: Agent, store_url: str, task: str = "Where is order 1234?") -> Any:
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, task)
        result = await run.result(timeout=30)
        events = [e async for e in run.events(follow=False)]
    return result, events


def _tool_errors(events: list[Any]) -> list[dict[str, Any]]:
    return [
        e.event.error.model_dump()
        for e in events
        if isinstance(e.event, ToolFailed) and not e.event.will_retry
    ]


async def test_lookup_then_answer(store_url: str) -> None:
    """A tool call then a text answer completes with the answer and one step per turn."""

    def script(req: ModelRequest) -> Any:
        if req.messages[-1].role == "tool":
            return text(f"Status: {json.loads(_last(req))['status']}")
        return tool_call("lookup_order", order_id="1234")

    agent = Agent(name="support", model=ScriptedModel(script), tools=[lookup_order])
    result, events = await _run(agent, store_url)
    assert result.status == "completed" and result.output == "Status: shipped"
    assert result.usage.model_calls == 2 and result.usage.tool_calls == 1
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    kinds = [e.type for e in events]
    assert kinds == [
        "run.created",
        "run.status",
        "model.completed",
        "tool.completed",
        "transition",
        "model.completed",
        "run.finished",
        "run.status",
    ]


async def test_malformed_and_unknown_tool_calls_become_errors_the_model_sees(
    store_url: str,
) -> None:
    """Bad arguments, unparseable arguments and unknown tools reach the model as errors."""
    seen: list[str] = []

    def script(req: ModelRequest) -> Any:
        turn = sum(m.role == "assistant" for m in req.messages)
        if turn > 0:
            seen.append(_last(req))
        return [
            [tool_call("lookup_order", order_id=1234, extra=True)],
            ToolCall(id="", name="lookup_order", invalid_arguments='{"order_id": '),
            tool_call("refund_everything", order_id="1"),
            text("gave up"),
        ][turn]

    agent = Agent(name="support", model=ScriptedModel(script), tools=[lookup_order])
    result, events = await _run(agent, store_url)
    assert result.status == "completed"
    codes = [e["error_code"] for e in _tool_errors(events)]
    assert codes == ["invalid_arguments", "invalid_arguments", "unknown_tool"]
    for message in seen:
        payload = json.loads(message)
        assert {"error_code", "message", "retryable", "hint"} <= payload.keys()
    assert "lookup_order" in (json.loads(seen[2])["hint"] or "")


async def test_tool_that_raises_hangs_or_returns_garbage_does_not_kill_the_run(
    store_url: str,
) -> None:
    """A raising tool, a hanging tool and an unserializable result each become tool errors."""

    @tool
    def explode() -> str:
        """Always fails."""
        raise RuntimeError("disk on fire")

    @tool(timeout=0.05, retry=None)
    async def hang() -> str:
        """Never returns."""
        await asyncio.sleep(60)
        return "never"

    @tool
    def garbage() -> Any:
        """Returns something that is not JSON."""
        return {"value": math.nan, "obj": object()}

    @tool
    def refusal(order_id: str) -> str:
        """Refuses with a structured error."""
        raise ToolCallError("order is archived", hint="ask for a newer order")

    script = [
        [tool_call("explode"), tool_call("hang"), tool_call("garbage")],
        tool_call("refusal", order_id="1"),
        text("done"),
    ]
    agent = Agent(
        name="support",
        model=ScriptedModel(script),
        tools=[explode, hang, garbage, refusal],
    )
    result, events = await _run(agent, store_url)
    assert result.status == "completed" and result.output == "done"
    errors = _tool_errors(events)
    assert [e["error_code"] for e in errors] == [
        "tool_error",
        "timeout",
        "unserializable_result",
        "tool_error",
    ]
    assert "disk on fire" in errors[0]["message"]
    assert errors[3]["hint"] == "ask for a newer order"


async def test_parallel_tool_calls_run_concurrently(store_url: str) -> None:
    """Tool calls of one turn run at the same time and their results keep call order."""

    @tool
    async def slow(n: int) -> int:
        """Sleeps then echoes."""
        await asyncio.sleep(0.3)
        return n

    script = [[tool_call("slow", n=i) for i in range(4)], text("ok")]
    agent = Agent(name="par", model=ScriptedModel(script), tools=[slow])
    loop = asyncio.get_running_loop()
    started = loop.time()
    result, events = await _run(agent, store_url)
    assert loop.time() - started < 1.0
    done = [e.event for e in events if isinstance(e.event, ToolCompleted)]
    assert [d.result for d in done] == [0, 1, 2, 3]
    assert result.usage.tool_calls == 4


async def test_reply_with_neither_text_nor_tool_call_is_rejected_then_recovers(
    store_url: str,
) -> None:
    """An empty reply becomes a model.rejected event and the model is asked again."""
    script: list[Any] = [ModelResponse(text="   "), None, text("final")]
    agent = Agent(name="empty", model=ScriptedModel(script))
    result, events = await _run(agent, store_url)
    assert result.status == "completed" and result.output == "final"
    assert [e.type for e in events].count("model.rejected") == 2


async def test_unusable_scripted_reply_fails_the_run_with_a_reason(store_url: str) -> None:
    """A reply that is not text or a tool call at all ends the run failed, store consistent."""
    agent = Agent(name="bad", model=ScriptedModel([42]))  # type: ignore[list-item]
    result, events = await _run(agent, store_url)
    assert result.status == "failed"
    assert result.error.error_code == "model_malformed_response"
    assert events[-1].type == "run.status" and events[-1].event.status == "failed"


async def test_max_turns_ends_the_run(store_url: str) -> None:
    """A model that never answers stops at max_turns with a clear error code."""
    agent = Agent(
        name="loop",
        model=ScriptedModel(lambda req: tool_call("lookup_order", order_id="1")),
        tools=[lookup_order],
        max_turns=3,
    )
    result, _ = await _run(agent, store_url)
    assert result.status == "failed"
    assert result.error.error_code == "max_turns_exceeded"
    assert result.usage.model_calls == 3


class Answer(BaseModel):
    order_id: str
    status: str


async def test_output_type_is_validated_with_bounded_repairs(store_url: str) -> None:
    """An invalid final answer gets a repair turn; a valid one is returned typed."""
    script = [
        text('{"order_id": "1234"}'),
        text('```json\n{"order_id": "1234", "status": "shipped"}\n```'),
    ]
    agent = Agent(name="typed", model=ScriptedModel(script), output_type=Answer)
    result, events = await _run(agent, store_url)
    assert result.status == "completed"
    assert result.output == Answer(order_id="1234", status="shipped")
    assert [e.type for e in events].count("output.rejected") == 1

    never = Agent(
        name="typed2",
        model=ScriptedModel(lambda req: text("not json")),
        output_type=Answer,
        max_output_repairs=2,
    )
    result, events = await _run(never, store_url)
    assert result.status == "failed"
    assert result.error.error_code == "output_validation_failed"
    assert [e.type for e in events].count("output.rejected") == 2


async def test_events_stream_live_and_resume_from_a_sequence_number(store_url: str) -> None:
    """run.events() yields events as they commit; after_seq resumes without duplicates."""
    gate = asyncio.Event()

    @tool
    async def wait_gate() -> str:
        """Blocks until the test opens the gate."""
        await gate.wait()
        return "open"

    agent = Agent(
        name="live", model=ScriptedModel([tool_call("wait_gate"), text("done")]), tools=[wait_gate]
    )
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "go")
        seen: list[int] = []
        async for ev in run.events():
            seen.append(ev.seq)
            if ev.type == "run.created":
                gate.set()
        assert seen == list(range(1, len(seen) + 1))
        tail = [e.seq async for e in run.events(after_seq=3)]
        assert tail == seen[3:]
        assert (await run.result()).output == "done"


async def test_run_sync_refuses_inside_an_event_loop(store_url: str) -> None:
    """run_sync() inside a running loop names the async call to use instead."""
    from tether import UserError, run_sync

    agent = Agent(name="s", model=ScriptedModel([text("x")]))
    with pytest.raises(UserError, match=r"rt\.start"):
        run_sync(agent, "x", store=store_url)


def test_run_sync_runs_to_completion(store_url: str) -> None:
    """run_sync() runs an agent from synchronous code."""
    from tether import run_sync

    agent = Agent(name="s", model=ScriptedModel([text("hello")]))
    result = run_sync(agent, "x", store=store_url)
    assert result.status == "completed" and result.output == "hello"


async def test_token_deltas_reach_live_subscribers_and_are_never_stored(store_url: str) -> None:
    """With deltas=True a subscriber sees live fragments before the reply; the log has none."""
    from tether import LiveDelta

    agent = Agent(name="streamer", model=ScriptedModel([text("hello there")]))
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "hi")
        live = [item async for item in run.events(deltas=True)]
        stored = [e.type async for e in run.events(follow=False)]
    deltas = [i for i in live if isinstance(i, LiveDelta)]
    assert "".join(d.delta.text for d in deltas) == "hello there"
    kinds = [i.type for i in live]
    assert kinds.index("model.delta") < kinds.index("model.completed")
    assert "model.delta" not in stored
