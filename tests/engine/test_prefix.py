"""Cache-stable prefixes: every model call records its prefix hash; a change is flagged."""

from __future__ import annotations

from tether import Agent, Runtime, tool
from tether.engine import Done, Goto, Machine, ModelCompleted, PrefixChanged, StepContext
from tether.testing import ScriptedModel, text


@tool
def lookup(q: str) -> str:
    """Looks something up."""
    return q


@tool
def extra(q: str) -> str:
    """Another tool."""
    return q


async def test_prefix_hash_is_stable_across_turns_and_a_change_is_flagged(store_url: str) -> None:
    """Same instructions and tools → same hash every call; new tools → prefix.changed."""
    machine = Machine("probe", initial="steady")

    @machine.state(next=["bust"])
    async def steady(ctx: StepContext) -> Goto:
        await ctx.call_model(ctx.build_request())
        await ctx.call_model(ctx.build_request())
        return Goto("bust")

    @machine.state(terminal=True)
    async def bust(ctx: StepContext) -> Done:
        request = ctx.build_request()
        changed = request.model_copy(
            update={"tools": [*request.tools, extra.spec()], "instructions": "new rules"}
        )
        await ctx.call_model(changed)
        return Done("ok")

    agent = Agent(
        name="p",
        instructions="rules",
        model=ScriptedModel(lambda r: text("x")),
        tools=[lookup],
        machine=machine,
    )
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "go")
        await run.result()
        events = [e.event async for e in run.events(follow=False)]
        hashes = [e.prefix_hash for e in events if isinstance(e, ModelCompleted)]
        (warning,) = [e for e in events if isinstance(e, PrefixChanged)]
        stored = await rt.store.get_blob(f"prefix:{warning.current}")
    assert hashes[0] == hashes[1] == agent.prefix_hash != hashes[2]
    assert warning.previous == agent.prefix_hash and warning.current == hashes[2]
    assert warning.changed == ["instructions", "tool added: extra"]
    assert stored is not None and b"new rules" in stored  # the new prefix is reconstructable
