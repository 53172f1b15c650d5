"""Red team 14c, hole 01: a model call in flight when its driver was killed went uncounted.

Nothing durable is written before a model call (an event per call would cost every turn
an append), so a driver SIGKILLed mid-call left no trace of the call, and the runtime
that adopted the run made it again: ``Budget(max_model_calls=1)`` ended with two provider
calls. Now a driver that takes a run over from one that stopped without handing it over
(its lease ran out) charges that possible call, as a ``model.failed`` of code
``interrupted`` charged the worst case, before its first new model call; a run taken up
cleanly (started, woken by an approval, handed back by a draining worker) is not charged.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime, tool
from tether.engine import ModelFailed
from tether.models import ModelRequest
from tether.policy import Budget, Policy
from tether.testing import ScriptedModel, text, tool_call

sys.path.insert(0, str(Path(__file__).parent))
from _inflight_worker import make_agent
from _slow_store import slow_appends

WORKER = Path(__file__).with_name("_inflight_worker.py")


def _start_and_kill_mid_call(
    store_url: str, calls: Path, max_calls: int, *, mode: str = "hang", after: int = 1
) -> str:
    """Start a run in a child process; SIGKILL it once its model was called ``after``
    times (in mode ``hang``, while the first call hangs)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), store_url, str(calls), str(max_calls), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        assert run_id.startswith("run_"), proc.stderr.read() if proc.stderr else ""
        deadline = time.monotonic() + 30
        while not (calls.exists() and _provider_calls(calls) >= after):
            if time.monotonic() > deadline:
                pytest.fail("the worker never called its model")
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # the provider has the call; the log does not
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    return run_id


def _provider_calls(calls: Path) -> int:
    return len(calls.read_text().splitlines())


async def test_a_call_in_flight_at_sigkill_is_charged_so_max_model_calls_holds(
    tmp_path: Path, store_url: str
) -> None:
    calls = tmp_path / "calls.log"
    run_id = _start_and_kill_mid_call(store_url, calls, max_calls=1)
    agent = make_agent(calls, 1, hang=False)
    async with Runtime(store_url, agents=[agent], lease_ttl=1.0) as rt:
        result = await rt.get(run_id).result(timeout=30)
        state = await rt.load_state(run_id)  # folded afresh from the store
    assert _provider_calls(calls) == 1  # never a second call past max_model_calls=1
    assert result.status == "failed" and result.error is not None
    assert result.error.error_code == "budget_exceeded"
    assert result.error.details is not None
    assert result.error.details["dimension"] == "model_calls"
    assert result.error.details["usage"]["model_calls"] == {"used": 1, "limit": 1}
    # The log records the call the dead driver had in flight, charged the worst case.
    assert state.model_calls == 0 and state.failed_model_calls == 1
    assert state.charged_usage.output_tokens > 0


async def test_after_the_charge_a_budget_with_room_left_makes_the_call_again(
    tmp_path: Path, store_url: str
) -> None:
    calls = tmp_path / "calls.log"
    run_id = _start_and_kill_mid_call(store_url, calls, max_calls=2)
    agent = make_agent(calls, 2, hang=False)
    async with Runtime(store_url, agents=[agent], lease_ttl=1.0) as rt:
        result = await rt.get(run_id).result(timeout=30)
        events = [e async for e in rt.get(run_id).events(follow=False)]
        state = await rt.load_state(run_id)
    assert result.status == "completed", result.error
    assert result.output == "answer"
    assert _provider_calls(calls) == 2
    [charge] = [e.event for e in events if isinstance(e.event, ModelFailed)]
    assert charge.error_code == "interrupted" and charge.will_retry
    assert charge.charged is not None and charge.charged.output_tokens > 0
    assert state.model_calls + state.failed_model_calls == 2


async def test_replies_counted_only_in_memory_are_not_lost_at_sigkill(
    tmp_path: Path, store_url: str
) -> None:
    """A fast model outran the overlapped commits: a kill lost up to 16 counted replies.

    Under a limit on model use, what the run recorded is committed before each call, so
    a crash loses at most the call in flight, which the next driver charges.
    """
    calls = tmp_path / "calls.log"
    run_id = _start_and_kill_mid_call(store_url, calls, 40, mode="loop", after=20)
    killed_at = _provider_calls(calls)
    agent = make_agent(calls, 40, hang=False, loop=True)
    async with Runtime(store_url, agents=[agent], worker=False) as client:
        before = await client.load_state(run_id)
    # Every call the provider saw is in the log, but the one in flight at the kill.
    assert killed_at - (before.model_calls + before.failed_model_calls) <= 1
    async with Runtime(store_url, agents=[agent], lease_ttl=1.0) as rt:
        result = await rt.get(run_id).result(timeout=60)
    assert result.status == "failed" and result.error is not None
    assert result.error.error_code == "budget_exceeded"
    assert _provider_calls(calls) <= 40


async def test_under_a_model_budget_every_reply_is_committed_before_the_next_call(
    store_url: str,
) -> None:
    """The same, seen from the store: however slow its commits, a model call under a
    model budget is made only once every earlier reply of the run is in the log."""
    recorded_before: list[int] = []
    run_ids: list[str] = []
    store: Any = None

    async def provider(request: ModelRequest) -> object:
        rows = await store.load_events(run_ids[0])
        recorded_before.append(sum(row.type == "model.completed" for row in rows))
        if len(recorded_before) >= 6:
            return text("done")
        return tool_call("lookup", q=str(len(recorded_before)))

    @tool
    def lookup(q: str) -> str:
        """Look ``q`` up."""
        return "nothing yet"

    agent = Agent(
        name="budgeted",
        instructions="Look up.",
        model=ScriptedModel(provider),
        tools=[lookup],
        policy=Policy(budget=Budget(max_model_calls=10)),
    )
    async with Runtime(store_url, agents=[agent]) as rt:
        store = rt.store
        slow_appends(store)  # a slow disk: the next steps would outrun it
        run_ids.append((await rt.start(agent, "go")).run_id)
        result = await rt.get(run_ids[0]).result(timeout=30)
    assert result.status == "completed", result.error
    assert recorded_before == list(range(6))


async def test_a_call_cut_off_by_a_clean_shutdown_is_charged(store_url: str) -> None:
    """A shutdown cancels a call mid-way (the provider may bill it) and hands the run back
    cleanly: its release mark says a call was in flight, and the next driver charges it."""
    seen: list[int] = []
    calling = asyncio.Event()

    async def hangs(request: ModelRequest) -> object:
        seen.append(1)
        calling.set()
        await asyncio.sleep(600)
        return text("never")

    async def answers(request: ModelRequest) -> object:
        seen.append(2)
        return text("answer")

    def agent_with(model: ScriptedModel) -> Agent:
        return Agent(
            name="shut",
            instructions="Answer.",
            model=model,
            policy=Policy(budget=Budget(max_model_calls=1)),
        )

    first = agent_with(ScriptedModel(hangs))
    async with Runtime(store_url, agents=[first]) as rt:
        run = await rt.start(first, "hi")
        await calling.wait()
    second = agent_with(ScriptedModel(answers))
    async with Runtime(store_url, agents=[second]) as rt:
        result = await rt.get(run.run_id).result(timeout=30)
    assert seen == [1]  # not called again past max_model_calls=1
    assert result.status == "failed" and result.error is not None
    assert result.error.error_code == "budget_exceeded"


@tool(effect="write", idempotent=True, requires_approval=True, retry=None)
def refund(amount: int) -> str:
    """Refund ``amount``."""
    return f"refunded {amount}"


def _approval_agent() -> Agent:
    def script(request: ModelRequest) -> object:
        if any(m.role == "tool" for m in request.messages):
            return text("done")
        return tool_call("refund", amount=5)

    return Agent(
        name="refunder",
        instructions="Refund.",
        model=ScriptedModel(script),
        tools=[refund],
        policy=Policy(budget=Budget(max_model_calls=2)),
    )


async def test_a_run_woken_by_an_approval_is_not_charged(store_url: str) -> None:
    """Two calls under max_model_calls=2: a charge on the approval's resume would fail it."""
    agent = _approval_agent()
    async with Runtime(store_url, agents=[agent]) as rt:
        run = await rt.start(agent, "refund me")
        parked = await run.result(timeout=30)
        assert parked.status == "waiting"
        [pending] = await run.pending_approvals()
        await rt.approve(run.run_id, pending.approval_id, by="ana")
        result = await rt.get(run.run_id).result(timeout=30)
        state = await rt.load_state(run.run_id)
    assert result.status == "completed", result.error
    assert state.model_calls == 2 and state.failed_model_calls == 0


async def test_a_run_handed_back_by_a_draining_worker_is_not_charged(store_url: str) -> None:
    """A drain lets the step finish and hands the run back: the next worker charges nothing."""
    answered = asyncio.Event()
    release = asyncio.Event()

    async def slow(request: ModelRequest) -> object:
        if any(m.role == "tool" for m in request.messages):
            return text("done")
        answered.set()
        await release.wait()
        return tool_call("lookup", q="x")

    @tool
    def lookup(q: str) -> str:
        """Look ``q`` up."""
        return "found"

    def agent_with(model: ScriptedModel) -> Agent:
        return Agent(
            name="drained",
            instructions="Look up.",
            model=model,
            tools=[lookup],
            policy=Policy(budget=Budget(max_model_calls=2)),
        )

    first = agent_with(ScriptedModel(slow))
    async with Runtime(store_url, agents=[first], lease_ttl=1.0) as rt:
        run = await rt.start(first, "look it up")
        await answered.wait()
        draining = asyncio.create_task(rt.drain())
        release.set()
        await draining
        assert (await rt.load_state(run.run_id)).status == "running"
    second = agent_with(ScriptedModel(slow))
    async with Runtime(store_url, agents=[second], lease_ttl=1.0) as rt:
        result = await rt.get(run.run_id).result(timeout=30)
        state = await rt.load_state(run.run_id)
    assert result.status == "completed", result.error
    assert state.model_calls == 2 and state.failed_model_calls == 0


async def test_a_run_a_client_started_is_not_charged_when_a_worker_claims_it(
    store_url: str,
) -> None:
    """Started by a pure client (``pending``, no lease): nobody drove it, nothing to charge."""
    seen: list[int] = []

    async def answers(request: ModelRequest) -> object:
        seen.append(1)
        return text("answer")

    agent = Agent(
        name="queued",
        instructions="Answer.",
        model=ScriptedModel(answers),
        policy=Policy(budget=Budget(max_model_calls=1)),
    )
    async with Runtime(store_url, agents=[agent], worker=False) as client:
        run = await client.start(agent, "hi")
    async with Runtime(store_url, agents=[agent]) as rt:
        result = await rt.get(run.run_id).result(timeout=30)
        state = await rt.load_state(run.run_id)
    assert result.status == "completed", result.error
    assert seen == [1] and state.failed_model_calls == 0
