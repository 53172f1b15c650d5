"""Read tool calls in flight when their driver was killed went uncounted under a tool budget.

A read tool records nothing before it runs, so a driver SIGKILLed while running a batch of
reads left calls without results in the log, and the runtime that took the run over ran
them again: each crash added up to a batch of tool executions no limit counted
(``Budget(max_tool_calls=...)``, ``max_calls_per_tool``). Now a driver that takes a run over
from one that stopped without handing it over charges each such call once (a
``tool.failed`` of code ``interrupted``, ``will_retry``, ``charged``) before the gate
decides on running it again. A run taken up cleanly (woken by an approval, handed back by
a draining worker) is charged nothing, and neither is a run without a tool budget.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tether import Agent, Runtime, tool
from tether._cli._next import NextSteps
from tether._cli._render import EventPrinter
from tether.engine import (
    ModelFailed,
    RunEvent,
    ToolFailed,
    decode_event,
    encode_event,
    fold,
)
from tether.models import ModelRequest
from tether.policy import Budget, Policy
from tether.runtime import audit_run
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import ToolError

sys.path.insert(0, str(Path(__file__).parent))
from _inflight_tool_worker import make_agent

WORKER = Path(__file__).with_name("_inflight_tool_worker.py")


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _start_and_kill(
    store_url: str,
    logs: Path,
    *,
    plan: list[list[str]],
    budget: dict[str, Any] | None,
    hang: str,
    kill_at: int,
) -> str:
    """Start a run in a child process; SIGKILL it once its tool ran ``kill_at`` times (its
    model was called ``kill_at`` times with ``hang="model"``), all of them hanging."""
    config = json.dumps({"plan": plan, "budget": budget, "hang": hang})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), store_url, str(logs), config],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    watched = logs / ("tool.log" if hang == "tool" else "model.log")
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        assert run_id.startswith("run_"), proc.stderr.read() if proc.stderr else ""
        deadline = time.monotonic() + 30
        while len(_lines(watched)) < kill_at:
            if time.monotonic() > deadline:
                pytest.fail(f"the worker never got to {kill_at} lines in {watched.name}")
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # the calls ran (or are running); the log has none
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    return run_id


async def _take_over(
    store_url: str, logs: Path, run_id: str, *, plan: list[list[str]], budget: dict[str, Any] | None
) -> tuple[Any, list[RunEvent], Any]:
    """A fresh runtime claims the run once its lease has run out and drives it to its end."""
    agent = make_agent(logs, plan=plan, budget=budget)
    async with Runtime(store_url, agents=[agent], lease_ttl=1.0) as rt:
        result = await rt.get(run_id).result(timeout=30)
        events = [e async for e in rt.get(run_id).events(follow=False)]
        state = await rt.load_state(run_id)  # folded afresh from the store
    return result, events, state


def _charges(events: list[RunEvent]) -> list[ToolFailed]:
    return [
        e.event
        for e in events
        if isinstance(e.event, ToolFailed) and e.event.error.error_code == "interrupted"
    ]


async def test_reads_in_flight_at_sigkill_are_charged_so_max_tool_calls_holds(
    tmp_path: Path, store_url: str
) -> None:
    """Two lookups in flight at the kill, one more in the next step, under a limit of 5:
    the two are charged and run again (5 executions, 5 counted), the next one is not
    charged (the takeover is used up by the batch it resumed)."""
    plan, budget = [["a", "b"], ["c"]], {"max_tool_calls": 5}
    run_id = _start_and_kill(store_url, tmp_path, plan=plan, budget=budget, hang="tool", kill_at=2)
    result, events, state = await _take_over(store_url, tmp_path, run_id, plan=plan, budget=budget)
    assert result.status == "completed", result.error
    assert result.output == "answer"
    runs = _lines(tmp_path / "tool.log")
    assert sorted(runs) == ["a", "a", "b", "b", "c"]  # every execution, the killed ones too
    assert state.tool_calls == len(runs) == 5  # ... and every one counted
    assert state.tool_counts == {"lookup": 5}
    charges = _charges(events)
    assert [(c.tool, c.will_retry, c.charged) for c in charges] == [("lookup", True, True)] * 2
    assert {e.step for e in events if e.event in charges} == {0}
    # Not a result: the conversation has one per call, from the calls run again.
    assert [m.content for m in state.messages if m.role == "tool"] == [
        "found a",
        "found b",
        "found c",
    ]
    # The audit says what the charge is (not a failure the tool reported).
    async with Runtime(store_url, agents=[make_agent(tmp_path, plan=plan, budget=budget)]) as rt:
        report = await audit_run(rt, run_id)
    charged = [e for e in report.entries if e.fields.get("charged")]
    assert [e.summary for e in charged] == [
        "lookup may have run before its driver stopped (read): charged to the budget, "
        "will run again"
    ] * 2


async def test_a_charge_that_uses_up_the_budget_stops_the_calls_running_again(
    tmp_path: Path, store_url: str
) -> None:
    plan, budget = [["a", "b"]], {"max_tool_calls": 2}
    run_id = _start_and_kill(store_url, tmp_path, plan=plan, budget=budget, hang="tool", kill_at=2)
    result, events, state = await _take_over(store_url, tmp_path, run_id, plan=plan, budget=budget)
    assert sorted(_lines(tmp_path / "tool.log")) == ["a", "b"]  # never run past the limit
    assert result.status == "failed" and result.error is not None
    assert result.error.error_code == "budget_exceeded"
    assert result.error.details is not None
    assert result.error.details["dimension"] == "tool_calls"
    assert result.error.details["usage"]["tool_calls"] == {"used": 2, "limit": 2}
    assert state.tool_calls == 2 and len(_charges(events)) == 2


async def test_a_per_tool_limit_holds_across_the_kill(tmp_path: Path, store_url: str) -> None:
    plan, budget = [["a"]], {"max_calls_per_tool": {"lookup": 1}}
    run_id = _start_and_kill(store_url, tmp_path, plan=plan, budget=budget, hang="tool", kill_at=1)
    result, events, state = await _take_over(store_url, tmp_path, run_id, plan=plan, budget=budget)
    assert _lines(tmp_path / "tool.log") == ["a"]
    assert result.status == "failed" and result.error is not None
    assert result.error.error_code == "budget_exceeded"
    assert result.error.details is not None
    assert result.error.details["dimension"] == "tool_calls:lookup"
    assert state.tool_counts == {"lookup": 1} and len(_charges(events)) == 1


async def test_under_a_refusing_limit_the_call_charged_is_refused_and_the_run_goes_on(
    tmp_path: Path, store_url: str
) -> None:
    plan = [["a"]]
    budget = {"max_calls_per_tool": {"lookup": 1}, "on_tool_limit": "refuse"}
    run_id = _start_and_kill(store_url, tmp_path, plan=plan, budget=budget, hang="tool", kill_at=1)
    result, events, state = await _take_over(store_url, tmp_path, run_id, plan=plan, budget=budget)
    assert _lines(tmp_path / "tool.log") == ["a"]  # not run again
    assert result.status == "completed", result.error
    assert result.output == "answer"
    [refusal] = [m.content or "" for m in state.messages if m.role == "tool"]
    assert "tool_call_limit" in refusal
    assert len(_charges(events)) == 1


async def test_without_a_tool_budget_nothing_is_charged_or_recorded(
    tmp_path: Path, store_url: str
) -> None:
    plan: list[list[str]] = [["a"]]
    run_id = _start_and_kill(store_url, tmp_path, plan=plan, budget=None, hang="tool", kill_at=1)
    result, events, state = await _take_over(store_url, tmp_path, run_id, plan=plan, budget=None)
    assert result.status == "completed", result.error
    assert _lines(tmp_path / "tool.log") == ["a", "a"]  # run again, as before
    assert not [e for e in events if isinstance(e.event, ToolFailed)]
    assert state.tool_calls == 1


async def test_calls_of_a_reply_made_anew_after_the_takeover_are_not_charged(
    tmp_path: Path, store_url: str
) -> None:
    """Killed in its model call: the reply the next driver gets is new, and so are its
    calls (never run before): under max_tool_calls=2 both lookups run, nothing charged."""
    plan = [["a"], ["b"]]
    budget = {"max_tool_calls": 2, "max_model_calls": 10}
    run_id = _start_and_kill(store_url, tmp_path, plan=plan, budget=budget, hang="model", kill_at=2)
    result, events, state = await _take_over(store_url, tmp_path, run_id, plan=plan, budget=budget)
    assert result.status == "completed", result.error
    assert _lines(tmp_path / "tool.log") == ["a", "b"]
    assert state.tool_calls == 2 and not _charges(events)
    # The model call in flight is charged (red team 14c), the tool calls are not.
    assert [e.event.error_code for e in events if isinstance(e.event, ModelFailed)] == [
        "interrupted"
    ]


@tool(requires_approval=True)
def peek(q: str) -> str:
    """Read ``q``."""
    return f"saw {q}"


async def test_a_run_woken_by_an_approval_is_not_charged(store_url: str) -> None:
    """The approved read has no result when the run wakes: a charge would use up
    max_tool_calls=1 and stop it."""

    def script(request: ModelRequest) -> object:
        if any(m.role == "tool" for m in request.messages):
            return text("done")
        return tool_call("peek", q="x")

    agent = Agent(
        name="peeker",
        instructions="Peek.",
        model=ScriptedModel(script),
        tools=[peek],
        policy=Policy(budget=Budget(max_tool_calls=1)),
    )
    async with Runtime(store_url, agents=[agent]) as rt:
        run = await rt.start(agent, "peek")
        parked = await run.result(timeout=30)
        assert parked.status == "waiting"
        [pending] = await run.pending_approvals()
        await rt.approve(run.run_id, pending.approval_id, by="ana")
        result = await rt.get(run.run_id).result(timeout=30)
        events = [e async for e in rt.get(run.run_id).events(follow=False)]
        state = await rt.load_state(run.run_id)
    assert result.status == "completed", result.error
    assert state.tool_calls == 1 and not _charges(events)


async def test_a_run_handed_back_by_a_draining_worker_is_not_charged(store_url: str) -> None:
    ran: list[str] = []
    running = asyncio.Event()
    release = asyncio.Event()

    @tool
    async def lookup(q: str) -> str:
        """Look ``q`` up."""
        ran.append(q)
        running.set()
        await release.wait()
        return "found"

    def script(request: ModelRequest) -> object:
        done = sum(m.role == "tool" for m in request.messages)
        return text("done") if done >= 2 else tool_call("lookup", q=str(done))

    agent = Agent(
        name="drained-tools",
        instructions="Look up.",
        model=ScriptedModel(script),
        tools=[lookup],
        policy=Policy(budget=Budget(max_tool_calls=2)),
    )
    async with Runtime(store_url, agents=[agent], lease_ttl=1.0) as rt:
        run = await rt.start(agent, "look it up")
        await running.wait()
        draining = asyncio.create_task(rt.drain())
        release.set()
        await draining
        assert (await rt.load_state(run.run_id)).status == "running"
    async with Runtime(store_url, agents=[agent], lease_ttl=1.0) as rt:
        result = await rt.get(run.run_id).result(timeout=30)
        events = [e async for e in rt.get(run.run_id).events(follow=False)]
        state = await rt.load_state(run.run_id)
    assert result.status == "completed", result.error
    assert ran == ["0", "1"] and state.tool_calls == 2 and not _charges(events)


async def test_reads_cut_off_by_a_clean_shutdown_are_charged(store_url: str) -> None:
    """A shutdown (not a drain) cancels a read mid-way and hands the run back cleanly: its
    release mark says tools were running, and the next driver charges them. The model
    call, which had finished, is not charged."""
    ran: list[str] = []
    running = asyncio.Event()

    @tool
    async def lookup(q: str) -> str:
        """Look ``q`` up."""
        ran.append(q)
        running.set()
        await asyncio.sleep(600)
        return "never"

    def script(request: ModelRequest) -> object:
        done = sum(m.role == "tool" for m in request.messages)
        return text("done") if done else tool_call("lookup", q="a")

    agent = Agent(
        name="shut-tools",
        instructions="Look up.",
        model=ScriptedModel(script),
        tools=[lookup],
        policy=Policy(budget=Budget(max_tool_calls=1, max_model_calls=2)),
    )
    async with Runtime(store_url, agents=[agent]) as rt:
        run = await rt.start(agent, "look it up")
        await running.wait()
    async with Runtime(store_url, agents=[agent]) as rt:
        result = await rt.get(run.run_id).result(timeout=30)
        events = [e async for e in rt.get(run.run_id).events(follow=False)]
    assert ran == ["a"]  # not run again past max_tool_calls=1
    assert len(_charges(events)) == 1
    assert not [e for e in events if isinstance(e.event, ModelFailed)]
    assert result.status == "failed" and result.error is not None
    assert result.error.error_code == "budget_exceeded"


def test_a_charge_is_counted_in_all_and_per_tool_and_old_retries_load_unchanged() -> None:
    """The fold counts a charged attempt (no message, no journal entry: the call runs
    again); a retried attempt as logged before the field existed stays uncounted."""
    error = ToolError(error_code="interrupted", message="may have run", retryable=True)
    charge = ToolFailed(
        call=1, call_id="c1", tool="lookup", error=error, will_retry=True, charged=True
    )
    old = b'{"type":"tool.failed","call":1,"call_id":"c1","tool":"lookup",' + (
        b'"error":{"error_code":"timeout","message":"slow","retryable":true},"will_retry":true}'
    )
    retry = decode_event(old)
    assert isinstance(retry, ToolFailed) and retry.charged is None
    assert b"charged" not in encode_event(retry)  # logged as it always was
    assert decode_event(encode_event(charge)) == charge
    state = fold("r", [RunEvent("r", 1, 0, 1.0, retry), RunEvent("r", 2, 0, 2.0, charge)])
    assert state.tool_calls == 1 and state.tool_counts == {"lookup": 1}
    assert state.messages == [] and state.journal == {}
    assert state.consecutive_failures == 0 and state.signature_counts == {}


@pytest.mark.parametrize("detail", [False, True])
def test_the_run_view_shows_a_charge_as_charged_not_as_a_retry(detail: bool) -> None:
    error = ToolError(error_code="interrupted", message="may have run", retryable=True)
    charge = ToolFailed(
        call=0, call_id="c1", tool="lookup", error=error, will_retry=True, charged=True
    )
    out = io.StringIO()
    printer = EventPrinter(Console(file=out, width=200), detail=detail, next_steps=NextSteps())
    printer.event(RunEvent("r", 5, 0, 1.0, charge))
    shown = out.getvalue()
    assert "[interrupted]" in shown and "charged to the budget, running again" in shown
    assert "retrying" not in shown
