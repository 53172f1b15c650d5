"""Red team 14, hole 05: ``Budget(max_wall_seconds=...)`` did not bound a tool call.

A model call was cut where the run's running time ends; a tool call only had its own
timeout (30 s by default, times its retries), so a run with a 1 s budget ran a slow tool
for 5 s and was marked ``budget_exceeded`` only afterwards. Now each attempt's timeout is
the tool's own or the time the budget has left, whichever is shorter: an async tool is
cancelled, a thread tool abandoned (its late result discarded), no retry starts or waits
past the budget, and the run ends ``budget_exceeded`` (``wall_seconds``), as when a model
call is cut off. A write cut off that way may have happened: like any write that timed
out it parks the run as an ``uncertain_write`` for a person, and the run ends on its
budget once they have said what happened.

No test measures a duration: the tools wait for events nobody sets, so only the budget
can end them.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

from tether import Agent, Runtime, tool
from tether.models import ModelRequest, ToolCall
from tether.policy import Budget, Policy
from tether.runtime import RunResult
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import RetryPolicy, ToolContext, execute_tool_call

BUDGET = 0.2
NEVER = 30.0  # a safety net for the test itself, far past the budget


def _once(name: str, **arguments: Any) -> Any:
    """A model that calls ``name`` once, then answers."""

    def script(request: ModelRequest) -> Any:
        if not any(m.role == "tool" for m in request.messages):
            return tool_call(name, **arguments)
        return text("done")

    return script


def _agent(tools: list[Any], name: str) -> Agent:
    return Agent(
        name="walled",
        instructions="x",
        model=ScriptedModel(_once(name)),
        tools=tools,
        policy=Policy(budget=Budget(max_wall_seconds=BUDGET)),
    )


def _out_of_time(result: RunResult) -> None:
    """The run ended on its running-time budget, as when a model call is cut off."""
    assert result.status == "failed", result
    assert result.error is not None
    assert result.error.error_code == "budget_exceeded", result.error
    assert result.error.details is not None
    assert result.error.details["dimension"] == "wall_seconds"
    assert "wall_seconds" in result.error.details["usage"]


async def _events(rt: Runtime, run_id: str) -> list[tuple[str, dict[str, Any]]]:
    rows = await rt.store.load_events(run_id)
    return [(row.type, json.loads(row.data)) for row in rows]


async def test_an_async_tool_is_cancelled_where_the_running_time_ends(tmp_path: Path) -> None:
    never = asyncio.Event()
    seen: list[str] = []

    @tool
    async def crawl() -> str:
        """A slow read, with the default 30 s timeout."""
        seen.append("started")
        try:
            await never.wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        seen.append("finished")
        return "ok"

    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
        run = await rt.start(_agent([crawl], "crawl"), "go")
        result = await run.result(timeout=NEVER)
        events = await _events(rt, run.run_id)
    _out_of_time(result)
    assert seen == ["started", "cancelled"]
    # The call has its result in the journal (no call is left hanging in the log).
    [failed] = [data for kind, data in events if kind == "tool.failed"]
    assert failed["error"]["error_code"] == "timeout"
    assert failed["error"]["details"]["budget"] == "wall_seconds"
    assert not any(kind == "tool.completed" for kind, _ in events)


async def test_a_thread_tool_is_abandoned_and_its_late_result_discarded(tmp_path: Path) -> None:
    release = threading.Event()
    finished = threading.Event()

    @tool
    def scan() -> str:
        """A slow sync read, run in a worker thread."""
        release.wait(NEVER)
        finished.set()
        return "late"

    try:
        async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
            run = await rt.start(_agent([scan], "scan"), "go")
            result = await run.result(timeout=NEVER)
            # The run ended while the thread still ran: nobody waited for it.
            assert not finished.is_set()
            release.set()
            await asyncio.to_thread(finished.wait, NEVER)
            await asyncio.sleep(0.05)  # the late result would land now, if it could
            events = await _events(rt, run.run_id)
    finally:
        release.set()
    _out_of_time(result)
    assert [kind for kind, _ in events if kind.startswith("tool.")] == ["tool.failed"]


async def test_a_write_cut_off_is_an_uncertain_write_then_the_run_ends_on_its_budget(
    tmp_path: Path,
) -> None:
    """The engine's answer to a write that timed out: park for a person, never guess."""
    never = asyncio.Event()
    seen: list[str] = []

    @tool(effect="write")
    async def transfer(amount: int) -> str:
        """Move money (not idempotent)."""
        seen.append("started")
        try:
            await never.wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return "moved"

    agent = Agent(
        name="walled",
        instructions="x",
        model=ScriptedModel(_once("transfer", amount=5)),
        tools=[transfer],
        policy=Policy(budget=Budget(max_wall_seconds=BUDGET)),
    )
    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
        run = await rt.start(agent, "go")
        parked = await run.result(timeout=NEVER)
        assert parked.status == "waiting", parked
        assert parked.wait_reason == "uncertain_write"
        assert parked.wait_details is not None
        [item] = parked.wait_details["calls"]
        assert item["tool"] == "transfer" and "running-time budget" in item["problem"]
        assert seen == ["started", "cancelled"]
        events = await _events(rt, run.run_id)
        assert [kind for kind, _ in events if kind.startswith("tool.")] == ["tool.started"]

        await rt.signal(
            run.run_id,
            "resolve_write",
            {"call_id": item["idempotency_key"], "action": "not_performed"},
            by="ops",
        )
        result = await rt.get(run.run_id).result(timeout=NEVER)
    _out_of_time(result)
    assert seen == ["started", "cancelled"]  # never run again


async def test_an_idempotent_write_cut_off_gets_its_result_and_the_run_ends(
    tmp_path: Path,
) -> None:
    never = asyncio.Event()

    @tool(effect="write", idempotent=True)
    async def upsert(key: str) -> str:
        """Store a value under a key (safe to repeat)."""
        await never.wait()
        return "stored"

    agent = Agent(
        name="walled",
        instructions="x",
        model=ScriptedModel(_once("upsert", key="k")),
        tools=[upsert],
        policy=Policy(budget=Budget(max_wall_seconds=BUDGET)),
    )
    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
        run = await rt.start(agent, "go")
        result = await run.result(timeout=NEVER)
        events = await _events(rt, run.run_id)
    _out_of_time(result)
    kinds = [kind for kind, _ in events if kind.startswith("tool.")]
    assert kinds == ["tool.started", "tool.failed"]


async def test_no_retry_starts_or_waits_past_the_running_time(tmp_path: Path) -> None:
    """Timeouts are retried, but never past the budget: one attempt, cut off, no backoff."""
    never = asyncio.Event()
    attempts: list[int] = []

    @tool(timeout=30, retry=RetryPolicy(max_attempts=5, initial_delay=0.0, jitter=False))
    async def fetch(ctx: ToolContext) -> str:
        """A read that would be retried on a timeout."""
        attempts.append(ctx.attempt)
        await never.wait()
        return "ok"

    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
        run = await rt.start(_agent([fetch], "fetch"), "go")
        result = await run.result(timeout=NEVER)
    _out_of_time(result)
    assert attempts == [1]


# -- the executor alone ---------------------------------------------------------------------


def _ctx() -> ToolContext:
    return ToolContext(
        run_id="r", tenant=None, call_id="c", tool_name="t", idempotency_key="k", attempt=1
    )


async def test_the_executor_cuts_an_attempt_at_the_deadline_before_its_own_timeout() -> None:
    never = asyncio.Event()

    @tool(timeout=30)
    async def slow() -> str:
        """Slow."""
        await never.wait()
        return "ok"

    deadline = asyncio.get_running_loop().time() + 0.05
    outcome = await execute_tool_call(
        ToolCall(id="c", name="slow", arguments={}), {"slow": slow}, _ctx(), deadline=deadline
    )
    assert not outcome.ok and outcome.out_of_time and outcome.attempts == 1
    assert outcome.error is not None and outcome.error.details is not None
    assert outcome.error.details["budget"] == "wall_seconds"


async def test_the_executors_own_timeout_still_applies_when_it_comes_first() -> None:
    never = asyncio.Event()

    @tool(timeout=0.05, retry=RetryPolicy(max_attempts=1))
    async def slow() -> str:
        """Slow."""
        await never.wait()
        return "ok"

    deadline = asyncio.get_running_loop().time() + 30
    outcome = await execute_tool_call(
        ToolCall(id="c", name="slow", arguments={}), {"slow": slow}, _ctx(), deadline=deadline
    )
    assert not outcome.ok and not outcome.out_of_time
    assert outcome.error is not None and outcome.error.error_code == "timeout"
    assert outcome.error.details == {"timeout_s": 0.05}


async def test_the_executor_waits_for_no_backoff_that_ends_past_the_deadline() -> None:
    calls: list[int] = []
    slept: list[float] = []

    @tool(retry=RetryPolicy(max_attempts=5, initial_delay=60.0, max_delay=60.0, jitter=False))
    def flaky() -> str:
        """Fails the way a dropped connection does."""
        calls.append(1)
        raise ConnectionError("reset")

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    deadline = asyncio.get_running_loop().time() + 10
    outcome = await execute_tool_call(
        ToolCall(id="c", name="flaky", arguments={}),
        {"flaky": flaky},
        _ctx(),
        deadline=deadline,
        sleep=sleep,
    )
    assert not outcome.ok and outcome.out_of_time
    assert calls == [1] and slept == []
    assert outcome.error is not None and outcome.error.error_code == "transient"


async def test_the_executor_starts_no_attempt_once_the_deadline_has_passed() -> None:
    ran: list[int] = []

    @tool
    def quick() -> str:
        """Quick."""
        ran.append(1)
        return "ok"

    deadline = asyncio.get_running_loop().time() - 1
    outcome = await execute_tool_call(
        ToolCall(id="c", name="quick", arguments={}), {"quick": quick}, _ctx(), deadline=deadline
    )
    assert not outcome.ok and outcome.out_of_time and outcome.attempts == 0
    assert ran == []
