"""The journal: a re-executed step reuses recorded effects instead of running them again."""

from __future__ import annotations

from typing import Any

from tether import Agent, Runtime, tool
from tether.engine import Done, Goto, Machine, StepContext
from tether.engine._driver import RunDriver
from tether.engine._state import RunState
from tether.testing import ScriptedModel, text, tool_call


async def test_replayed_step_returns_recorded_model_tool_clock_and_random_values(
    store_url: str,
) -> None:
    """Effects committed in a step are served from the journal when the step runs again."""
    calls = {"model": 0, "tool": 0}

    @tool
    def lookup(q: str) -> str:
        """Counts its calls."""
        calls["tool"] += 1
        return f"result {calls['tool']}"

    def script(req: Any) -> Any:
        calls["model"] += 1
        return tool_call("lookup", q="x") if calls["model"] == 1 else text("done")

    agent = Agent(name="j", model=ScriptedModel(script), tools=[lookup])
    seen: dict[str, Any] = {}

    machine = Machine("probe", initial="probe")

    @machine.state(terminal=True)
    async def probe(ctx: StepContext) -> Done:
        reply = await ctx.call_model(ctx.build_request())
        results = await ctx.call_tools(reply.tool_calls)
        seen.setdefault("runs", []).append(
            (reply.tool_calls[0].id, results[0].result, await ctx.now(), await ctx.random_id())  # type: ignore[union-attr]
        )
        return Done("ok")

    probe_agent = Agent(name="j", model=agent.model, tools=[lookup], machine=machine)
    async with Runtime(store_url) as rt:
        run = await rt.start(probe_agent, "go")
        await run.result()
        state = await rt.load_state(run.run_id)
    assert calls == {"model": 1, "tool": 1}

    # Re-execute the same step on a state folded back to *before* its end: everything the
    # step did is in the journal, so nothing runs again and the same values come back.
    rows = await _events_of_first_step(store_url, run.run_id)
    replay_state = RunState(run_id=run.run_id)
    from tether.engine import apply

    for rec in rows:
        apply(replay_state, rec)
    assert sorted(replay_state.journal) == [0, 1, 2, 3]
    driver = RunDriver(store=None, agent=probe_agent, state=replay_state)  # type: ignore[arg-type]
    await probe(StepContext(driver))
    assert calls == {"model": 1, "tool": 1}
    assert seen["runs"][0] == seen["runs"][1]
    assert state.status == "completed"


async def _events_of_first_step(store_url: str, run_id: str) -> list[Any]:
    from tether.engine import ModelCompleted, RunFinished
    from tether.runtime._runtime import to_run_events
    from tether.store import open_store

    store = open_store(store_url)
    await store.open()
    try:
        events = to_run_events(run_id, await store.load_events(run_id))
    finally:
        await store.close()
    # Keep the step's effects, drop the run's ending, as a crash before the final commit would.
    cut = next(i for i, e in enumerate(events) if isinstance(e.event, RunFinished))
    assert any(isinstance(e.event, ModelCompleted) for e in events[:cut])
    return events[:cut]


async def test_custom_workflow_machine_runs_with_data_between_states(store_url: str) -> None:
    """User-defined machines run on the same primitives, carrying data across steps."""
    machine = Machine("triage", initial="classify")

    @machine.state(next=["draft"])
    async def classify(ctx: StepContext) -> Goto:
        return Goto("draft", data={"category": "shipping"})

    @machine.state(terminal=True)
    async def draft(ctx: StepContext) -> Done:
        return Done(f"category={ctx.state.data['category']}")

    agent = Agent(name="triage", model=ScriptedModel([]), machine=machine)
    async with Runtime(store_url) as rt:
        result = await (await rt.start(agent, "my parcel is late")).result()
    assert result.output == "category=shipping" and result.steps == 1


async def test_undeclared_transition_fails_the_run_cleanly(store_url: str) -> None:
    """A state jumping somewhere it did not declare fails the run with illegal_transition."""
    machine = Machine("bad", initial="a")

    @machine.state(next=["b"])
    async def a(ctx: StepContext) -> Goto:
        return Goto("a")

    @machine.state(terminal=True)
    async def b(ctx: StepContext) -> Done:
        return Done()

    agent = Agent(name="bad", model=ScriptedModel([]), machine=machine)
    async with Runtime(store_url) as rt:
        result = await (await rt.start(agent, "x")).result()
    assert result.status == "failed" and result.error.error_code == "illegal_transition"
