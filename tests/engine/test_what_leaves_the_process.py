"""Redaction covers everything that leaves the process, and an expired request decides nothing.

Each test reproduces a hole found by a red-team pass on the old code:
- ``run.created`` went to the store (and the event stream) unsealed: a key pasted into
  the task, a password in an input object, metadata;
- live token deltas reached watchers unredacted, tool-call argument fragments included;
- observers and ``RunHandle.events()`` got the unredacted event whenever the redactor's
  replacement text was not one of the three markers they looked for;
- an approval request past its expiry could still be approved, and the write ran.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, LiveDelta, Runtime, tool
from tether.exceptions import ApprovalError
from tether.models import ModelRequest, ModelResponse, StreamDelta, ToolCall, Usage
from tether.observe import Redactor
from tether.policy import ApprovalSettings, Policy
from tether.testing import ScriptedModel, text, tool_call

SK = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"
PASSWORD = "correct-horse-battery-staple-42"


def _stored(path: Path) -> bytes:
    with sqlite3.connect(path) as conn:
        return b"".join(bytes(row[0]) for row in conn.execute("SELECT data FROM events"))


async def test_run_input_and_metadata_are_stored_sealed_and_the_model_reads_them_whole(
    tmp_path: Path,
) -> None:
    seen: list[str] = []

    def script(request: ModelRequest) -> Any:
        seen.append(request.messages[0].content or "")
        return text("noted")

    agent = Agent(name="intake", model=ScriptedModel(script))
    task = {"note": f"my key {SK} leaked", "password": PASSWORD}
    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
        run = await rt.start(agent, task, metadata={"api_key": PASSWORD})
        assert (await run.result()).status == "completed"
        shown = [rec async for rec in run.events(follow=False)]
    stored = _stored(tmp_path / "t.db")
    assert SK.encode() not in stored and PASSWORD.encode() not in stored
    assert SK in seen[0] and PASSWORD in seen[0]  # the run itself works from the real input
    first = shown[0].event.model_dump_json()
    assert SK not in first and PASSWORD not in first


class _Streaming:
    """A model client streaming a reply that repeats a key, split across deltas."""

    model_id = "streaming-test"

    def __init__(self) -> None:
        self.turn = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        raise AssertionError("only streamed here")

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamDelta | ModelResponse]:
        self.turn += 1
        if self.turn == 1:
            yield StreamDelta(kind="tool_call", tool_name="login")
            yield StreamDelta(kind="tool_call", arguments_fragment=f'{{"password": "{PASSWORD}"}}')
            call = ToolCall(id="c1", name="login", arguments={"password": PASSWORD})
            yield ModelResponse(tool_calls=[call], finish_reason="tool_calls", usage=Usage())
            return
        pieces = ["Your integration uses the key ", SK[:12], SK[12:], " and works. ", "Bye"]
        for piece in pieces:
            yield StreamDelta(kind="text", text=piece)
        yield ModelResponse(text="".join(pieces), finish_reason="stop", usage=Usage())


@tool
def login(password: str) -> str:
    """Log in."""
    return "logged in"


async def test_live_deltas_are_redacted_and_carry_no_argument_fragments(tmp_path: Path) -> None:
    agent = Agent(name="streamer", model=_Streaming(), tools=[login])
    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
        run = await rt.start(agent, "log in")
        deltas: list[StreamDelta] = []
        async for item in run.events(deltas=True):
            if isinstance(item, LiveDelta):
                deltas.append(item.delta)
        assert (await run.result()).status == "completed"
    shown = "".join(d.text for d in deltas)
    assert deltas, "the reply streamed"
    assert "Your integration uses the key" in shown
    assert SK not in shown and SK[:12] not in shown
    assert all(d.arguments_fragment == "" for d in deltas)
    assert [d.tool_name for d in deltas if d.kind == "tool_call"] == ["login"]


async def test_watchers_get_the_stored_form_whatever_the_replacement_text(tmp_path: Path) -> None:
    @tool
    def fetch_config(name: str) -> dict[str, Any]:
        """Read a config entry."""
        raise RuntimeError(f"config service refused key {SK}")

    def script(request: ModelRequest) -> Any:
        if not any(m.role == "assistant" for m in request.messages):
            return tool_call("fetch_config", name="x")
        return text(f"the key was {SK}")

    agent = Agent(name="config", model=ScriptedModel(script), tools=[fetch_config])
    observed: list[Any] = []
    redactor = Redactor(replacement="<hidden>")
    async with Runtime(f"sqlite:///{tmp_path}/t.db", agents=[agent], redactor=redactor) as rt:
        rt.add_observer(lambda run_id, events: observed.extend(events))
        run = await rt.start(agent, "go")
        live = [rec async for rec in run.events()]
    assert observed and live
    for rec in [*observed, *live]:
        assert SK not in rec.event.model_dump_json(), rec.event.type
    assert any("<hidden>" in rec.event.model_dump_json() for rec in live)


REFUNDS: list[int] = []


@tool(effect="write", requires_approval=True)
def refund(order_id: str, amount_cents: int) -> str:
    """Refund an order."""
    REFUNDS.append(amount_cents)
    return "refunded"


def _expiring_agent() -> Agent:
    def script(request: ModelRequest) -> Any:
        if len(request.messages) == 1:
            return tool_call("refund", order_id="A-1", amount_cents=90000)
        return text("done")

    settings = ApprovalSettings(timeout_seconds=60, on_expiry="deny")
    return Agent(
        name="refunds",
        model=ScriptedModel(script),
        tools=[refund],
        policy=Policy(approvals=settings),
    )


async def test_an_expired_approval_request_cannot_be_approved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    REFUNDS.clear()
    agent = _expiring_agent()
    async with Runtime(f"sqlite:///{tmp_path}/t.db", agents=[agent], worker=False) as client:
        run = await client.start(agent, "refund")
    async with Runtime(f"sqlite:///{tmp_path}/t.db", agents=[agent]) as rt:
        assert (await rt.get(run.run_id).result(timeout=10)).status == "waiting"
        (pending,) = await rt.get(run.run_id).pending_approvals()
        assert pending.expires_at is not None
        later = pending.expires_at + 1.0
        monkeypatch.setattr("tether.runtime._control.time.time", lambda: later)
        with pytest.raises(ApprovalError, match="expired"):
            await rt.approve(run.run_id, pending.approval_id, by="ana")
        state = await rt.load_state(run.run_id)
    assert state.status == "waiting" and state.approvals[pending.approval_id].decision is None
    assert REFUNDS == []


async def test_a_decision_recorded_after_the_expiry_approves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A decision an older client wrote after the deadline: the gate refuses to run it."""
    from tether.engine import ApprovalDecided

    REFUNDS.clear()
    agent = _expiring_agent()
    async with Runtime(f"sqlite:///{tmp_path}/t.db", agents=[agent]) as rt:
        run = await rt.start(agent, "refund")
        assert (await run.result()).status == "waiting"
        (pending,) = await run.pending_approvals()
        assert pending.expires_at is not None
        late = pending.expires_at + 1.0
        monkeypatch.setattr("tether.runtime._control.time.time", lambda: late)
        async with rt._leased(run.run_id):  # an old client's append path
            state = await rt.load_state(run.run_id)
            decided = ApprovalDecided(
                call_id=pending.call_id,
                approval_id=pending.approval_id,
                approved=True,
                by="old-client",
            )
            await rt._append_to_parked(state, [decided], "running", "approval")
        monkeypatch.undo()
        result = await rt.get(run.run_id).result(timeout=10)
        events = [rec.event async for rec in rt.get(run.run_id).events(follow=False)]
    assert REFUNDS == []
    failed = [e for e in events if e.type == "tool.failed"]
    assert failed and failed[0].error.error_code == "approval_expired"
    assert result.status in ("completed", "waiting")
