"""Values sealed for their key anywhere in a run stay masked where later text repeats them
(red team 17, holes 07, 10 and 01).

Session 13 masked a tool call's sealed argument where a later event repeated it. The
values were taken from the run's input and its calls' arguments only, so:

- 07: a tool result's ``{"api_key": ...}`` was sealed, then stored in clear in the email
  the model sent with it, in its reply and in the run's output;
- 10: an ``input`` signal's ``{"password": ...}``, the same through the model's reply;
- 01: a decision on a parked run (a deny reason quoting the proposed password) was
  sealed without the run's values at all.

Now any event whose stored form sealed something adds its values under sensitive keys,
and a decision on a parked run is protected with the values read from the run's state.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

from tether import Agent, Runtime, tool
from tether.models import ModelRequest
from tether.observe import unseal
from tether.policy import EscalationPolicy, Policy
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import ToolContext

KEY = "k9Q2-x7Lm-44Zr-p0Vt"
PASSWORD = "vpn-Pa55-for-bob-77"
SENT: list[str] = []


def _stored(path: Path) -> bytes:
    with sqlite3.connect(path) as conn:
        return b"".join(bytes(row[0]) for row in conn.execute("SELECT data FROM events"))


@tool
def create_api_key(owner: str) -> dict[str, str]:
    """Create an API key for a customer."""
    return {"owner": owner, "api_key": KEY}


@tool(effect="write")
def send_email(to: str, body: str) -> str:
    """Send an email."""
    SENT.append(body)
    return "sent"


async def test_a_sealed_tool_result_value_is_masked_where_the_model_repeats_it(
    tmp_path: Path,
) -> None:
    SENT.clear()

    def script(request: ModelRequest) -> Any:
        n = len(request.messages)
        if n == 1:
            return tool_call("create_api_key", owner="acme")
        if n == 3:
            return tool_call("send_email", to="ops@acme.test", body=f"your new key: {KEY}")
        return text(f"Done. Acme's new API key is {KEY}.")

    agent = Agent(name="keys", model=ScriptedModel(script), tools=[create_api_key, send_email])
    async with Runtime(f"sqlite:///{tmp_path}/t.db", agents=[agent]) as rt:
        run = await rt.start(agent, "make acme a key and mail it")
        result = await run.result()
        streamed = [rec async for rec in run.events(follow=False)]
    assert result.status == "completed"
    assert [f"your new key: {KEY}"] == SENT  # the email went out whole: what executes
    for rec in streamed:
        assert KEY not in rec.event.model_dump_json()
    assert KEY.encode() not in _stored(tmp_path / "t.db")


async def test_a_signal_payload_sealed_for_its_key_is_masked_in_the_reply(
    tmp_path: Path,
) -> None:
    def script(request: ModelRequest) -> Any:
        last = request.messages[-1].content or ""
        if len(request.messages) == 1:
            return tool_call("escalate_to_human", reason="I need bob's VPN password")
        if PASSWORD in last:
            return text(f"Thanks, I configured the VPN with {PASSWORD}.")
        return text("waiting")

    agent = Agent(
        name="vpn",
        model=ScriptedModel(script),
        policy=Policy(escalation=EscalationPolicy(model_can_escalate=True)),
    )
    async with Runtime(f"sqlite:///{tmp_path}/t.db", agents=[agent]) as rt:
        run = await rt.start(agent, "set up bob's vpn")
        assert (await run.result()).status == "escalated"
        await rt.signal(run.run_id, "input", {"password": PASSWORD}, by="ana")
        result = await run.result(timeout=30)
        streamed = [rec async for rec in run.events(follow=False)]
    assert result.status == "completed"
    assert any(rec.event.type == "model.completed" for rec in streamed[-4:])
    for rec in streamed:
        assert PASSWORD not in rec.event.model_dump_json()
    assert PASSWORD.encode() not in _stored(tmp_path / "t.db")


@tool(effect="write", requires_approval=True)
def set_password(user: str, password: str) -> str:
    """Set a user's password."""
    return "ok"


async def test_a_deny_reason_quoting_the_proposed_password_is_masked(tmp_path: Path) -> None:
    def script(request: ModelRequest) -> Any:
        if len(request.messages) == 1:
            return tool_call("set_password", user="bob", password=PASSWORD)
        return text("done")

    agent = Agent(name="pw", model=ScriptedModel(script), tools=[set_password])
    async with Runtime(f"sqlite:///{tmp_path}/t.db", agents=[agent]) as rt:
        run = await rt.start(agent, "reset bob")
        assert (await run.result()).status == "waiting"
        (pending,) = await run.pending_approvals()
        await rt.deny(run.run_id, pending.approval_id, by="ana", reason=f"no: {PASSWORD} is weak")
        result = await run.result(timeout=30)
        streamed = [rec async for rec in run.events(follow=False)]
    assert result.status == "completed"
    decided = [rec.event for rec in streamed if rec.event.type == "approval.decided"]
    assert decided and "is weak" in decided[0].model_dump_json()
    for rec in streamed:
        assert PASSWORD not in rec.event.model_dump_json()
    assert PASSWORD.encode() not in _stored(tmp_path / "t.db")


@tool(effect="write")
async def provision(user: str, password: str, ctx: ToolContext) -> str:
    """Provision an account and keep its welcome letter."""
    await ctx.artifacts.put_blob(f"letter:{user}", f"Welcome {user}! Login: {password}".encode())
    return f"provisioned {user}; the letter is artifact letter:{user}"


async def test_an_artifact_repeating_a_sealed_argument_is_kept_sealed(tmp_path: Path) -> None:
    """Red team 17, hole 11: a blob a tool keeps is protected with the run's values too."""

    def script(request: ModelRequest) -> Any:
        if len(request.messages) == 1:
            return tool_call("provision", user="bob", password=PASSWORD)
        return text("done")

    agent = Agent(name="prov", model=ScriptedModel(script), tools=[provision])
    async with Runtime(f"sqlite:///{tmp_path}/t.db", agents=[agent]) as rt:
        result = await (await rt.start(agent, "provision bob")).result()
        codec = rt.governance.protection.codec
    assert result.status == "completed"
    with sqlite3.connect(tmp_path / "t.db") as conn:
        (kept,) = [
            bytes(row[0])
            for row in conn.execute("SELECT data FROM blobs WHERE key = ?", ("letter:bob",))
        ]
    assert PASSWORD.encode() not in kept
    assert codec is not None  # the default runtime has a key: the letter is kept sealed
    letter = base64.b64decode(unseal(json.loads(kept), codec))
    assert letter == f"Welcome bob! Login: {PASSWORD}".encode()  # recoverable exactly


@tool(effect="write", requires_approval=True)
def notify(to: str) -> str:
    """Tell someone a key is ready."""
    return f"told {to}"


async def test_a_resumed_run_reads_sealed_result_values_back_from_its_state(
    tmp_path: Path,
) -> None:
    """After a park, a new process masks the key a tool returned before the park (read
    back from the run's JSON tool results) where the model repeats it afterwards."""

    def script(request: ModelRequest) -> Any:
        n = len(request.messages)
        if n == 1:
            return tool_call("create_api_key", owner="acme")
        if n == 3:
            return tool_call("notify", to="ops@acme.test")
        return text(f"All set; the key is {KEY}.")

    agent = Agent(name="keys2", model=ScriptedModel(script), tools=[create_api_key, notify])
    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
        run = await rt.start(agent, "make acme a key, then tell ops")
        assert (await run.result()).status == "waiting"
        (pending,) = await run.pending_approvals()
    async with Runtime(f"sqlite:///{tmp_path}/t.db", agents=[agent]) as rt:
        await rt.approve(run.run_id, pending.approval_id, by="ops")
        handle = rt.get(run.run_id)
        result = await handle.result(timeout=30)
        streamed = [rec async for rec in handle.events(follow=False)]
    assert result.status == "completed"
    assert any("All set; the key is" in rec.event.model_dump_json() for rec in streamed)
    for rec in streamed:
        assert KEY not in rec.event.model_dump_json()
    assert KEY.encode() not in _stored(tmp_path / "t.db")
