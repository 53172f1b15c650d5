"""Red team 14, holes 02 and 04: a secret used as a mapping *key* was never redacted.

- 02: a value the secrets broker handed to a tool, returned by the tool as a key of its
  result (``{"sessions": {<api key>: {...}}}``), reached the model in clear and was stored
  unsealed; the same value as a string was scrubbed and sealed.
- 04: a credential-shaped key (a ``ghp_`` GitHub token) in a tool's result, or in the
  arguments a model proposed, was stored in clear; as a value it was sealed.

Keys are now judged like strings. For what is shown (the model's copy, display) a key
holding a secret is renamed to its redacted text, kept distinct from the mapping's other
keys (``[REDACTED]``, ``[REDACTED]#2``) so no entry is dropped; for what is stored the
smallest mapping holding such a key is sealed whole, so a tool still runs with the exact
keys. A clean mapping comes back as the same object.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime, ToolContext, tool
from tether.engine import ToolStarted, decode_event, encode_event
from tether.models import ModelRequest
from tether.observe import AESGCMCodec, Redactor, unseal
from tether.policy import MappingSecrets, SecretBroker
from tether.testing import ScriptedModel, text, tool_call

R = "[REDACTED]"
SECRET = "zq7Vw3kP9mXr2LtB8nYc"  # looks like nothing in particular: only the broker knows it
GH = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
GH2 = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
RECEIVED: list[Any] = []
USAGE = {"usage": {GH: 42, GH2: 7, "[REDACTED]": 1, "total": 50}}


@pytest.fixture(autouse=True)
def _clear() -> None:
    RECEIVED.clear()


def _db_bytes(store_url: str) -> bytes:
    base = Path(store_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in base.parent.glob(base.name + "*"))


def _call_then_answer(call: Any, seen: list[str] | None = None) -> ScriptedModel:
    def script(req: ModelRequest) -> Any:
        if seen is not None:
            seen.extend(str(m.content) for m in req.messages if m.role == "tool")
        if not any(m.role == "tool" for m in req.messages):
            return call
        return text("done")

    return ScriptedModel(script)


@tool(credentials=["api_key"])
def sessions(ctx: ToolContext) -> dict[str, Any]:
    """List active sessions keyed by key."""
    RECEIVED.append(ctx.secrets["api_key"])
    return {"sessions": {ctx.secrets["api_key"]: {"active": True}}, "count": 1}


@tool
def token_usage() -> dict[str, Any]:
    """Usage per token."""
    return USAGE


@tool(effect="write", requires_approval=True)
def send(url: str, headers: dict[str, str]) -> str:
    """Send a request with these headers."""
    RECEIVED.append(headers)
    return "sent"


# -- hole 02: a broker secret as a key ---------------------------------------------------


async def test_broker_secret_as_a_result_key_never_reaches_the_model_or_the_store(
    store_url: str,
) -> None:
    seen: list[str] = []
    broker = SecretBroker([MappingSecrets({"api_key": SECRET})])
    agent = Agent(name="s", model=_call_then_answer(tool_call("sessions"), seen), tools=[sessions])
    async with Runtime(store_url, secrets=broker) as rt:
        result = await (await rt.start(agent, "go")).result()
    assert result.status == "completed"
    assert RECEIVED == [SECRET]  # the tool ran with the real secret
    shown = "\n".join(seen)
    assert SECRET not in shown
    assert json.loads(seen[0]) == {"sessions": {R: {"active": True}}, "count": 1}
    assert SECRET.encode() not in _db_bytes(store_url)


def test_a_known_value_inside_a_key_is_renamed_encoded_forms_too() -> None:
    redactor = Redactor(field_names=(), patterns=(), values_source=lambda: [SECRET])
    data = {"sessions": {SECRET: 1, f"user:{SECRET}": 2, SECRET.encode().hex(): 3, "a": 4}}
    out = redactor.redact_value(data)
    assert out == {"sessions": {R: 1, f"user:{R}": 2, f"{R}#2": 3, "a": 4}}
    assert SECRET not in json.dumps(out) and SECRET.encode().hex() not in json.dumps(out)


# -- hole 04: a credential shape as a key ------------------------------------------------


async def test_credential_shaped_result_keys_are_sealed_in_the_store(store_url: str) -> None:
    agent = Agent(name="k", model=_call_then_answer(tool_call("token_usage")), tools=[token_usage])
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "go")
        result = await run.result()
        loaded = [e.event async for e in run.events(follow=False) if e.type == "tool.completed"]
    assert result.status == "completed"
    db = _db_bytes(store_url)
    assert GH.encode() not in db and GH2.encode() not in db
    # The smallest mapping holding the keys is sealed whole (encrypted, recoverable).
    (completed,) = loaded
    assert set(getattr(completed, "result", {})["usage"]) == {"$sealed", "kid"}


async def test_without_a_codec_the_stored_keys_are_masked_and_stay_distinct(
    store_url: str,
) -> None:
    agent = Agent(name="k", model=_call_then_answer(tool_call("token_usage")), tools=[token_usage])
    async with Runtime(store_url, payload_codec=None) as rt:
        run = await rt.start(agent, "go")
        assert (await run.result()).status == "completed"
        loaded = [e.event async for e in run.events(follow=False) if e.type == "tool.completed"]
    assert GH.encode() not in _db_bytes(store_url)
    (completed,) = loaded
    # Two tokens and a key that already reads "[REDACTED]": four entries, none dropped.
    expected = {"usage": {R: 1, f"{R}#2": 42, f"{R}#3": 7, "total": 50}}
    assert getattr(completed, "result", None) == expected


async def test_credential_shaped_argument_keys_are_sealed_and_run_exact(store_url: str) -> None:
    headers = {GH: "v", "Accept": "application/json"}
    call = tool_call("send", url="https://api.example/x", headers=headers)
    agent = Agent(name="a", model=_call_then_answer(call), tools=[send])
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "send it")
        assert (await run.result()).status == "waiting"
        (pending,) = await run.pending_approvals()
        assert pending.arguments["headers"] == headers  # the approver sees the real call
    assert GH.encode() not in _db_bytes(store_url)
    # A new runtime (another process, after a restart) runs the exact call.
    async with Runtime(store_url, agents=[agent]) as rt:
        await rt.approve(run.run_id, pending.approval_id, by="ops")
        result = await rt.get(run.run_id).result(timeout=30)
    assert result.status == "completed"
    assert [headers] == RECEIVED
    assert GH.encode() not in _db_bytes(store_url)


async def test_without_a_codec_a_write_with_a_secret_key_parks_instead_of_running(
    store_url: str,
) -> None:
    call = tool_call("send", url="https://api.example/x", headers={GH: "v"})
    agent = Agent(name="a", model=_call_then_answer(call), tools=[send])
    async with Runtime(store_url, payload_codec=None) as rt:
        run = await rt.start(agent, "send it")
        await run.result()
        (pending,) = await run.pending_approvals()
    assert GH.encode() not in _db_bytes(store_url)
    async with Runtime(store_url, agents=[agent], payload_codec=None) as rt:
        await rt.approve(run.run_id, pending.approval_id, by="ops")
        result = await rt.get(run.run_id).result(timeout=30)
    assert RECEIVED == []  # never ran with a placeholder for its keys
    assert result.status != "completed"


# -- the redactor itself ------------------------------------------------------------------


@pytest.fixture
def codec() -> AESGCMCodec:
    return AESGCMCodec(os.urandom(32))


def test_seal_round_trips_a_mapping_with_secret_keys(codec: AESGCMCodec) -> None:
    redactor = Redactor(values_source=lambda: [SECRET])
    data = {"usage": {GH: 1, "n": 2}, "by": {SECRET: [1, 2]}, "clean": {"a": 1}}
    sealed = redactor.seal(data, codec)
    assert GH not in json.dumps(sealed) and SECRET not in json.dumps(sealed)
    assert set(sealed["usage"]) == {"$sealed", "kid"}  # the smallest mapping, whole
    assert sealed["clean"] is data["clean"]
    assert unseal(sealed, codec) == data
    assert redactor.seal(data, None) == {
        "usage": {"$redacted": "key"},
        "by": {"$redacted": "key"},
        "clean": {"a": 1},
    }
    masked = redactor.seal(data, None, mask_text=True)
    assert masked == {"usage": {R: 1, "n": 2}, "by": {R: [1, 2]}, "clean": {"a": 1}}


def test_sensitive_values_under_renamed_keys_stay_redacted() -> None:
    redactor = Redactor(values_source=lambda: [SECRET])
    out = redactor.redact_value({f"{GH} password": "hunter2", GH: {"token": "t0k3n-abc"}})
    assert out == {f"{R} password": R, R: {"token": R}}


def test_clean_mappings_come_back_as_the_same_object() -> None:
    redactor = Redactor(values_source=lambda: [SECRET])
    data = {"items": [{"id": "a1", "name": "x"}], "next": "pg-2", "note": GH}
    out = redactor.redact_value(data)
    assert out["items"] is data["items"]
    assert out == {"items": data["items"], "next": "pg-2", "note": R}
    clean = {"a": {"b": 1}, "c": [1, 2]}
    assert redactor.redact_value(clean) is clean
    assert redactor.seal(clean) is clean


def test_a_weak_known_value_never_renames_a_key() -> None:
    """A key is an identifier: ``completed`` as a key is a word, not the secret."""
    redactor = Redactor(values_source=lambda: ["completed", "123456"])
    data = {"completed": 3, "123456": "x", "note": "completed"}
    assert redactor.redact_value(data) == {"completed": 3, "123456": "x", "note": R}


def test_structural_top_level_keys_are_never_renamed() -> None:
    secret = "call_8f3a2b9c"
    redactor = Redactor(values_source=lambda: [secret])
    data = encode_event(
        ToolStarted(
            call=0,
            call_id=secret,
            tool="lookup",
            arguments={secret: 1, "q": f"id {secret}"},
            idempotency_key="run_1:3:0",
        )
    )
    event = decode_event(redactor.redact_json(data))
    assert isinstance(event, ToolStarted)
    assert event.call_id == secret  # a structural field
    assert event.arguments == {R: 1, "q": f"id {R}"}


def test_keys_are_judged_against_the_current_known_values() -> None:
    """What a key becomes is cached per set of known values: a new value is looked for."""
    known: frozenset[str] = frozenset()
    redactor = Redactor(field_names=(), patterns=(), values_source=lambda: known)
    data = {SECRET: 1}
    assert redactor.redact_value(data) is data
    known = frozenset({SECRET})
    assert redactor.redact_value(data) == {R: 1}


def test_many_secret_keys_stay_distinct_and_linear() -> None:
    redactor = Redactor()
    keys = [f"ghp_{i:036d}aB" for i in range(3000)]
    data = {k: i for i, k in enumerate(keys)}
    out = redactor.redact_value(data)
    assert len(out) == len(data)
    assert sorted(out.values()) == list(range(3000))
    assert not any(k.startswith("ghp_") for k in out)
