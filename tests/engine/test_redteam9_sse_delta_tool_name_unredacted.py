"""Red team 9, hole 01: a tool name the model streamed reached live watchers as it was.

``DeltaGuard.admit`` passed every delta that was not text through with its ``tool_name``
as the provider sent it (only ``arguments_fragment`` was blanked). A model that read a
key (a tool result is folded as it happened) and called a "tool" named after it sent
``{"kind": "tool_call", "tool_name": "sk-proj-..."}`` to every watcher following the run
with deltas, although the store records such a call's tool as ``<unknown>``.

Now the guard builds what it shows from a known list of fields: a text delta's text, a
tool call's index and name, the name only when it is one of the agent's tools (else
``<unknown>``, the label ``tool.failed`` records).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tether import Agent, LiveDelta, Runtime, tool
from tether.engine._events import UNKNOWN_TOOL_LABEL
from tether.engine._protect import DeltaGuard
from tether.models import ModelRequest, StreamDelta
from tether.observe import Redactor
from tether.testing import ScriptedModel, text, tool_call

SK = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"


def test_only_a_registered_tool_name_is_shown() -> None:
    for redactor in (Redactor(), None):
        guard = DeltaGuard(redactor, frozenset({"show_integration"}))
        made_up = guard.admit(
            StreamDelta(kind="tool_call", tool_call_index=1, tool_name=SK, arguments_fragment="{")
        )
        assert made_up == StreamDelta(
            kind="tool_call", tool_call_index=1, tool_name=UNKNOWN_TOOL_LABEL
        )
        known = guard.admit(StreamDelta(kind="tool_call", tool_name="show_integration"))
        assert known is not None and known.tool_name == "show_integration"
        piece = StreamDelta(kind="tool_call", arguments_fragment=f'{{"key": "{SK}"}}')
        assert guard.admit(piece) is None
        assert guard.admit(StreamDelta(kind="tool_call")) is None


def test_a_guard_without_the_agents_tools_shows_no_name() -> None:
    shown = DeltaGuard(Redactor()).admit(StreamDelta(kind="tool_call", tool_name="lookup"))
    assert shown is not None and shown.tool_name == UNKNOWN_TOOL_LABEL


def test_a_text_delta_carries_only_its_text() -> None:
    smuggled = StreamDelta(kind="text", text="hello ", tool_name=SK, arguments_fragment=SK)
    for redactor in (Redactor(), None):
        shown = DeltaGuard(redactor).admit(smuggled)
        assert shown == StreamDelta(kind="text", text="hello ")


async def test_a_live_watcher_never_sees_a_key_the_model_called_as_a_tool(tmp_path: Path) -> None:
    watching = asyncio.Event()

    @tool
    async def show_integration(name: str) -> dict[str, Any]:
        """Show an integration's settings."""
        await asyncio.wait_for(watching.wait(), 10)
        return {"integration": name, "note": f"configured with {SK}"}

    def script(request: ModelRequest) -> Any:
        turns = sum(m.role == "assistant" for m in request.messages)
        if turns == 0:
            return tool_call("show_integration", name="openai")
        if turns == 1:
            return tool_call(SK, x=1)  # an "unknown tool" named after the secret
        return text("done")

    agent = Agent(name="support", model=ScriptedModel(script), tools=[show_integration])
    deltas: list[StreamDelta] = []
    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
        run = await rt.start(agent, "hi")
        async for item in run.events(deltas=True):
            watching.set()
            if isinstance(item, LiveDelta):
                deltas.append(item.delta)
        assert (await run.result()).status == "completed"
    names = [d.tool_name for d in deltas if d.kind == "tool_call"]
    assert UNKNOWN_TOOL_LABEL in names, names
    assert not any(SK in d.model_dump_json() for d in deltas)
