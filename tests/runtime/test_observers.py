"""Runtime-wide observers see every commit of every run, as persisted (telemetry, metrics)."""

from __future__ import annotations

from collections.abc import Sequence

from tether import Agent, Runtime, tool
from tether.engine import RunEvent
from tether.testing import ScriptedModel, text, tool_call


async def test_observer_sees_the_whole_log_in_order_including_approvals(store_url: str) -> None:
    seen: dict[str, list[RunEvent]] = {}

    def observer(run_id: str, events: Sequence[RunEvent]) -> None:
        seen.setdefault(run_id, []).extend(events)

    def broken(run_id: str, events: Sequence[RunEvent]) -> None:
        raise RuntimeError("an observer bug must not stop a run")

    @tool(effect="write", requires_approval=True)
    def refund(order_id: str) -> str:
        """Refund an order."""
        return f"refunded {order_id}"

    agent = Agent(
        name="obs",
        model=ScriptedModel([tool_call("refund", order_id="A1"), text("done")]),
        tools=[refund],
    )
    async with Runtime(store_url, observers=[broken]) as rt:
        rt.add_observer(observer)
        run = await rt.start(agent, "refund A1")
        result = await run.result(timeout=30)
        assert result.status == "waiting"
        [pending] = await run.pending_approvals()
        await rt.approve(run.run_id, pending.approval_id, by="ana")
        result = await rt.get(run.run_id).result(timeout=30)
        assert result.status == "completed"
        stored = [e async for e in rt.get(run.run_id).events(follow=False)]
    observed = seen[run.run_id]
    assert [e.seq for e in observed] == [e.seq for e in stored]
    assert [e.event.type for e in observed] == [e.event.type for e in stored]
    assert "approval.decided" in [e.event.type for e in observed]
