"""Cache-stable prefixes: every model call records its prefix hash; a change is flagged."""

from __future__ import annotations

import asyncio

from tether import Agent, Runtime, tool
from tether.engine import Done, Goto, Machine, ModelCompleted, PrefixChanged, StepContext
from tether.exceptions import StoreError
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


async def test_a_burst_of_starts_writes_the_prefix_once(store_url: str) -> None:
    """20 runs started at once share one prefix write; if that write fails, each start
    writes for itself (as it would alone) and none fails; later starts write nothing."""

    def agent(instructions: str) -> Agent:
        return Agent(name=instructions, instructions=instructions, model=ScriptedModel([text("x")]))

    async with Runtime(store_url) as rt:
        real = rt.store.put_blob
        calls: list[str] = []
        failures = ["fail the first write"]

        async def put_blob(key: str, data: bytes) -> None:
            calls.append(key)
            await asyncio.sleep(0.01)  # still in flight while the other starts arrive
            if failures:
                failures.pop()
                raise StoreError("injected", transient=True)
            await real(key, data)

        rt.store.put_blob = put_blob  # type: ignore[method-assign]
        flaky = agent("flaky")
        runs = await asyncio.gather(*(rt.start(flaky, f"go {i}") for i in range(20)))
        assert len(calls) == 1 + 20  # the shared write, then each start's own
        for run in runs:
            assert (await run.result()).status == "completed"
        calls.clear()
        await asyncio.gather(*(rt.start(flaky, f"again {i}") for i in range(20)))
        assert calls == []  # known now
        steady = agent("steady")
        runs = await asyncio.gather(*(rt.start(steady, f"go {i}") for i in range(20)))
        assert calls == [f"prefix:{steady.prefix_hash}"]
        assert await rt.store.get_blob(f"prefix:{steady.prefix_hash}") == steady.prefix
