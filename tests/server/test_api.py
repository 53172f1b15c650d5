"""The HTTP API against a real uvicorn: happy paths, tenants, keys and scopes, bad input.

One server per module (uvicorn on 127.0.0.1, a SQLite file store), with keys for two
tenants. Every run-scoped endpoint is called with the other tenant's key and must
answer 404 exactly as for a run that does not exist; every error is JSON.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from _live import LiveServer, live_server
from _sse_client import Frame, read_frames

from tether import Agent, Runtime, tool
from tether.models import ModelRequest
from tether.policy import EscalationPolicy, Policy
from tether.testing import ScriptedModel, text, tool_call

REFUNDS: list[dict[str, Any]] = []
TICKS = 8


def _say_refund(arguments: dict[str, Any]) -> str:
    return f"refund {arguments['amount_cents']} cents on {arguments['order_id']}"


@tool(effect="write", requires_approval=True, preview=_say_refund)
def refund(order_id: str, amount_cents: int) -> str:
    """Refund part of an order."""
    REFUNDS.append({"order_id": order_id, "amount_cents": amount_cents})
    return f"refunded {amount_cents} cents on {order_id}"


@tool
async def tick(n: int) -> str:
    """One slow step."""
    await asyncio.sleep(0.05)
    return f"tick {n}"


def _ticks(request: ModelRequest) -> Any:
    done = sum(1 for m in request.messages if m.role == "tool")
    return tool_call("tick", n=done + 1) if done < TICKS else text(f"ticked {done} times")


ECHO = Agent(name="echo", model=ScriptedModel(lambda request: text("hello")))
REFUND = Agent(
    name="refund",
    model=ScriptedModel(
        [tool_call("refund", order_id="A-1", amount_cents=900), text("refund made")]
    ),
    tools=[refund],
)
TICKER = Agent(name="ticker", model=ScriptedModel(_ticks), tools=[tick])
UNSURE = Agent(
    name="unsure",
    model=ScriptedModel(
        [tool_call("escalate_to_human", reason="not sure"), text("a person decided")]
    ),
    policy=Policy(escalation=EscalationPolicy(model_can_escalate=True)),
)

ALL = ["runs:read", "runs:write", "approvals:write"]


class Keys:
    """Clients for the tenants and scopes the tests need."""

    def __init__(self, srv: LiveServer) -> None:
        self.srv = srv
        self.opened: list[httpx.Client] = []
        self.acme = self.client(srv.key("acme", ALL, label="acme ops"))
        self.globex = self.client(srv.key("globex", ALL))
        self.reader = self.client(srv.key("acme", ["runs:read"]))
        self.writer = self.client(srv.key("acme", ["runs:read", "runs:write"]))
        self.approver = self.client(srv.key("acme", ["approvals:write"]))
        self.admin = self.client(srv.key("ops", ["admin"]))
        self.anonymous = httpx.Client(base_url=srv.url, timeout=30)

    def client(self, key: str) -> httpx.Client:
        client = httpx.Client(
            base_url=self.srv.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        self.opened.append(client)
        return client

    def close(self) -> None:
        for client in [*self.opened, self.anonymous]:
            client.close()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder: Path = tmp_path_factory.mktemp("api")
    with live_server(
        f"sqlite:///{folder}/tether.db",
        [ECHO, REFUND, TICKER, UNSURE],
        app_options={"max_body_bytes": 64 * 1024},
    ) as live:
        yield live


@pytest.fixture(scope="module")
def keys(srv: LiveServer) -> Iterator[Keys]:
    made = Keys(srv)
    yield made
    made.close()


def _error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert a JSON error answer with this status (and code)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


def _start(client: httpx.Client, agent: str, task: str = "go") -> dict[str, Any]:
    response = client.post("/v1/runs", json={"agent": agent, "input": task})
    assert response.status_code == 201, response.text
    return response.json()


def _until(client: httpx.Client, run_id: str, *statuses: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = client.get(f"/v1/runs/{run_id}").json()
        if run["status"] in statuses:
            return run
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} never reached {statuses}: {run}")


def _stored(srv: LiveServer, run_id: str) -> list[tuple[int, dict[str, Any]]]:
    rows = srv.call(srv.runtime.store.load_events(run_id))
    return [(row.seq, json.loads(row.data)) for row in rows]


def _events(frames: list[Frame]) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for frame in frames:
        if frame.id is None:
            continue
        body = frame.json()
        assert int(frame.id) == body["seq"] and frame.event == body["type"]
        out.append((body["seq"], body["data"]))
    return out


# -- happy paths ----------------------------------------------------------------------------


def test_start_read_and_stream_a_run(srv: LiveServer, keys: Keys) -> None:
    """POST starts a run for the key's tenant; GET reads it; its stream is its stored log."""
    run = _start(keys.acme, "echo", "say hello")
    assert run["agent"] == "echo" and run["tenant"] == "acme"
    assert run["status"] in ("pending", "running", "completed")
    assert set(run) == {
        "run_id", "agent", "agent_version", "tenant", "status", "reason",
        "created_at", "updated_at", "last_seq", "parent_run_id",
    }  # fmt: skip
    frames = read_frames(keys.acme, f"/v1/runs/{run['run_id']}/events")
    assert frames[-1].event == "end"
    assert frames[-1].json() == {"status": "completed", "last_seq": frames[-2].json()["seq"]}
    assert _events(frames) == _stored(srv, run["run_id"])
    got = keys.acme.get(f"/v1/runs/{run['run_id']}").json()
    assert got["status"] == "completed" and got["last_seq"] == frames[-1].json()["last_seq"]


def test_list_runs_filters_and_pages_by_cursor(keys: Keys) -> None:
    """Newest first, filtered by status, agent and time, a page at a time, own tenant only."""
    began = time.time()
    ids = [_start(keys.acme, "echo", f"n{i}")["run_id"] for i in range(5)]
    for run_id in ids:
        _until(keys.acme, run_id, "completed")
    _start(keys.globex, "echo")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"agent": "echo", "since": began, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = keys.acme.get("/v1/runs", params=params).json()
        assert len(page["runs"]) <= 2
        seen += [r["run_id"] for r in page["runs"]]
        assert all(r["tenant"] == "acme" for r in page["runs"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    done = keys.acme.get("/v1/runs", params={"status": "completed", "since": began}).json()
    assert {r["run_id"] for r in done["runs"]} == set(ids)
    assert keys.acme.get("/v1/runs", params={"until": began, "since": began}).json()["runs"] == []
    waiting = keys.acme.get("/v1/runs", params=[("status", "waiting"), ("status", "failed")])
    assert all(r["status"] in ("waiting", "failed") for r in waiting.json()["runs"])
    _error(keys.acme.get("/v1/runs", params={"cursor": "not-a-cursor"}), 400, "invalid_cursor")
    _error(keys.acme.get("/v1/runs", params={"status": "sleeping"}), 422, "invalid_request")


def test_approve_with_edited_arguments(keys: Keys) -> None:
    """The inbox lists the call; edits that break the schema are 422 and change nothing;
    valid edits run exactly as approved."""
    run = _start(keys.acme, "refund", "refund order A-1")
    _until(keys.acme, run["run_id"], "waiting")
    inbox = keys.acme.get("/v1/approvals").json()["approvals"]
    (item,) = [a for a in inbox if a["run_id"] == run["run_id"]]
    assert (item["tool"], item["arguments"], item["agent"]) == (
        "refund",
        {"order_id": "A-1", "amount_cents": 900},
        "refund",
    )
    assert item["task"] == "refund order A-1" and item["requested_at"] > 0
    assert item["preview"] == "refund 900 cents on A-1"  # the tool's words for the call
    url = f"/v1/approvals/{run['run_id']}/{item['approval_id']}"
    before = keys.acme.get(f"/v1/runs/{run['run_id']}").json()
    for bad in (
        {"order_id": "A-1", "amount_cents": "lots"},
        {"order_id": "A-1"},
        {"order_id": "A-1", "amount_cents": 5, "extra": True},
    ):
        err = _error(
            keys.acme.post(url, json={"decision": "approve", "arguments": bad}),
            422,
            "invalid_arguments",
        )
        assert err["details"]
    after = keys.acme.get(f"/v1/runs/{run['run_id']}").json()
    assert (after["status"], after["last_seq"]) == ("waiting", before["last_seq"])
    _error(keys.acme.post(url, json={"decision": "maybe"}), 422, "invalid_request")
    _error(
        keys.acme.post(f"/v1/runs/{run['run_id']}/signals/resume", json={}),
        409,
        "run_not_waiting",
    )
    approved = keys.acme.post(
        url,
        json={
            "decision": "approve",
            "arguments": {"order_id": "A-1", "amount_cents": "450"},
            "reason": "half: the customer kept one item",
        },
    )
    assert approved.status_code == 200, approved.text
    _until(keys.acme, run["run_id"], "completed")
    assert {"order_id": "A-1", "amount_cents": 450} in REFUNDS
    audit = keys.acme.get(f"/v1/runs/{run['run_id']}/audit").json()
    assert "half: the customer kept one item" in json.dumps(audit["entries"])
    _error(keys.acme.post(url, json={"decision": "approve"}), 409)
    inbox = keys.acme.get("/v1/approvals").json()["approvals"]
    assert run["run_id"] not in [a["run_id"] for a in inbox]


def test_deny_then_the_model_hears_why(keys: Keys) -> None:
    run = _start(keys.acme, "refund")
    _until(keys.acme, run["run_id"], "waiting")
    url = f"/v1/approvals/{run['run_id']}/0.1"
    _error(
        keys.acme.post(url, json={"decision": "deny", "arguments": {"order_id": "x"}}),
        422,
        "invalid_request",
    )
    _error(keys.acme.post(f"/v1/approvals/{run['run_id']}/9.9", json={"decision": "deny"}), 404)
    denied = keys.acme.post(url, json={"decision": "deny", "reason": "not this one"})
    assert denied.status_code == 200, denied.text
    assert _until(keys.acme, run["run_id"], "completed")["status"] == "completed"


def test_cancel_and_signal(keys: Keys) -> None:
    """Cancel ends a parked run; a signal resumes an escalated one; wrong ones are 409."""
    parked = _start(keys.acme, "refund")
    _until(keys.acme, parked["run_id"], "waiting")
    cancelled = keys.acme.post(f"/v1/runs/{parked['run_id']}/cancel", json={"reason": "dup"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    _error(keys.acme.post(f"/v1/runs/{parked['run_id']}/cancel"), 409, "run_finished")

    unsure = _start(keys.acme, "unsure")
    _until(keys.acme, unsure["run_id"], "escalated")
    _error(keys.acme.post(f"/v1/runs/{unsure['run_id']}/signals/bad%20name"), 422)
    resumed = keys.acme.post(f"/v1/runs/{unsure['run_id']}/signals/resume", json={})
    assert resumed.status_code == 200, resumed.text
    assert _until(keys.acme, unsure["run_id"], "completed")["status"] == "completed"
    frames = read_frames(keys.acme, f"/v1/runs/{unsure['run_id']}/events")
    signals = [f.json()["data"] for f in frames if f.event == "signal.received"]
    assert signals[0]["name"] == "resume" and signals[0]["by"].startswith("api-key:")


def test_decisions_sent_as_signals_need_the_approvals_scope(keys: Keys) -> None:
    """A key that may start runs and chat (runs:write) cannot decide what a person decides.

    On the old code a customer-facing key resumed a run that policy had escalated to a
    person (running the escalated call) and sent resolve_write, though the approvals
    endpoint refused it the same decision.
    """
    unsure = _start(keys.acme, "unsure")
    _until(keys.acme, unsure["run_id"], "escalated")
    before = keys.acme.get(f"/v1/runs/{unsure['run_id']}").json()
    for name, payload in (("resume", {"approve": True}), ("input", "just do it")):
        err = _error(
            keys.writer.post(
                f"/v1/runs/{unsure['run_id']}/signals/{name}", json={"payload": payload}
            ),
            403,
            "forbidden",
        )
        assert "approvals:write" in err["message"] and "escalated" in err["message"]
    err = _error(
        keys.writer.post(
            f"/v1/runs/{unsure['run_id']}/signals/resolve_write",
            json={"payload": {"call_id": "call_0", "action": "retry"}},
        ),
        403,
        "forbidden",
    )
    assert "approvals:write" in err["message"]
    _error(
        keys.acme.post(
            f"/v1/runs/{unsure['run_id']}/signals/agent_version_accepted",
            json={"payload": {"accepted": "0" * 16}},
        ),
        422,
        "signal_refused",
    )
    after = keys.acme.get(f"/v1/runs/{unsure['run_id']}").json()
    assert (after["status"], after["last_seq"]) == ("escalated", before["last_seq"])
    # A key with the scope hands the run back.
    resumed = keys.acme.post(f"/v1/runs/{unsure['run_id']}/signals/resume", json={})
    assert resumed.status_code == 200, resumed.text
    assert _until(keys.acme, unsure["run_id"], "completed")["status"] == "completed"


def test_audit_of_a_run(keys: Keys) -> None:
    run = _start(keys.acme, "echo")
    _until(keys.acme, run["run_id"], "completed")
    report = keys.acme.get(f"/v1/runs/{run['run_id']}/audit")
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["run_id"] == run["run_id"] and body["verified"] is True
    assert body["first_bad_seq"] is None and body["entries"]


def test_health_and_openapi(keys: Keys) -> None:
    assert keys.anonymous.get("/healthz").json() == {"status": "ok"}
    assert keys.anonymous.get("/readyz").json() == {"status": "ready"}
    spec = keys.anonymous.get("/openapi.json").json()
    assert {"/v1/runs", "/v1/runs/{run_id}/events", "/v1/approvals"} <= set(spec["paths"])
    # No CDN-loading Swagger/ReDoc pages on the UI's origin.
    assert keys.anonymous.get("/docs").status_code == 404
    assert keys.anonymous.get("/redoc").status_code == 404


# -- idempotency ----------------------------------------------------------------------------


def test_idempotent_post_starts_one_run(srv: LiveServer, keys: Keys) -> None:
    """The same Idempotency-Key twice, or many times at once, starts exactly one run."""
    body = {"agent": "echo", "input": "once"}
    first = keys.acme.post("/v1/runs", json=body, headers={"Idempotency-Key": "k-1"})
    again = keys.acme.post("/v1/runs", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["run_id"] == first.json()["run_id"]
    _error(
        keys.acme.post(
            "/v1/runs", json={**body, "input": "other"}, headers={"Idempotency-Key": "k-1"}
        ),
        422,
        "idempotency_key_reused",
    )
    # Another tenant's key space is its own.
    other = keys.globex.post("/v1/runs", json=body, headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 201 and other.json()["run_id"] != first.json()["run_id"]

    began = time.time()
    barrier = threading.Barrier(12)

    def post(_: int) -> httpx.Response:
        client = keys.client(keys.acme.headers["authorization"].removeprefix("Bearer "))
        barrier.wait()
        return client.post(
            "/v1/runs", json={"agent": "echo", "input": "race"}, headers={"Idempotency-Key": "k-2"}
        )

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(post, range(12)))
    assert sorted(a.status_code for a in answers) == [200] * 11 + [201]
    assert len({a.json()["run_id"] for a in answers}) == 1
    runs = keys.acme.get("/v1/runs", params={"since": began, "agent": "echo"}).json()["runs"]
    assert [r["run_id"] for r in runs] == [answers[0].json()["run_id"]]


def test_idempotency_key_is_validated(keys: Keys) -> None:
    long_key = "k" * 300
    response = keys.acme.post(
        "/v1/runs", json={"agent": "echo", "input": "x"}, headers={"Idempotency-Key": long_key}
    )
    _error(response, 422, "invalid_request")


# -- resumable streams ----------------------------------------------------------------------


def test_stream_resumes_from_last_event_id_losing_nothing(srv: LiveServer, keys: Keys) -> None:
    """A client that drops mid-run and reconnects with Last-Event-ID gets every stored
    event exactly once, in order."""
    run = _start(keys.acme, "ticker")
    url = f"/v1/runs/{run['run_id']}/events"
    first = read_frames(keys.acme, url, stop_after=4)
    last_id = [f.id for f in first if f.id is not None][-1]
    time.sleep(0.2)  # events keep coming while the client is away
    rest = read_frames(keys.acme, url, headers={"Last-Event-ID": str(last_id)})
    assert rest[-1].event == "end" and rest[-1].json()["status"] == "completed"
    got = _events(first) + _events(rest)
    stored = _stored(srv, run["run_id"])
    assert got == stored
    assert [seq for seq, _ in got] == list(range(1, len(stored) + 1))
    assert sum(1 for _, data in got if data["type"] == "tool.completed") == TICKS
    # ?after= does the same, and a header wins over it (EventSource keeps the URL).
    tail = read_frames(keys.acme, url + "?after=3", headers={"Last-Event-ID": str(len(stored) - 1)})
    assert _events(tail) == stored[-1:]
    assert _events(read_frames(keys.acme, url + "?after=3")) == stored[3:]


def test_deltas_are_live_only(keys: Keys) -> None:
    run = _start(keys.acme, "ticker")
    frames = read_frames(keys.acme, f"/v1/runs/{run['run_id']}/events?deltas=1")
    assert frames[-1].event == "end"
    assert all(f.id is None for f in frames if f.event == "delta")
    assert [s for s, _ in _events(frames)] == list(range(1, frames[-1].json()["last_seq"] + 1))


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", "9" * 30, "\uff11\uff12"])
def test_bad_last_event_id_is_400(keys: Keys, bad: str) -> None:
    run = _start(keys.acme, "echo")
    response = keys.acme.get(
        f"/v1/runs/{run['run_id']}/events", headers={"Last-Event-ID": bad.encode()}
    )
    _error(response, 400, "invalid_last_event_id")


def test_bad_after_is_422(keys: Keys) -> None:
    run = _start(keys.acme, "echo")
    _error(keys.acme.get(f"/v1/runs/{run['run_id']}/events?after=-4"), 422, "invalid_request")


# -- tenants, keys and scopes ---------------------------------------------------------------


def test_another_tenants_run_is_404_on_every_endpoint(srv: LiveServer, keys: Keys) -> None:
    """Tenant A's key sees nothing of tenant B's run: read, events, cancel, signal, approve,
    audit all answer 404 as for a run that does not exist, and nothing changes."""
    theirs = _start(keys.globex, "refund")
    run_id = theirs["run_id"]
    _until(keys.globex, run_id, "waiting")
    before = _stored(srv, run_id)
    calls = [
        ("GET", f"/v1/runs/{run_id}", None),
        ("GET", f"/v1/runs/{run_id}/events", None),
        ("GET", f"/v1/runs/{run_id}/audit", None),
        ("POST", f"/v1/runs/{run_id}/cancel", {}),
        ("POST", f"/v1/runs/{run_id}/signals/resume", {}),
        ("POST", f"/v1/approvals/{run_id}/0.1", {"decision": "approve"}),
        ("POST", f"/v1/approvals/{run_id}/0.1", {"decision": "deny", "reason": "x"}),
    ]
    for method, url, body in calls:
        mine = keys.acme.request(method, url, json=body)
        missing = keys.acme.request(method, url.replace(run_id, "run_does_not_exist"), json=body)
        _error(mine, 404, "run_not_found")
        assert mine.json() == json.loads(missing.text.replace("run_does_not_exist", run_id))
    assert run_id not in [r["run_id"] for r in keys.acme.get("/v1/runs").json()["runs"]]
    assert run_id not in [a["run_id"] for a in keys.acme.get("/v1/approvals").json()["approvals"]]
    _error(keys.acme.get("/v1/runs", params={"tenant": "globex"}), 403, "forbidden")
    _error(keys.acme.get("/v1/approvals", params={"tenant": "globex"}), 403, "forbidden")
    assert _stored(srv, run_id) == before
    # Its own tenant sees it; an admin key sees every tenant.
    assert run_id in [a["run_id"] for a in keys.globex.get("/v1/approvals").json()["approvals"]]
    listed = keys.admin.get("/v1/runs", params={"tenant": "globex"}).json()["runs"]
    assert run_id in [r["run_id"] for r in listed]
    assert keys.admin.get(f"/v1/runs/{run_id}").status_code == 200


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (None, "missing"),
        ("Bearer", "empty"),
        ("Basic dXNlcjpwYXNz", "not bearer"),
        ("Bearer tk_0000000000000000_wrong", "unknown"),
        ("Bearer not-a-key", "malformed"),
    ],
)
def test_missing_or_wrong_keys_are_401(keys: Keys, header: str | None, why: str) -> None:
    headers = {"Authorization": header} if header else {}
    for method, url in [("GET", "/v1/runs"), ("POST", "/v1/runs"), ("GET", "/v1/approvals")]:
        response = keys.anonymous.request(
            method, url, headers=headers, json={"agent": "echo", "input": "x"}
        )
        _error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_wrong_secret_for_a_real_key_id_is_401(srv: LiveServer, keys: Keys) -> None:
    key = srv.key("acme", ["runs:read"])
    forged = key[: key.rindex("_") + 1] + "x" * 43
    client = keys.client(forged)
    _error(client.get("/v1/runs"), 401, "unauthorized")


def test_revoked_key_is_401(srv: LiveServer, keys: Keys) -> None:
    key = srv.key("acme", ["runs:read"])
    client = keys.client(key)
    assert client.get("/v1/runs").status_code == 200
    srv.revoke(key)
    error = _error(client.get("/v1/runs"), 401, "unauthorized")
    assert "revoked" in error["message"]


def test_scopes_are_enforced_403(keys: Keys) -> None:
    """Each endpoint needs its scope; a key without it gets 403 and nothing happens."""
    waiting = _start(keys.acme, "refund")
    run_id = waiting["run_id"]
    _until(keys.acme, run_id, "waiting")
    decision = {"decision": "approve"}
    _error(keys.reader.post("/v1/runs", json={"agent": "echo", "input": "x"}), 403, "forbidden")
    _error(keys.reader.post(f"/v1/runs/{run_id}/cancel"), 403, "forbidden")
    _error(keys.reader.post(f"/v1/runs/{run_id}/signals/resume"), 403, "forbidden")
    _error(keys.reader.post(f"/v1/approvals/{run_id}/0.1", json=decision), 403, "forbidden")
    _error(keys.writer.post(f"/v1/approvals/{run_id}/0.1", json=decision), 403, "forbidden")
    _error(keys.approver.get("/v1/runs"), 403, "forbidden")
    _error(keys.approver.get(f"/v1/runs/{run_id}/events"), 403, "forbidden")
    assert keys.reader.get(f"/v1/runs/{run_id}").json()["status"] == "waiting"
    # The approver may decide (and nothing else).
    assert keys.approver.post(f"/v1/approvals/{run_id}/0.1", json=decision).status_code == 200
    _until(keys.acme, run_id, "completed")


# -- bad input ------------------------------------------------------------------------------


def test_unknown_agent_is_404_json(keys: Keys) -> None:
    error = _error(
        keys.acme.post("/v1/runs", json={"agent": "nobody", "input": "x"}), 404, "agent_not_found"
    )
    assert "echo" in error["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"agent": "echo"},
        {"input": "x"},
        {"agent": 3, "input": "x"},
        {"agent": "echo", "input": ["x"]},
        {"agent": "echo", "input": "x", "surprise": 1},
        [],
        "text",
    ],
)
def test_wrong_bodies_are_422_json(keys: Keys, body: Any) -> None:
    _error(keys.acme.post("/v1/runs", json=body), 422, "invalid_request")


def test_bodies_that_are_not_json_are_422(keys: Keys) -> None:
    response = keys.acme.post(
        "/v1/runs", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    _error(response, 422, "invalid_request")


def test_bodies_over_the_limit_are_413(keys: Keys) -> None:
    big = {"agent": "echo", "input": "x" * (70 * 1024)}
    _error(keys.acme.post("/v1/runs", json=big), 413, "body_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        yield b'{"agent": "echo", "input": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    response = keys.acme.post(
        "/v1/runs", content=chunks(), headers={"Content-Type": "application/json"}
    )
    _error(response, 413, "body_too_large")
    small = keys.acme.post(
        "/v1/runs",
        content=iter([b'{"agent": "echo", ', b'"input": "fits"}']),
        headers={"Content-Type": "application/json"},
    )
    assert small.status_code == 201, small.text


def test_unknown_paths_and_methods_are_json(keys: Keys) -> None:
    _error(keys.acme.get("/v1/nothing"), 404, "not_found")
    _error(keys.acme.delete("/v1/runs"), 405, "method_not_allowed")


def test_stream_of_a_run_driven_by_another_process(srv: LiveServer, keys: Keys) -> None:
    """A run another runtime drives publishes nothing here: the stream reads it from the
    store as it grows and still delivers every event, then ends."""
    started: Future[str] = Future()

    async def drive() -> None:
        async with Runtime(srv.runtime.store.url, recover=False) as other:
            handle = await other.start(TICKER, "elsewhere", tenant="acme")
            started.set_result(handle.run_id)
            await handle.result(timeout=60)

    driver = threading.Thread(target=lambda: asyncio.run(drive()))
    driver.start()
    try:
        run_id = started.result(timeout=30)
        frames = read_frames(keys.acme, f"/v1/runs/{run_id}/events")
    finally:
        driver.join(60)
    assert frames[-1].event == "end" and frames[-1].json()["status"] == "completed"
    assert _events(frames) == _stored(srv, run_id)
    assert not srv.call(_driven_here(srv, run_id))


async def _driven_here(srv: LiveServer, run_id: str) -> bool:
    return srv.runtime.get(run_id).driven_here()
