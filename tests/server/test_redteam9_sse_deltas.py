"""Red team 9, holes 01 and 03, over the wire: ``GET /v1/runs/{id}/events?deltas=1``.

What a ``runs:read`` key following a run with live deltas (the browser UI) receives from
a real server (uvicorn, SQLite):

* hole 01: a tool call the model named after a key it read went out as
  ``{"kind": "tool_call", "tool_name": "sk-proj-..."}`` (the store records ``<unknown>``);
* hole 03: a quoted passphrase (``password="correct horse battery staple"``) streamed out
  word by word before its closing quote made it a match (the store masks it).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tether import Agent, tool
from tether.models import ModelRequest, ModelResponse, StreamDelta
from tether.testing import ScriptedModel, text, tool_call

sys.path.insert(0, str(Path(__file__).parent))
from _live import LiveServer, live_server
from _sse_client import Frame, parse

SK = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"
PASSPHRASE = "correct horse battery staple"
WATCHING = threading.Event()
"""Set once the test's client reads the stream: the tools wait for it."""


async def _watched() -> None:
    await asyncio.to_thread(WATCHING.wait, 20)


@tool
async def show_integration(name: str) -> dict[str, Any]:
    """Show an integration's settings."""
    await _watched()
    return {"integration": name, "note": f"configured with {SK}"}


@tool
async def vault_entry(name: str) -> dict[str, Any]:
    """Look up a shared vault entry."""
    await _watched()
    return {"name": name, "password": PASSPHRASE}


def _integrations(request: ModelRequest) -> Any:
    turns = sum(m.role == "assistant" for m in request.messages)
    if turns == 0:
        return tool_call("show_integration", name="openai")
    if turns == 1:
        return tool_call(SK, x=1)  # an "unknown tool" named after the secret
    return text("done")


def _vault(request: ModelRequest) -> Any:
    if not any(m.role == "assistant" for m in request.messages):
        return tool_call("vault_entry", name="wifi")
    return text(f'Sure, log in with password="{PASSPHRASE}" and you are set.')


class _WordStreaming(ScriptedModel):
    """ScriptedModel streaming one delta per word, as providers do."""

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamDelta | ModelResponse]:
        response = await self.complete(request)
        words = (response.text or "").split(" ")
        for i, word in enumerate(words):
            yield StreamDelta(kind="text", text=word + (" " if i < len(words) - 1 else ""))
        for i, call in enumerate(response.tool_calls):
            yield StreamDelta(kind="tool_call", tool_call_index=i, tool_name=call.name)
        yield response


INTEGRATIONS = Agent(
    name="integrations", model=ScriptedModel(_integrations), tools=[show_integration]
)
VAULT = Agent(name="vault", model=_WordStreaming(_vault), tools=[vault_entry])


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("rt9")
    with live_server(f"sqlite:///{folder}/tether.db", [INTEGRATIONS, VAULT]) as live:
        yield live


def _follow(srv: LiveServer, agent: str) -> tuple[list[Frame], bytes]:
    """Start a run, follow it with deltas to its end; its frames and its stored bytes."""
    WATCHING.clear()
    headers = {"Authorization": f"Bearer {srv.key('acme', ['runs:read', 'runs:write'])}"}
    with httpx.Client(base_url=srv.url, headers=headers, timeout=30) as client:
        run = client.post("/v1/runs", json={"agent": agent, "input": "hi"}).json()
        frames: list[Frame] = []
        buffer = ""
        url = f"/v1/runs/{run['run_id']}/events"
        with client.stream("GET", url, params={"deltas": 1}) as response:
            assert response.status_code == 200
            for chunk in response.iter_text():
                got, buffer = parse(buffer + chunk)
                frames.extend(got)
                if frames:
                    WATCHING.set()
                if any(f.event == "end" for f in got):
                    break
    rows = srv.call(srv.runtime.store.load_events(run["run_id"]))
    return frames, b"".join(row.data for row in rows)


def test_hole_01_a_tool_name_made_of_a_key_never_reaches_a_delta_frame(srv: LiveServer) -> None:
    frames, stored = _follow(srv, "integrations")
    assert SK.encode() not in stored  # the premise: the store keeps no such name
    calls = [f.json() for f in frames if f.event == "delta" and f.json()["kind"] == "tool_call"]
    names = [c["tool_name"] for c in calls]  # the first call may precede the client
    assert "<unknown>" in names and set(names) <= {"show_integration", "<unknown>"}
    assert not any(SK in f.data for f in frames)
    assert all(
        set(c) <= {"kind", "text", "tool_call_index", "tool_name", "arguments_fragment"}
        for c in calls
    )
    assert all(not c["arguments_fragment"] for c in calls)


def test_hole_03_a_quoted_passphrase_never_reaches_a_delta_frame(srv: LiveServer) -> None:
    frames, stored = _follow(srv, "vault")
    assert not any(word.encode() in stored for word in PASSPHRASE.split())  # the premise
    streamed = "".join(
        f.json()["text"] for f in frames if f.event == "delta" and f.json()["kind"] == "text"
    )
    assert streamed == 'Sure, log in with password="[REDACTED]" and you are set.'
    assert not any(word in f.data for f in frames for word in PASSPHRASE.split())
