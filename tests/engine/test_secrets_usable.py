"""Secrets stay usable: redaction protects what is persisted and shown, never what executes.

On the old code the redactor rewrote each event before the fold, so every parameter
named like a secret (``password``, ``token``, ``page_token``, ``session``, ``auth``,
``cookie``) reached its tool as the literal ``"[REDACTED]"``, and approvers saw only
that. Now the run folds the real values and the store holds them sealed: encrypted by
the payload codec (recoverable after approval, after a crash, in another process) or,
without a key, as references, in which case a write parks instead of running with a
placeholder.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime, ToolContext, tool
from tether.engine import ToolCompleted
from tether.models import ModelRequest
from tether.observe import AESGCMCodec, unseal
from tether.policy import MappingSecrets, SecretBroker
from tether.testing import ScriptedModel, text, tool_call

PASSWORD = "correct-horse-battery-staple-42"
RECEIVED: list[dict[str, Any]] = []


@tool(effect="write", requires_approval=True)
def set_password(user: str, password: str) -> str:
    """Set a user's password."""
    RECEIVED.append({"user": user, "password": password})
    return f"password of {user} changed"


@tool
def fetch(page_token: str, session: str, auth: str, cookie: str, token: str) -> dict[str, Any]:
    """Fetch a page of results."""
    RECEIVED.append(
        {
            "page_token": page_token,
            "session": session,
            "auth": auth,
            "cookie": cookie,
            "token": token,
        }
    )
    return {"items": ["a", "b"], "next_page_token": "pg-2-7f3a9c"}


@pytest.fixture(autouse=True)
def _clear() -> None:
    RECEIVED.clear()


def _then_answer(first: Any) -> Any:
    def script(req: ModelRequest) -> Any:
        if len(req.messages) == 1:
            return first
        return text(f"done: {req.messages[-1].content}")

    return script


def _agent(first: Any, tools: list[Any]) -> Agent:
    return Agent(name="secrets", model=ScriptedModel(_then_answer(first)), tools=tools)


def _db_bytes(store_url: str) -> bytes:
    base = Path(store_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in base.parent.glob(base.name + "*"))


async def test_secret_named_parameters_reach_the_tool_unchanged(store_url: str) -> None:
    args = {"page_token": "pg-1", "session": "s-1", "auth": "a-1", "cookie": "c=1", "token": "t-1"}
    async with Runtime(store_url) as rt:
        run = await rt.start(_agent(tool_call("fetch", **args), [fetch]), "list")
        result = await run.result()
    assert result.status == "completed"
    assert [args] == RECEIVED
    # The model sees the real next page token, so it can ask for the next page.
    assert "pg-2-7f3a9c" in result.output


async def test_the_password_runs_real_is_sealed_in_the_store_and_survives_a_new_process(
    store_url: str,
) -> None:
    call = tool_call("set_password", user="ana", password=PASSWORD)
    agent = _agent(call, [set_password])
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "reset my password")
        assert (await run.result()).status == "waiting"
        (pending,) = await run.pending_approvals()
        assert pending.arguments["password"] == PASSWORD  # the approver may see it
        streamed = [e async for e in run.events(follow=False)]
    assert PASSWORD.encode() not in _db_bytes(store_url)
    assert all(PASSWORD not in (r.data or b"").decode() for r in streamed)
    # A new runtime (as after a restart, or the approving process) recovers the value.
    async with Runtime(store_url, agents=[agent]) as rt:
        await rt.approve(run.run_id, pending.approval_id, by="ops")
        result = await rt.get(run.run_id).result(timeout=30)
    assert result.status == "completed"
    assert RECEIVED == [{"user": "ana", "password": PASSWORD}]
    assert PASSWORD.encode() not in _db_bytes(store_url)


async def test_without_a_key_an_unrecoverable_write_parks_instead_of_running(
    store_url: str,
) -> None:
    call = tool_call("set_password", user="ana", password=PASSWORD)
    agent = _agent(call, [set_password])
    async with Runtime(store_url, payload_codec=None) as rt:
        run = await rt.start(agent, "reset my password")
        await run.result()
        (pending,) = await run.pending_approvals()
    async with Runtime(store_url, agents=[agent], payload_codec=None) as rt:
        await rt.approve(run.run_id, pending.approval_id, by="ops")
        result = await rt.get(run.run_id).result(timeout=30)
    assert RECEIVED == []  # never with a placeholder
    assert result.status == "waiting" and result.wait_reason == "uncertain_write"
    assert PASSWORD.encode() not in _db_bytes(store_url)


async def test_a_codec_key_from_the_environment_is_used(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = AESGCMCodec.generate_key()
    monkeypatch.setenv("TETHER_PAYLOAD_KEY", key)
    call = tool_call("set_password", user="ana", password=PASSWORD)
    agent = _agent(call, [set_password])
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "reset")
        await run.result()
        (pending,) = await run.pending_approvals()
    assert not (Path(store_url.removeprefix("sqlite:///")).parent / "payload.key").exists()
    async with Runtime(store_url, agents=[agent]) as rt:
        await rt.approve(run.run_id, pending.approval_id, by="ops")
        assert (await rt.get(run.run_id).result(timeout=30)).status == "completed"
    assert RECEIVED == [{"user": "ana", "password": PASSWORD}]


async def test_a_broker_secret_equal_to_a_status_word_never_breaks_the_log(
    store_url: str,
) -> None:
    """A credential "completed" must not rewrite event types or statuses."""

    @tool(credentials=["weird"])
    def check(ctx: ToolContext) -> str:
        """Check a thing."""
        return "all good"

    broker = SecretBroker([MappingSecrets({"weird": "completed"})])
    async with Runtime(store_url, secrets=broker) as rt:
        run = await rt.start(_agent(tool_call("check"), [check]), "check")
        result = await run.result()
        events = [e async for e in run.events(follow=False)]
        state = await rt.load_state(run.run_id)
    assert result.status == "completed" and state.status == "completed"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_an_encoded_echo_of_a_handed_out_secret_never_reaches_the_model(
    store_url: str,
) -> None:
    secret = "sk_live_9f8e7d6c5b4a39281706"
    seen: list[str] = []

    @tool(credentials=["stripe_key"])
    def leak(ctx: ToolContext) -> str:
        """A careless tool that echoes its key, base64-encoded and upper-cased."""
        key = ctx.secrets["stripe_key"]
        return f"auth={base64.b64encode(key.encode()).decode()} KEY={key.upper()}"

    def script(req: ModelRequest) -> Any:
        seen.extend(m.content or "" for m in req.messages)
        if len(req.messages) == 1:
            return tool_call("leak")
        return text("ok")

    broker = SecretBroker([MappingSecrets({"stripe_key": secret})])
    agent = Agent(name="leaky", model=ScriptedModel(script), tools=[leak])
    async with Runtime(store_url, secrets=broker) as rt:
        run = await rt.start(agent, "go")
        assert (await run.result()).status == "completed"
        events = [e.event async for e in run.events(follow=False)]
    encoded = base64.b64encode(secret.encode()).decode()
    for text_seen in seen:
        assert secret not in text_seen and encoded not in text_seen
        assert secret.upper() not in text_seen
    (done,) = [e for e in events if isinstance(e, ToolCompleted)]
    assert secret not in str(done.result) and encoded not in str(done.result)
    raw = _db_bytes(store_url)
    assert secret.encode() not in raw and encoded.encode() not in raw


async def test_an_artifact_a_tool_keeps_is_protected_with_the_runtimes_redactor_and_codec(
    store_url: str,
) -> None:
    """``ctx.artifacts`` is the store behind the run's protection, not the raw store.

    A tool keeps a large export that echoes the credential the broker handed it (a value
    no default shape knows): the blob is kept sealed by the runtime's payload codec, and
    unseals to the export; a clean blob is kept as it was.
    """
    secret = "zebra-crossing-417-quartz"  # no credential shape: only the broker knows it
    export = ("row,value\n" * 3_000 + f"token,{secret}\n").encode()
    clean = b"row,value\n" * 3_000

    @tool(credentials=["warehouse"])
    async def dump(ctx: ToolContext) -> str:
        """Export the table, keeping the full export as an artifact."""
        await ctx.artifacts.put_blob("artifact:export", export)
        await ctx.artifacts.put_blob("artifact:clean", clean)
        return "exported"

    broker = SecretBroker([MappingSecrets({"warehouse": secret})])
    async with Runtime(store_url, secrets=broker) as rt:
        run = await rt.start(_agent(tool_call("dump"), [dump]), "export")
        assert (await run.result()).status == "completed"
        kept = await rt.store.get_blob("artifact:export")
        assert await rt.store.get_blob("artifact:clean") == clean
        codec = rt.governance.protection.codec
    assert kept is not None and secret.encode() not in kept
    assert codec is not None
    assert base64.b64decode(unseal(json.loads(kept), codec)) == export
    assert secret.encode() not in _db_bytes(store_url)
