"""The prompt prefix blob (``prefix:<hash>``) leaves the process like an artifact: a key
pasted into an agent's instructions is kept sealed (or redacted without a payload key),
never in clear; the model still gets the instructions as written (red team 17, hole 6)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from tether import Agent, Runtime
from tether.engine import Done, Machine, PrefixChanged, StepContext
from tether.models import ModelRequest, ModelResponse
from tether.observe import AESGCMCodec, unseal
from tether.testing import ScriptedModel, text

KEY = "sk-proj-" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6"
INSTRUCTIONS = f"You are the billing bot. Our Stripe proxy key is {KEY}."


def _agent(seen: list[str], machine: Machine | None = None) -> Agent:
    def reply(request: ModelRequest) -> ModelResponse:
        seen.append(request.instructions)
        return text("ok")

    return Agent(
        name="billing",
        instructions=INSTRUCTIONS,
        model=ScriptedModel(reply),
        **({"machine": machine} if machine is not None else {}),
    )


async def test_a_key_in_the_instructions_is_kept_sealed_in_the_prefix_blob(tmp_path: Path) -> None:
    codec = AESGCMCodec.from_base64(AESGCMCodec.generate_key(), key_id="k1")
    seen: list[str] = []
    agent = _agent(seen)
    async with Runtime(f"sqlite:///{tmp_path}/t.db", payload_codec=codec) as rt:
        result = await (await rt.start(agent, "hi")).result()
        stored = await rt.store.get_blob(f"prefix:{agent.prefix_hash}")
    assert result.status == "completed"
    assert seen == [INSTRUCTIONS]  # what executes is unchanged
    assert stored is not None and KEY.encode() not in stored
    # Sealed whole under the runtime's key: the exact prefix comes back with it.
    opened = unseal(json.loads(stored), codec)
    assert base64.b64decode(opened) == agent.prefix


async def test_without_a_payload_key_the_prefix_blob_is_kept_redacted(tmp_path: Path) -> None:
    seen: list[str] = []
    agent = _agent(seen)
    async with Runtime(f"sqlite:///{tmp_path}/t.db", payload_codec=None) as rt:
        result = await (await rt.start(agent, "hi")).result()
        stored = await rt.store.get_blob(f"prefix:{agent.prefix_hash}")
    assert result.status == "completed" and seen == [INSTRUCTIONS]
    assert stored is not None and KEY.encode() not in stored
    kept = json.loads(stored)
    assert kept["instructions"].startswith("You are the billing bot.")
    assert kept["tools"] == [] and kept["output_schema"] is None


async def test_a_prefix_change_after_a_sealed_prefix_is_reported_not_fatal(tmp_path: Path) -> None:
    """The engine reads the previous prefix back to say what changed: a sealed one is
    reported as such, and the run goes on."""
    machine = Machine("probe", initial="bust")

    @machine.state(terminal=True)
    async def bust(ctx: StepContext) -> Done:
        await ctx.call_model(ctx.build_request())
        changed = ctx.build_request().model_copy(update={"instructions": "new rules"})
        await ctx.call_model(changed)
        return Done("ok")

    seen: list[str] = []
    agent = _agent(seen, machine)
    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:  # the key file beside the db
        run = await rt.start(agent, "go")
        result = await run.result()
        events = [e.event async for e in run.events(follow=False)]
    assert result.status == "completed"
    assert seen == [INSTRUCTIONS, "new rules"]
    (warning,) = [e for e in events if isinstance(e, PrefixChanged)]
    assert warning.previous == agent.prefix_hash
    assert warning.changed == ["previous prefix sealed"]


async def test_a_prefix_a_step_changes_to_is_kept_sealed_too(tmp_path: Path) -> None:
    """The engine stores the prefix a request changes to (to say what changed next time):
    it is kept as the agent's is, never in clear."""
    machine = Machine("probe", initial="bust")

    @machine.state(terminal=True)
    async def bust(ctx: StepContext) -> Done:
        await ctx.call_model(ctx.build_request())
        changed = ctx.build_request().model_copy(update={"instructions": f"now use {KEY}"})
        await ctx.call_model(changed)
        return Done("ok")

    seen: list[str] = []
    agent = Agent(
        name="plain",
        instructions="You are the billing bot.",
        model=_agent(seen).model,
        machine=machine,
    )
    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
        run = await rt.start(agent, "go")
        result = await run.result()
        events = [e.event async for e in run.events(follow=False)]
        (warning,) = [e for e in events if isinstance(e, PrefixChanged)]
        stored = await rt.store.get_blob(f"prefix:{warning.current}")
    assert result.status == "completed"
    assert seen[-1] == f"now use {KEY}"  # the model got the instructions as written
    assert warning.changed == ["instructions"]  # the agent's clean prefix reads back
    assert stored is not None and KEY.encode() not in stored
