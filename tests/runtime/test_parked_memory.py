"""A parked run holds no task and no driver in memory: only its rows in the store.

Issue 10, item 6 (the footprint is measured in ``benchmarks/concurrency.py``).
"""

from __future__ import annotations

import asyncio
import gc

from tether import Agent, Runtime, tool
from tether.engine import RunDriver
from tether.testing import ScriptedModel, text, tool_call


@tool(effect="write", requires_approval=True)
async def refund(order_id: str) -> str:
    """Refund an order."""
    return f"refunded {order_id}"


def _agent() -> Agent:
    def script(request: object) -> object:
        if any(m.role == "tool" for m in request.messages):  # type: ignore[attr-defined]
            return text("refunded")
        return tool_call("refund", order_id="A1")

    return Agent(name="parker", model=ScriptedModel(script, keep_requests=False), tools=[refund])


def _drivers() -> int:
    gc.collect()
    return sum(isinstance(o, RunDriver) for o in gc.get_objects())


async def test_parked_runs_hold_no_task_or_driver_and_wake_from_the_store(
    store_url: str,
) -> None:
    agent = _agent()
    async with Runtime(store_url) as rt:
        handles = await asyncio.gather(*(rt.start(agent, f"refund {i}") for i in range(50)))
        results = await asyncio.gather(*(h.result(timeout=60) for h in handles))
        assert {r.status for r in results} == {"waiting"}
        assert rt.active_runs == frozenset()
        assert [
            t for t in asyncio.all_tasks() if (t.get_name() or "").startswith("tether-run-")
        ] == []
        assert _drivers() == 0
        # Woken from the store alone: approve each, and each completes.
        for h in handles:
            [pending] = await h.pending_approvals()
            await rt.approve(h.run_id, pending.approval_id, by="ana")
        done = await asyncio.gather(*(rt.get(h.run_id).result(timeout=60) for h in handles))
        assert {r.status for r in done} == {"completed"}
        assert rt.active_runs == frozenset()
    assert _drivers() == 0
