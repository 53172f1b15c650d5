"""A request body holding a lone UTF-16 surrogate is refused with 422, never a 500.

JSON lets a client write ``"\\ud800"`` (often half of an emoji cut by a truncation);
it decodes to text with no UTF-8 form. The API refuses it with ``invalid_request``
naming the field, and changes nothing: the run is not created, the signal not sent,
the call not approved. A whole character written as an escaped pair is fine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _live import LiveServer, live_server

from tether import Agent, tool
from tether.models import ModelRequest
from tether.testing import ScriptedModel, text, tool_call

JSON = {"content-type": "application/json"}


@tool
async def slow_lookup(x: str) -> str:
    """A slow lookup."""
    await asyncio.sleep(30)
    return x


@tool(effect="write", requires_approval=True)
def send_note(note: str) -> str:
    """Send a note to the customer."""
    return "sent"


def _slow(request: ModelRequest) -> Any:
    return tool_call("slow_lookup", x="one")


SLOW = Agent(name="slow", model=ScriptedModel(_slow), tools=[slow_lookup])
NOTE = Agent(
    name="note",
    model=ScriptedModel([tool_call("send_note", note="hello"), text("sent")]),
    tools=[send_note],
)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder: Path = tmp_path_factory.mktemp("surrogates")
    with live_server(f"sqlite:///{folder}/tether.db", [SLOW, NOTE]) as live:
        yield live


@pytest.fixture(scope="module")
def client(srv: LiveServer) -> Iterator[httpx.Client]:
    key = srv.key("acme", ["runs:read", "runs:write", "approvals:write"])
    with httpx.Client(
        base_url=f"{srv.url}/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as made:
        yield made


def _refused(response: httpx.Response, loc: list[str], inside: str = "") -> None:
    """A 422 ``invalid_request`` whose details name ``loc`` as holding a lone surrogate."""
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    [detail] = error["details"]
    assert detail["loc"] == loc and detail["type"] == "lone_surrogate"
    assert "lone UTF-16 surrogate" in error["message"] and inside in error["message"]


def _until(client: httpx.Client, run_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        run: dict[str, Any] = client.get(f"/runs/{run_id}").json()
        if run["status"] == status:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never reached {status}: {run}")


def test_run_input_with_a_lone_surrogate_is_refused(client: httpx.Client) -> None:
    """``input`` holding ``\\ud800`` is a 422 naming ``input``; no run is created."""
    before = client.get("/runs").json()["runs"]
    response = client.post("/runs", content=b'{"agent":"slow","input":"go \\ud800"}', headers=JSON)
    _refused(response, ["body", "input"])
    assert client.get("/runs").json()["runs"] == before


def test_a_lone_surrogate_sent_as_raw_bytes_is_refused_too(client: httpx.Client) -> None:
    """The surrogate's three UTF-8-like bytes (which Python's JSON reader lets through)."""
    response = client.post(
        "/runs", content=b'{"agent":"slow","input":"go \xed\xa0\x80"}', headers=JSON
    )
    _refused(response, ["body", "input"])


def test_a_whole_character_written_as_a_pair_is_accepted(client: httpx.Client) -> None:
    """``\\ud83d\\ude00`` is one emoji: the run starts."""
    response = client.post(
        "/runs", content=b'{"agent":"note","input":"hi \\ud83d\\ude00"}', headers=JSON
    )
    assert response.status_code == 201, response.text


def test_a_cancel_signal_whose_reason_holds_one_is_refused_and_the_run_goes_on(
    srv: LiveServer, client: httpx.Client
) -> None:
    """The 422 names ``payload`` and where in it; the run is still running, and a clean
    cancel afterwards ends it."""
    run = client.post("/runs", json={"agent": "slow", "input": "look it up"}).json()
    time.sleep(0.3)  # the slow lookup is in flight (the step commits when it returns)
    response = client.post(
        f"/runs/{run['run_id']}/signals/cancel",
        content=b'{"payload": {"reason": "stop \\ud800"}}',
        headers=JSON,
    )
    _refused(response, ["body", "payload"], "['reason']")
    refused = client.post(
        f"/runs/{run['run_id']}/cancel", content=b'{"reason": "stop \\ud800"}', headers=JSON
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request"
    time.sleep(0.3)
    assert client.get(f"/runs/{run['run_id']}").json()["status"] in ("pending", "running")
    cancelled = client.post(f"/runs/{run['run_id']}/cancel", json={"reason": "stop"})
    assert cancelled.status_code == 200, cancelled.text
    _until(client, run["run_id"], "cancelled")


def test_approved_arguments_with_one_are_refused_and_the_call_still_waits(
    client: httpx.Client,
) -> None:
    """Arguments that would execute are never changed by the server: 422, still waiting."""
    run = client.post("/runs", json={"agent": "note", "input": "send the note"}).json()
    _until(client, run["run_id"], "waiting")
    [item] = [
        a for a in client.get("/approvals").json()["approvals"] if a["run_id"] == run["run_id"]
    ]
    url = f"/approvals/{run['run_id']}/{item['approval_id']}"
    body = b'{"decision": "approve", "arguments": {"note": "hi \\udc80"}}'
    _refused(client.post(url, content=body, headers=JSON), ["body", "arguments"], "['note']")
    assert client.get(f"/runs/{run['run_id']}").json()["status"] == "waiting"
    assert client.post(url, json={"decision": "approve"}).status_code == 200
    _until(client, run["run_id"], "completed")
