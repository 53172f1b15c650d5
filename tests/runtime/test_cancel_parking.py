"""A cancel that arrives while a run parks is applied, never dropped (red team 5, hole 1).

``signal("cancel")`` leaves a ``cancel:<run>`` request in the store when another process
drives the run. If the run parks (waits for an approval) before that process's cancel
loop looks, the loop used to delete the request as "nothing to cancel": the run stayed
``waiting`` and a later approval executed the refund the user had cancelled.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from tether import Agent, Runtime, ToolContext, tool
from tether.engine import SignalReceived
from tether.models import ModelRequest
from tether.testing import ScriptedModel, text, tool_call


async def _until(predicate: Callable[[], Any], *, tries: int = 2000) -> None:
    for _ in range(tries):
        if await predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


def _refunder(gate: asyncio.Event | None = None, started: asyncio.Event | None = None) -> Agent:
    @tool(retry=None)
    async def lookup(n: int) -> str:
        """A read that waits for the test."""
        if started is not None:
            started.set()
        if gate is not None:
            await gate.wait()
        return f"found {n}"

    @tool(effect="write", idempotent=True, requires_approval=True, retry=None)
    def refund(order_id: str, ctx: ToolContext) -> str:
        """Refund (needs approval)."""
        return f"refunded {order_id}"

    def plan(req: ModelRequest) -> Any:
        tools = [m for m in req.messages if m.role == "tool"]
        if not tools:
            return tool_call("lookup", n=1)
        if len(tools) == 1:
            return tool_call("refund", order_id="o1")
        return text("done")

    return Agent(name="parker", model=ScriptedModel(plan), tools=[lookup, refund], max_turns=6)


async def _cancel_signals(rt: Runtime, run_id: str) -> list[SignalReceived]:
    return [
        e.event
        async for e in rt.get(run_id).events(follow=False)
        if isinstance(e.event, SignalReceived) and e.event.name == "cancel"
    ]


async def test_a_cancel_request_found_on_a_parked_run_cancels_it(store_url: str) -> None:
    """The cancel loop serves a request for a run that parked: it cancels it, and deletes
    the request only then (it used to delete it as "nothing to cancel")."""
    agent = _refunder()
    worker = Runtime(store_url, agents=[agent])
    worker._cancel_interval = 0.05
    async with worker, Runtime(store_url, worker=False) as client:
        run = await worker.start(agent, "please refund")
        parked = await run.result(timeout=30)
        assert parked.status == "waiting"
        # What signal() leaves when it saw the run driven by another process a moment
        # before it parked.
        flag = f"cancel:{run.run_id}"
        await client.store.set_flag(flag, json.dumps({"reason": "user pressed", "by": "ann"}))

        async def served() -> bool:
            return await client.store.get_flag(flag) is None

        await _until(served)
        record = await client.get_run(run.run_id)
        assert record is not None and record.status == "cancelled"
        signals = await _cancel_signals(client, run.run_id)
        assert [(s.payload, s.by) for s in signals] == [({"reason": "user pressed"}, "ann")]


async def test_a_cancel_sent_from_another_process_during_the_parking_step_is_applied(
    store_url: str,
) -> None:
    """The request is read once when the run parks, so it takes effect even if the cancel
    loop never looks (here its interval is an hour)."""
    gate, started = asyncio.Event(), asyncio.Event()
    agent = _refunder(gate, started)
    worker = Runtime(store_url, agents=[agent])
    worker._cancel_interval = 3600.0
    async with worker, Runtime(store_url, worker=False) as client:
        run = await worker.start(agent, "please refund")
        await asyncio.wait_for(started.wait(), 30)
        record = await client.get_run(run.run_id)
        assert record is not None and record.lease_owner == worker.owner
        await client.cancel(run.run_id, reason="user pressed cancel")  # leaves a request
        assert await client.store.get_flag(f"cancel:{run.run_id}") is not None
        gate.set()
        result = await run.result(timeout=30)
        assert result.status == "cancelled"
        record = await client.get_run(run.run_id)
        assert record is not None and record.status == "cancelled"
        assert await client.store.get_flag(f"cancel:{run.run_id}") is None
        with_reason = await _cancel_signals(client, run.run_id)
        assert [s.payload for s in with_reason] == [{"reason": "user pressed cancel"}]


async def test_a_cancel_during_a_model_call_of_the_parking_step_is_applied(
    store_url: str,
) -> None:
    """A local cancel while the model answers (nothing to interrupt) used to be lost when
    the step then parked for an approval."""
    thinking, answer = asyncio.Event(), asyncio.Event()

    @tool(effect="write", idempotent=True, requires_approval=True, retry=None)
    def refund(order_id: str, ctx: ToolContext) -> str:
        """Refund (needs approval)."""
        return f"refunded {order_id}"

    async def plan(req: ModelRequest) -> Any:
        if any(m.role == "tool" for m in req.messages):
            return text("done")
        thinking.set()
        await answer.wait()
        return tool_call("refund", order_id="o1")

    agent = Agent(name="slow_thinker", model=ScriptedModel(plan), tools=[refund], max_turns=4)
    async with Runtime(store_url, agents=[agent]) as rt:
        run = await rt.start(agent, "please refund")
        await asyncio.wait_for(thinking.wait(), 30)
        await rt.cancel(run.run_id, reason="changed my mind")
        answer.set()
        result = await run.result(timeout=30)
        assert result.status == "cancelled"
        record = await rt.get_run(run.run_id)
        assert record is not None and record.status == "cancelled"
        assert record.lease_owner is None
