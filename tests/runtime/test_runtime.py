"""Runtime behaviour: handles across restarts, version pinning, signals and cancellation."""

from __future__ import annotations

import asyncio

import pytest

from tether import Agent, Runtime, tool
from tether.engine import Done, Machine, RunFailureCode, StepContext, Wait
from tether.exceptions import AgentVersionMismatchError, RunError, RunNotFoundError, UserError
from tether.testing import ScriptedModel, text, tool_call


def _waiting_agent(instructions: str = "v1") -> Agent:
    """An agent that waits for an 'input' signal, then answers with it."""
    machine = Machine("ask", initial="ask")

    @machine.state(next=["answer"], waits=True)
    async def ask(ctx: StepContext) -> Wait:
        return Wait(signal="input", reason="needs_customer_reply", then="answer")

    @machine.state(terminal=True)
    async def answer(ctx: StepContext) -> Done:
        return Done(f"customer said: {ctx.state.messages[-1].content}")

    return Agent(name="asker", instructions=instructions, model=ScriptedModel([]), machine=machine)


async def test_handle_works_after_restart_and_waiting_run_resumes_in_new_runtime(
    store_url: str,
) -> None:
    """A run parked in one runtime is read and resumed by a later one."""
    async with Runtime(store_url) as rt:
        run = await rt.start(_waiting_agent(), "hello")
        first = await run.result()
    assert first.status == "waiting" and first.wait_reason == "needs_customer_reply"

    async with Runtime(store_url, agents=[_waiting_agent()]) as rt:
        again = rt.get(run.run_id)
        assert (await again.result()).status == "waiting"
        with pytest.raises(RunError, match="waits for signal 'input'"):
            await rt.signal(run.run_id, "approve")
        await rt.signal(run.run_id, "input", "tomorrow works", by="customer")
        result = await again.result()
    assert result.status == "completed" and result.output == "customer said: tomorrow works"


async def test_changed_agent_definition_refuses_to_resume_unless_accepted(store_url: str) -> None:
    """A run pinned to one agent version is not silently taken over by changed code."""
    async with Runtime(store_url) as rt:
        run = await rt.start(_waiting_agent("v1"), "hello")
        await run.result()

    async with Runtime(store_url, agents=[_waiting_agent("v2 changed")]) as rt:
        with pytest.raises(AgentVersionMismatchError, match="accept_new_version=True"):
            await rt.signal(run.run_id, "input", "x")
        assert (await rt.get(run.run_id).result()).status == "waiting"  # nothing changed

    async with Runtime(
        store_url, agents=[_waiting_agent("v2 changed")], accept_new_version=True
    ) as rt:
        await rt.signal(run.run_id, "input", "x")
        result = await rt.get(run.run_id).result()
        kinds = [e.type async for e in rt.get(run.run_id).events(follow=False)]
    assert result.status == "completed"
    assert "signal.received" in kinds  # the acceptance is on the record


async def test_cancel_waiting_and_running_runs(store_url: str) -> None:
    """Cancel ends a waiting run at once and a running one at its next step boundary."""
    gate = asyncio.Event()

    @tool
    async def slow() -> str:
        """Waits for the gate."""
        await gate.wait()
        return "ok"

    looping = Agent(
        name="looper",
        model=ScriptedModel(lambda req: tool_call("slow")),
        tools=[slow],
        max_turns=100,
    )
    async with Runtime(store_url) as rt:
        waiting = await rt.start(_waiting_agent(), "hi")
        await waiting.result()
        await rt.cancel(waiting.run_id, reason="customer left")
        assert (await waiting.result()).status == "cancelled"

        running = await rt.start(looping, "go")
        await asyncio.sleep(0.05)
        await rt.cancel(running.run_id, reason="operator stop")
        gate.set()
        result = await running.result(timeout=10)
        assert result.status == "cancelled"
        assert result.error is not None
        assert (result.error.error_code, result.error.message) == ("cancelled", "operator stop")
        assert result.error.error_code is RunFailureCode.CANCELLED
        with pytest.raises(RunError, match="already cancelled"):
            await rt.signal(running.run_id, "input", "x")


async def test_unknown_runs_and_closed_runtime_give_clear_errors(store_url: str) -> None:
    """Asking about a run that does not exist, or using a closed runtime, says so."""
    rt = Runtime(store_url)
    with pytest.raises(UserError, match="async with Runtime"):
        await rt.start(Agent(name="a", model=ScriptedModel([text("x")])), "x")
    async with rt:
        with pytest.raises(RunNotFoundError):
            await rt.get("run_missing").result()
        with pytest.raises(RunNotFoundError):
            [e async for e in rt.get("run_missing").events(follow=False)]
        with pytest.raises(RunNotFoundError):
            await rt.signal("run_missing", "input", "x")


async def test_many_concurrent_runs_complete_independently(store_url: str) -> None:
    """Hundreds of runs in one process share the store's group commit and all complete."""
    agent = Agent(name="many", model=ScriptedModel([text("ok")]))
    async with Runtime(store_url) as rt:
        handles = await asyncio.gather(*(rt.start(agent, f"task {i}") for i in range(300)))
        results = await asyncio.gather(*(h.result() for h in handles))
        listed = await rt.list_runs(statuses=["completed"], limit=1000)
    assert {r.status for r in results} == {"completed"}
    assert len(listed) == 300
