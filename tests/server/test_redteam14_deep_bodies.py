"""Red team 14, hole 07: a body nested too deep is a 422, on every endpoint, never a 500.

A ~1 KB ``POST /v1/runs/{id}/signals/input`` whose payload nested 500 lists deep parsed
fine, passed validation, and blew the stack of the event encoder: 500 ``internal_error``
with a ``RecursionError`` in the log (a body nested ~1,000 deep got a bare 400, from the
parser). Now every JSON body is measured once, where it is parsed: deeper than
``MAX_BODY_DEPTH`` levels is 422 ``invalid_request`` (detail type ``too_deep``) before
validation, a handler or the runtime sees it, and nothing changes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _live import LiveServer, live_server

from tether import Agent, tool
from tether.policy import Policy, PolicyFile
from tether.testing import ScriptedModel, text, tool_call

JSON = {"content-type": "application/json"}
MAX_BODY_DEPTH = 128  # levels a body may nest; the body itself is level 1


@tool(effect="write", idempotent=True)
def refund(order_id: str) -> str:
    """Refund an order."""
    return "ok"


@tool(effect="write", requires_approval=True)
def send_note(note: str) -> str:
    """Send a note to the customer."""
    return "sent"


def _refund_then_answer(request: Any) -> Any:
    if not any(m.role == "tool" for m in request.messages):
        return tool_call("refund", order_id="9")
    return text("done")


def _note_then_answer(request: Any) -> Any:
    if not any(m.role == "tool" for m in request.messages):
        return tool_call("send_note", note="hello")
    return text("sent")


ESCALATES = PolicyFile.loads(
    'version = 1\n[[rules]]\nname = "esc"\ntool = "refund"\naction = "escalate"\n',
    source="esc.toml",
)
ESC = Agent(
    name="esc",
    instructions="x",
    model=ScriptedModel(_refund_then_answer),
    tools=[refund],
    policy=Policy(rules=ESCALATES),
)
NOTE = Agent(
    name="note", instructions="x", model=ScriptedModel(_note_then_answer), tools=[send_note]
)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder: Path = tmp_path_factory.mktemp("deep")
    with live_server(f"sqlite:///{folder}/tether.db", [ESC, NOTE]) as live:
        yield live


@pytest.fixture(scope="module")
def client(srv: LiveServer) -> Iterator[httpx.Client]:
    key = srv.key("acme", ["runs:read", "runs:write", "approvals:write"])
    with httpx.Client(
        base_url=f"{srv.url}/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as made:
        yield made


def _nested(levels: int) -> str:
    """JSON text of ``levels`` lists, one inside the other."""
    return "[" * levels + "]" * levels


def _until(client: httpx.Client, run_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        run = client.get(f"/runs/{run_id}").json()
        if run["status"] == status:
            return dict(run)
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


def _escalated(client: httpx.Client) -> str:
    started = client.post("/runs", json={"agent": "esc", "input": "go"})
    assert started.status_code == 201, started.text
    run_id = str(started.json()["run_id"])
    _until(client, run_id, "escalated")
    return run_id


def _too_deep(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert f"deeper than {MAX_BODY_DEPTH} levels" in error["message"]
    [detail] = error["details"]
    assert detail["loc"] == ["body"] and detail["type"] == "too_deep"


def _events(client: httpx.Client, run_id: str) -> int:
    return int(client.get(f"/runs/{run_id}").json()["last_seq"])


def test_the_limit_is_the_servers() -> None:
    from tether.server._errors import MAX_BODY_DEPTH as served

    assert served == MAX_BODY_DEPTH


@pytest.mark.parametrize("levels", [500, 900, 5000])
def test_a_signal_nested_too_deep_is_refused_and_the_run_is_untouched(
    client: httpx.Client, levels: int
) -> None:
    run_id = _escalated(client)
    seq = _events(client, run_id)
    body = '{"payload":{"message":"hi","x":' + _nested(levels) + "}}"
    _too_deep(client.post(f"/runs/{run_id}/signals/input", content=body, headers=JSON))
    after = client.get(f"/runs/{run_id}").json()
    assert after["status"] == "escalated" and after["last_seq"] == seq
    # The run still takes a signal that fits.
    answered = client.post(f"/runs/{run_id}/signals/input", json={"payload": {"message": "hi"}})
    assert answered.status_code == 200, answered.text


def test_a_signal_as_deep_as_allowed_is_taken(client: httpx.Client) -> None:
    run_id = _escalated(client)
    # The body is level 1, the payload 2, "x" 3: lists fill the rest up to the limit.
    body = '{"payload":{"message":"hi","x":' + _nested(MAX_BODY_DEPTH - 2) + "}}"
    answered = client.post(f"/runs/{run_id}/signals/input", content=body, headers=JSON)
    assert answered.status_code == 200, answered.text
    one_more = '{"payload":{"message":"hi","x":' + _nested(MAX_BODY_DEPTH - 1) + "}}"
    _too_deep(client.post(f"/runs/{run_id}/signals/input", content=one_more, headers=JSON))


@pytest.mark.parametrize("levels", [500, 5000])
def test_a_run_is_not_created_from_a_body_nested_too_deep(
    client: httpx.Client, levels: int
) -> None:
    before = client.get("/runs", params={"limit": 200}).json()["runs"]
    body = '{"agent":"esc","input":"go","extra":' + _nested(levels) + "}"
    _too_deep(client.post("/runs", content=body, headers=JSON))
    body = '{"agent":"esc","input":' + _nested(levels) + "}"
    _too_deep(client.post("/runs", content=body, headers=JSON))
    after = client.get("/runs", params={"limit": 200}).json()["runs"]
    assert len(after) == len(before)


def test_a_cancel_nested_too_deep_cancels_nothing(client: httpx.Client) -> None:
    run_id = _escalated(client)
    body = '{"reason":' + _nested(500) + "}"
    _too_deep(client.post(f"/runs/{run_id}/cancel", content=body, headers=JSON))
    assert client.get(f"/runs/{run_id}").json()["status"] == "escalated"


def test_a_decision_nested_too_deep_decides_nothing(client: httpx.Client) -> None:
    started = client.post("/runs", json={"agent": "note", "input": "go"})
    assert started.status_code == 201, started.text
    run_id = started.json()["run_id"]
    _until(client, run_id, "waiting")
    [approval] = client.get("/approvals").json()["approvals"]
    assert approval["run_id"] == run_id
    body = '{"decision":"approve","arguments":{"note":' + _nested(500) + "}}"
    _too_deep(
        client.post(f"/approvals/{run_id}/{approval['approval_id']}", content=body, headers=JSON)
    )
    assert client.get(f"/runs/{run_id}").json()["status"] == "waiting"
    decided = client.post(
        f"/approvals/{run_id}/{approval['approval_id']}", json={"decision": "deny"}
    )
    assert decided.status_code == 200, decided.text
