"""Group commit, counted: concurrent runs share commits instead of paying one each.

The README promises that "1,000 runs committing at once cost one fsync, not
1,000". Completed runs alone cannot show that: one commit per write finishes
them too, only slower. These tests count the writer's transactions, so a slide
back to one commit per write fails here, with no clock involved.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tether import Agent, Runtime, tool
from tether.models import ModelRequest
from tether.store._sqlite import SQLiteStore
from tether.testing import ScriptedModel, text, tool_call

RUNS = 1_000


@tool
def lookup_order(order_id: str) -> dict[str, str]:
    """Look up an order."""
    return {"order_id": order_id, "status": "shipped"}


def _script(req: ModelRequest) -> Any:
    if req.messages[-1].role == "tool":
        return text("it shipped")
    return tool_call("lookup_order", order_id="1234")


async def test_a_thousand_concurrent_runs_share_commits(store_url: str) -> None:
    """1,000 runs, each a tool call and an answer, cost at most one commit per ten writes."""
    agent = Agent(
        name="grouped", model=ScriptedModel(_script, keep_requests=False), tools=[lookup_order]
    )
    async with Runtime(store_url, recover=False) as rt:
        store = rt.store
        assert isinstance(store, SQLiteStore)
        commits_before, writes_before = store.commit_count, store.write_count
        handles = await asyncio.gather(*(rt.start(agent, f"order {i}") for i in range(RUNS)))
        results = await asyncio.gather(*(h.result() for h in handles))
        commits = store.commit_count - commits_before
        writes = store.write_count - writes_before
    assert [r.status for r in results] == ["completed"] * RUNS
    assert all(r.usage.tool_calls == 1 for r in results)
    # Every run is created, then commits its steps: at least two writes per run.
    assert writes >= 2 * RUNS, (writes, commits)
    assert commits <= writes / 10, f"{commits} commits for {writes} writes: group commit is off"


async def test_counters_count_commits_and_the_writes_they_carry(store_url: str) -> None:
    """A write on an idle store is one commit carrying one write."""
    async with Runtime(store_url, recover=False) as rt:
        store = rt.store
        assert isinstance(store, SQLiteStore)
        before = (store.commit_count, store.write_count)
        await store.set_flag("probe", "1")
        assert (store.commit_count, store.write_count) == (before[0] + 1, before[1] + 1)
