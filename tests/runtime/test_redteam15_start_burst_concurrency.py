"""A burst of ``start`` calls keeps ``Runtime(concurrency=N)`` (red team 15, hole 03).

``start`` decided to drive a run here from the free slots it saw *before* awaiting the
store's insert, and without reserving one: ten starts gathered at once each saw the same
free slot, so ``concurrency=2`` drove ten runs at once. Now the slot is reserved before
the first await; a start that finds none leaves its run ``pending`` for a claim pass,
and every run still completes.

The peak is counted inside the tool each run calls, not from timings.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tether import Agent, Runtime, tool
from tether.models import ModelRequest
from tether.testing import ScriptedModel, text, tool_call

_now = 0
_peak = 0


@tool(retry=None)
async def busy(n: int) -> str:
    """Counts the runs inside it at once."""
    global _now, _peak
    _now += 1
    _peak = max(_peak, _now)
    try:
        for _ in range(20):  # yield often, so every other run has the chance to enter
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)
    finally:
        _now -= 1
    return "ok"


def _plan(req: ModelRequest) -> Any:
    return text("done") if any(m.role == "tool" for m in req.messages) else tool_call("busy", n=1)


burst_agent = Agent(name="burst", model=ScriptedModel(_plan), tools=[busy], max_turns=4)


async def _burst(url: str, runs: int, concurrency: int, **kwargs: Any) -> list[str]:
    global _now, _peak
    _now = _peak = 0
    async with Runtime(
        url, agents=[burst_agent], concurrency=concurrency, claim_interval=0.05, **kwargs
    ) as rt:
        handles = await asyncio.gather(*(rt.start(burst_agent, f"task {i}") for i in range(runs)))
        assert len(rt.active_runs) <= concurrency
        results = [await h.result(timeout=60) for h in handles]
    return [r.status for r in results]


async def test_a_burst_of_starts_never_drives_more_than_concurrency(any_store_url: str) -> None:
    statuses = await _burst(any_store_url, runs=10, concurrency=2)
    assert statuses == ["completed"] * 10
    assert _peak == 2


async def test_a_burst_with_a_tenant_cap_keeps_the_slots_too(any_store_url: str) -> None:
    """The capped path (``_launch_capped``) also leaves the slots a start reserved intact."""
    statuses = await _burst(any_store_url, runs=8, concurrency=3, tenant_concurrency=5)
    assert statuses == ["completed"] * 8
    assert _peak <= 3
