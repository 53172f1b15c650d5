"""A value sealed for its key stays sealed where the same event quotes it (red team 16, hole 1).

On the old code a tool argument named like a secret (``password``) was sealed in the
store, but the approval request's ``preview`` (the tool's own sentence about the call)
and ``reasoning`` (the model's text in the turn that made the call), and the stored
``model.completed`` reply, quoted the same value in clear: to the store file, the event
stream, the audit, and any ``runs:read`` key through ``GET /v1/approvals``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime, tool
from tether.models import ModelRequest, ModelResponse, ToolCall
from tether.testing import ScriptedModel, text

# No credential shape, no key name near it in prose: only the argument's key marks it.
PASSWORD = "Tr0ub4dor&3-horse"
RECEIVED: list[dict[str, Any]] = []


def _preview(arguments: dict[str, Any]) -> str:
    return f"set {arguments['user']}'s password to {arguments['password']}"


@tool(effect="write", requires_approval=True, preview=_preview)
def reset_password(user: str, password: str) -> str:
    """Reset a user's password."""
    RECEIVED.append({"user": user, "password": password})
    return "done"


@tool(effect="write", requires_approval=True)
def store_login(site: str, login: dict[str, Any]) -> str:
    """Keep a login for a site."""
    RECEIVED.append({"site": site, "login": login})
    return "kept"


@pytest.fixture(autouse=True)
def _clear() -> None:
    RECEIVED.clear()


def _calls_once(reply: str, call: ToolCall) -> Any:
    def script(request: ModelRequest) -> Any:
        if any(m.role == "tool" for m in request.messages):
            return text("ok")
        return ModelResponse(text=reply, tool_calls=[call], finish_reason="tool_calls")

    return script


def _db_bytes(store_url: str) -> bytes:
    base = Path(store_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in base.parent.glob(base.name + "*"))


async def test_preview_and_reasoning_do_not_quote_a_sealed_argument(store_url: str) -> None:
    call = ToolCall(id="c1", name="reset_password", arguments={"user": "bob", "password": PASSWORD})
    agent = Agent(
        name="pw",
        model=ScriptedModel(_calls_once(f"I will set bob's password to {PASSWORD} now.", call)),
        tools=[reset_password],
    )
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "reset bob's password")
        assert (await run.result()).status == "waiting"
        (pending,) = await run.pending_approvals()
        streamed = [rec async for rec in run.events(follow=False)]
    # What people read names the call, not the secret; the rest of the sentence stays.
    assert pending.preview is not None and PASSWORD not in pending.preview
    assert pending.preview.startswith("set bob's password to ")
    assert pending.reasoning is not None and PASSWORD not in pending.reasoning
    assert "bob" in pending.reasoning
    for rec in streamed:
        assert PASSWORD not in rec.event.model_dump_json()
    if store_url.startswith("sqlite:///"):
        assert PASSWORD.encode() not in _db_bytes(store_url)
    # The approver still sees (and the tool still gets) the real value: redaction
    # protects what leaves the process, never what executes.
    assert pending.arguments["password"] == PASSWORD
    async with Runtime(store_url, agents=[agent]) as rt:
        await rt.approve(run.run_id, pending.approval_id, by="ops")
        result = await rt.get(run.run_id).result(timeout=30)
    assert result.status == "completed"
    assert RECEIVED == [{"user": "bob", "password": PASSWORD}]


async def test_a_nested_sealed_value_is_masked_where_the_reply_quotes_it(store_url: str) -> None:
    login = {"name": "ana", "password": PASSWORD}
    call = ToolCall(id="c1", name="store_login", arguments={"site": "example.org", "login": login})
    agent = Agent(
        name="keeper",
        model=ScriptedModel(_calls_once(f"Saving ana / {PASSWORD} for example.org.", call)),
        tools=[store_login],
    )
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "keep my login")
        assert (await run.result()).status == "waiting"
        (pending,) = await run.pending_approvals()
        streamed = [rec async for rec in run.events(follow=False)]
    assert pending.reasoning is not None
    assert PASSWORD not in pending.reasoning and "example.org" in pending.reasoning
    for rec in streamed:
        assert PASSWORD not in rec.event.model_dump_json()
    if store_url.startswith("sqlite:///"):
        assert PASSWORD.encode() not in _db_bytes(store_url)


@tool
def login(user: str, password: str) -> str:
    """Log a user in (and, carelessly, echo what it was given)."""
    RECEIVED.append({"user": user, "password": password})
    return f"logged in {user} with password {password}"


async def test_a_later_event_that_repeats_a_sealed_value_is_masked_in_the_store(
    store_url: str,
) -> None:
    """A tool that echoes the password it was given, and a reply that reads it back: the
    store, the stream and the audit hold neither; the model still read the real output
    (redaction protects what leaves the process, never what executes)."""
    seen: list[str] = []

    def script(request: ModelRequest) -> Any:
        tool_messages = [m for m in request.messages if m.role == "tool"]
        if not tool_messages:
            return ModelResponse(
                tool_calls=[
                    ToolCall(id="c1", name="login", arguments={"user": "ana", "password": PASSWORD})
                ],
                finish_reason="tool_calls",
            )
        seen.append(tool_messages[-1].content or "")
        return text(f"Done: ana is in, with the password {PASSWORD}.")

    agent = Agent(name="echo", model=ScriptedModel(script), tools=[login])
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "log ana in")
        result = await run.result()
        streamed = [rec async for rec in run.events(follow=False)]
    assert result.status == "completed"
    assert RECEIVED == [{"user": "ana", "password": PASSWORD}]
    assert seen and PASSWORD in seen[0]  # what executes is unchanged
    assert result.output is not None and "Done: ana is in" in result.output
    for rec in streamed:
        assert PASSWORD not in rec.event.model_dump_json()
    if store_url.startswith("sqlite:///"):
        assert PASSWORD.encode() not in _db_bytes(store_url)


async def test_a_resumed_run_still_masks_a_value_sealed_before_it_parked(store_url: str) -> None:
    """The values come back with the run: a new process that approves the call and runs
    the echoing tool masks the password it was never shown in this process's events."""

    @tool(effect="write", requires_approval=True)
    def rotate(user: str, password: str) -> str:
        """Rotate a user's password."""
        return f"rotated {user} to {password}"

    def script(request: ModelRequest) -> Any:
        if any(m.role == "tool" for m in request.messages):
            return text("rotated")
        return ModelResponse(
            tool_calls=[
                ToolCall(id="c1", name="rotate", arguments={"user": "ana", "password": PASSWORD})
            ],
            finish_reason="tool_calls",
        )

    agent = Agent(name="rotator", model=ScriptedModel(script), tools=[rotate])
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "rotate ana")
        assert (await run.result()).status == "waiting"
        (pending,) = await run.pending_approvals()
    async with Runtime(store_url, agents=[agent]) as rt:
        await rt.approve(run.run_id, pending.approval_id, by="ops")
        handle = rt.get(run.run_id)
        result = await handle.result(timeout=30)
        streamed = [rec async for rec in handle.events(follow=False)]
    assert result.status == "completed"
    completed = [rec.event for rec in streamed if rec.event.type == "tool.completed"]
    assert completed and "rotated ana to " in completed[0].model_dump_json()
    for rec in streamed:
        assert PASSWORD not in rec.event.model_dump_json()
    if store_url.startswith("sqlite:///"):
        assert PASSWORD.encode() not in _db_bytes(store_url)
