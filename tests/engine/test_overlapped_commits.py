"""A step's commit overlaps the next step, but never an effect outside the process.

At a step boundary the driver hands the batch to the store and goes on: the next
model call and read-only tool calls run while the fsync is in flight (a sequential
run's turn costs about one commit latency less). What must be durable first still
is: a write tool runs only after its ``tool.started`` (and everything before it) has
landed; a run's result is reported only once its whole log has; commits of one run
land in order.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tether import Agent, Runtime, tool
from tether.models import ModelRequest
from tether.store import EventRow, RunUpdate, open_store
from tether.testing import ScriptedModel, text, tool_call

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "store"))
from _faulty import FaultyStore


class SlowStore(FaultyStore):
    """Every append takes 30 ms (a slow disk); remembers what had landed when."""

    def __init__(self, url: str) -> None:
        super().__init__(open_store(url), lambda *_: None)
        self.landed: dict[str, int] = {}
        self.in_flight = 0

    async def append(
        self,
        run_id: str,
        events: Sequence[EventRow],
        update: RunUpdate | None = None,
        *,
        owner: str | None = None,
    ) -> None:
        assert events[0].seq == self.landed.get(run_id, 1) + 1, "commits of a run land in order"
        self.in_flight += 1
        try:
            await asyncio.sleep(0.03)
            await super().append(run_id, events, update, owner=owner)
        finally:
            self.in_flight -= 1
        self.landed[run_id] = events[-1].seq


async def test_reads_overlap_commits_and_writes_wait_for_them(store_url: str) -> None:
    store = SlowStore(store_url)
    seen: list[tuple[str, int, int]] = []
    """(what ran, the run's last landed seq, commits in flight) at the moment it ran."""
    run_id = ""

    def note(what: str) -> None:
        seen.append((what, store.landed.get(run_id, 1), store.in_flight))

    @tool
    def lookup(order_id: str) -> str:
        """Look an order up."""
        note("lookup")
        return f"order {order_id}: shipped"

    @tool(effect="write")
    def refund(order_id: str) -> str:
        """Refund an order."""
        note("refund")
        return f"refunded {order_id}"

    replies = [
        tool_call("lookup", order_id="1"),
        tool_call("lookup", order_id="2"),
        tool_call("refund", order_id="2"),
        text("done"),
    ]

    def script(request: ModelRequest) -> Any:
        turn = sum(m.role == "assistant" for m in request.messages)
        note(f"model {turn}")
        return replies[turn]

    agent = Agent(name="overlap", model=ScriptedModel(script), tools=[lookup, refund])
    async with Runtime(store) as rt:
        run = await rt.start(agent, "refund order 2 if it shipped")
        run_id = run.run_id
        result = await run.result(timeout=30)
        assert result.status == "completed"
        state = await run.state()
        # Reported only once everything landed.
        assert store.landed[run_id] == state.last_seq
        assert store.in_flight == 0
        events = [e async for e in run.events(follow=False)]
    started = next(e.seq for e in events if e.event.type == "tool.started")
    refund_seen = next(s for s in seen if s[0] == "refund")
    # The write ran after its tool.started (and all before it) was durable...
    assert refund_seen[1] >= started
    # ...while the steps after a read-only step overlapped that step's commit.
    overlapped = [s for s in seen if s[0] != "refund" and s[2] > 0]
    assert overlapped, seen


async def test_a_commit_that_fails_in_flight_fails_the_next_step_not_the_log(
    store_url: str,
) -> None:
    """An overlapped commit that fails for good surfaces at the next flush; the run
    then resumes from the log, and the log has no gap."""
    failed = False

    def plan(n: int, run_id: str, events: Sequence[EventRow]) -> str | None:
        nonlocal failed
        if not failed and any(e.type == "transition" for e in events) and n >= 2:
            failed = True
            return "permanent"
        return None

    lookups: list[str] = []

    @tool
    def lookup(order_id: str) -> str:
        """Look an order up."""
        lookups.append(order_id)
        return f"order {order_id}: shipped"

    agent = Agent(
        name="overlap-fail",
        model=ScriptedModel(
            [tool_call("lookup", order_id="1"), tool_call("lookup", order_id="2"), text("ok")]
        ),
        tools=[lookup],
    )
    store = FaultyStore(open_store(store_url), plan)
    async with Runtime(store) as rt:
        run = await rt.start(agent, "look up 1 and 2")
        result = await run.result(timeout=30)
        assert result.status == "completed"
        events = [e async for e in run.events(follow=False)]
    assert failed
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert sum(e.event.type == "tool.completed" for e in events) == 2
