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
