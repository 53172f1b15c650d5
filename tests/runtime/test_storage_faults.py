"""A storage fault never fails or corrupts a run (issue 7, items 5 and 6).

Faults come from a wrapper around the real SQLite store (fail the Nth append before
it writes, fail with "database is locked", fail after the write but before the
acknowledgement, fail permanently once) and from a real second process that holds
``BEGIN EXCLUSIVE`` longer than the busy timeout while runs are mid-flight.
Afterwards every run completes, every log is gapless and every write ran once.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime, ToolContext, tool
from tether.engine import ToolCompleted, ToolFailed
from tether.models import ModelRequest
from tether.store import EventRow, open_store
from tether.testing import ScriptedModel, text, tool_call

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "store"))
from _faulty import FaultyStore

APPLIED: Counter[str] = Counter()
"""Effects applied, by idempotency key (a re-issue with a known key is not applied again)."""
INVOCATIONS: Counter[str] = Counter()


@tool(effect="write", idempotent=True)
async def charge(order_id: str, ctx: ToolContext) -> str:
    """Charge an order (honours the idempotency key, like a payment API)."""
    INVOCATIONS[ctx.idempotency_key] += 1
    if ctx.idempotency_key not in APPLIED:
        APPLIED[ctx.idempotency_key] += 1
    await asyncio.sleep(0.01)
    return f"charged {order_id}"


@tool
def lookup(order_id: str) -> str:
    """Look an order up."""
    return f"order {order_id} is open"


def _script(req: ModelRequest) -> Any:
    tools = [m for m in req.messages if m.role == "tool"]
    if not tools:
        return tool_call("lookup", order_id="7")
    if len(tools) == 1:
        return tool_call("charge", order_id="7")
    return text(f"done: {tools[-1].content}")


def _agent() -> Agent:
    return Agent(name="payments", model=ScriptedModel(_script), tools=[lookup, charge])


@pytest.fixture(autouse=True)
def _clear() -> None:
    APPLIED.clear()
    INVOCATIONS.clear()


async def _check_logs(rt: Runtime, run_ids: list[str]) -> None:
    for run_id in run_ids:
        rows = await rt.store.load_events(run_id)
        assert [r.seq for r in rows] == list(range(1, len(rows) + 1)), run_id
        state = await rt.load_state(run_id)
        assert state.status == "completed", (run_id, state.status, state.error)
        completed = [e for e in (await _events(rt, run_id)) if isinstance(e, ToolCompleted)]
        assert [e.tool for e in completed] == ["lookup", "charge"]


async def _events(rt: Runtime, run_id: str) -> list[Any]:
    return [e.event async for e in rt.get(run_id).events(follow=False)]


async def _run_many(store: Any, n: int) -> tuple[Runtime, list[str]]:
    rt = Runtime(store, recover=False)
    await rt.__aenter__()
    runs = [await rt.start(_agent(), f"charge {i}") for i in range(n)]
    results = await asyncio.gather(*(r.result(timeout=60) for r in runs))
    assert [r.status for r in results] == ["completed"] * n
    return rt, [r.run_id for r in runs]


async def _charges_of_one_run(tmp_path: Path, plan: Any) -> int:
    """One payments run on a store that faults as ``plan`` says: it completes with a gapless
    log and the charge applied once; how many times the charge tool was invoked."""
    store = FaultyStore(open_store(f"sqlite:///{tmp_path}/t.db"), plan)
    rt, run_ids = await _run_many(store, 1)
    try:
        await _check_logs(rt, run_ids)
    finally:
        await rt.__aexit__(None, None, None)
    (key,) = APPLIED
    assert APPLIED[key] == 1  # a re-issue carries the same key: applied once
    return INVOCATIONS[key]


@pytest.mark.parametrize("fault", ["before", "locked", "after"])
async def test_transient_append_faults_are_retried_with_the_same_batch(
    tmp_path: Path, fault: str
) -> None:
    """Every third append fails (before writing / locked / after writing): all complete."""

    def plan(n: int, run_id: str, events: Sequence[EventRow]) -> str | None:
        return fault if n % 3 == 0 else None

    store = FaultyStore(open_store(f"sqlite:///{tmp_path}/t.db"), plan)
    rt, run_ids = await _run_many(store, 12)
    try:
        assert store.injected.count(fault) >= 4
        await _check_logs(rt, run_ids)
    finally:
        await rt.__aexit__(None, None, None)
    assert sum(APPLIED.values()) == 12 and set(APPLIED.values()) == {1}
    assert sum(INVOCATIONS.values()) == 12  # the batch was kept: nothing ran twice


async def test_a_permanent_fault_resumes_the_run_from_its_log(tmp_path: Path) -> None:
    """The append carrying the write's completion fails for good once: the in-memory state
    is dropped, the run resumes from the log, and the write is re-issued with its key."""
    failed: list[int] = []

    def plan(n: int, run_id: str, events: Sequence[EventRow]) -> str | None:
        if not failed and any(e.type == "tool.completed" and b'"charge"' in e.data for e in events):
            failed.append(n)
            return "permanent"
        return None

    assert await _charges_of_one_run(tmp_path, plan) == 2  # re-issued with its key
    assert failed


async def test_a_lock_outlasting_the_retry_window_keeps_the_finished_write(
    tmp_path: Path,
) -> None:
    """The store stays locked past the driver's whole retry window just as a write's result
    is committed: the run resumes from its log with that step put back on top of it, so
    the write, which did finish, is not re-issued."""
    locked: list[int] = []

    def plan(n: int, run_id: str, events: Sequence[EventRow]) -> str | None:
        carries = any(e.type == "tool.completed" and b'"charge"' in e.data for e in events)
        if carries and len(locked) < 9:  # more than StoreRetry().attempts (6) in a row
            locked.append(n)
            return "locked"
        return None

    assert await _charges_of_one_run(tmp_path, plan) == 1  # landed, not redone
    assert len(locked) == 9


async def test_a_log_that_moved_on_while_the_store_was_down_wins(tmp_path: Path) -> None:
    """The store comes back, but the log moved on before the unlanded steps could go on top
    of it (the append is refused as a concurrent write): the run goes on from the log as
    it is, without crashing its task; the write, which did run, is re-issued with its key."""
    faults: list[str] = []

    def plan(n: int, run_id: str, events: Sequence[EventRow]) -> str | None:
        carries = any(e.type == "tool.completed" and b'"charge"' in e.data for e in events)
        if not carries or len(faults) > 6:
            return None
        faults.append("locked" if len(faults) < 6 else "conflict")
        return faults[-1]

    assert await _charges_of_one_run(tmp_path, plan) == 2  # redone from the log
    assert faults == ["locked"] * 6 + ["conflict"]


async def test_a_write_whose_intent_never_committed_is_not_left_uncertain(
    tmp_path: Path,
) -> None:
    """The commit a write waits for before it runs (its ``tool.started``) fails for longer
    than the retry window: the write never ran, so that step is not put on the log (it
    would read as a write that may have happened and park the run for a person); the run
    redoes it once the store answers, and the write runs once."""
    sends: list[str] = []

    @tool(effect="write")  # not idempotent: an uncertain write would need a person
    def send(order_id: str) -> str:
        """Send an order's parcel."""
        sends.append(order_id)
        return f"sent {order_id}"

    def script(req: ModelRequest) -> Any:
        if not any(m.role == "tool" for m in req.messages):
            return tool_call("send", order_id="7")
        return text("sent")

    locked: list[int] = []

    def plan(n: int, run_id: str, events: Sequence[EventRow]) -> str | None:
        if any(e.type == "tool.started" for e in events) and len(locked) < 9:
            locked.append(n)
            return "locked"
        return None

    store = FaultyStore(open_store(f"sqlite:///{tmp_path}/t.db"), plan)
    async with Runtime(store, recover=False) as rt:
        agent = Agent(name="shipping", model=ScriptedModel(script), tools=[send])
        result = await (await rt.start(agent, "send order 7")).result(timeout=60)
        rows = await rt.store.load_events(result.run_id)
    assert len(locked) == 9
    assert result.status == "completed", result.error
    assert sends == ["7"]
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert [r.type for r in rows].count("tool.started") == 1


async def test_killswitch_stops_the_reissue_of_a_started_write(tmp_path: Path) -> None:
    """Recovery re-issues a started write through the gate: with the kill switch on, the
    re-issue is denied (and the model is told it may or may not have happened)."""
    db = tmp_path / "t.db"

    def plan(n: int, run_id: str, events: Sequence[EventRow]) -> str | None:
        if any(e.type == "tool.completed" and b'"charge"' in e.data for e in events):
            if not INVOCATIONS or sum(INVOCATIONS.values()) > 1:
                return None
            conn = sqlite3.connect(db, timeout=10)
            with conn:
                conn.execute(
                    "INSERT OR REPLACE INTO flags (name, value, updated_at) VALUES (?, ?, ?)",
                    ("killswitch", "on:test", time.time()),
                )
            conn.close()
            return "permanent"
        return None

    store = FaultyStore(open_store(f"sqlite:///{db}"), plan)
    rt, run_ids = await _run_many(store, 1)
    try:
        (run_id,) = run_ids
        events = await _events(rt, run_id)
    finally:
        await rt.__aexit__(None, None, None)
    assert sum(INVOCATIONS.values()) == 1  # never re-issued
    (denied,) = [e for e in events if isinstance(e, ToolFailed) and e.tool == "charge"]
    assert denied.error.error_code == "denied"
    assert "may or may not have happened" in denied.error.message


_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
print("released", flush=True)
"""


async def test_a_second_process_holding_the_write_lock_fails_no_run(tmp_path: Path) -> None:
    """Another process holds BEGIN EXCLUSIVE for 2.5 s (busy timeout 0.3 s) mid-flight."""
    db = tmp_path / "t.db"

    @tool(effect="write", idempotent=True)
    async def slow_charge(order_id: str, ctx: ToolContext) -> str:
        """Charge slowly, so runs are mid-flight when the lock is taken."""
        INVOCATIONS[ctx.idempotency_key] += 1
        if ctx.idempotency_key not in APPLIED:
            APPLIED[ctx.idempotency_key] += 1
        await asyncio.sleep(0.4)
        return f"charged {order_id}"

    def script(req: ModelRequest) -> Any:
        tools = [m for m in req.messages if m.role == "tool"]
        if len(tools) < 3:
            return tool_call("slow_charge", order_id=str(len(tools)))
        return text("done")

    agent = Agent(name="slow", model=ScriptedModel(script), tools=[slow_charge])
    async with Runtime(f"sqlite:///{db}?busy_timeout=0.3", recover=False) as rt:
        runs = [await rt.start(agent, f"charge {i}") for i in range(10)]
        await asyncio.sleep(0.2)  # every run is inside its first tool call
        holder = subprocess.Popen(  # noqa: ASYNC220  # a lock holder, started once, read in a thread
            [sys.executable, "-c", _HOLDER, str(db), "2.5"], stdout=subprocess.PIPE, text=True
        )
        try:
            assert holder.stdout is not None
            line = await asyncio.to_thread(holder.stdout.readline)
            assert line.strip() == "locked"
            results = await asyncio.gather(*(r.result(timeout=90) for r in runs))
        finally:
            holder.wait(timeout=30)
            if holder.stdout is not None:
                holder.stdout.close()
        assert [r.status for r in results] == ["completed"] * 10
        for run in runs:
            rows = await rt.store.load_events(run.run_id)
            assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert len(APPLIED) == 30 and set(APPLIED.values()) == {1}
    assert set(INVOCATIONS.values()) == {1}
