"""A 409 about a run's lease names no lease owner (``host:pid:rand``) to API clients.

Red team 16: with two API processes on one store, the loser of a race answered
``run ... is leased by vm:4949:22d10d until 17:58:47``: the other process's host name
and pid, handed to any client. The API now answers a generic message with the same
status and code, and the detail goes to the server's log. The exceptions keep their
messages (the CLI, on the operator's machine, shows them).
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator

import httpx
import pytest
from _live import LiveServer, live_server

from tether import Agent, tool
from tether.exceptions import (
    ConcurrentWriteError,
    LeaseLostError,
    RunLeasedError,
    RunNotFoundError,
)
from tether.server._errors import from_tether_error
from tether.testing import ScriptedModel, text, tool_call

OTHER = f"{socket.gethostname()}:4242:feedbe"
"""The lease owner another API process on this machine would have."""


@tool(effect="write", requires_approval=True)
def refund(order_id: str, amount_cents: int) -> str:
    """Refund part of an order."""
    return f"refunded {amount_cents} cents on {order_id}"


REFUND = Agent(
    name="refund",
    model=ScriptedModel(
        [tool_call("refund", order_id="A-1", amount_cents=900), text("refund made")]
    ),
    tools=[refund],
)


@pytest.fixture
def srv(any_store_url: str) -> Iterator[LiveServer]:
    with live_server(any_store_url, [REFUND]) as live:
        yield live


def _leaks(body: str) -> bool:
    """Whether ``body`` names a lease owner: this host's name, a pid and a suffix."""
    return OTHER in body or re.search(rf"{re.escape(socket.gethostname())}:\d+:", body) is not None


def test_a_run_leased_elsewhere_answers_409_without_its_owner(
    srv: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    key = srv.key("acme", ["runs:read", "runs:write", "approvals:write"])
    store = srv.runtime.store
    with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {key}"}) as c:
        run_id = c.post("/v1/runs", json={"agent": "refund", "input": "refund A-1"}).json()[
            "run_id"
        ]
        srv.call(srv.runtime.get(run_id).result(timeout=30), timeout=60)  # it parks
        assert c.get(f"/v1/runs/{run_id}").json()["status"] == "waiting"
        (approval,) = c.get("/v1/approvals").json()["approvals"]

        # Another API process takes the run's lease to record a decision.
        assert srv.call(store.acquire_lease(run_id, OTHER, 300))
        with caplog.at_level(logging.WARNING, logger="tether.server"):
            answers = [
                c.post(
                    f"/v1/approvals/{run_id}/{approval['approval_id']}",
                    json={"decision": "deny", "reason": "no"},
                ),
                c.post(f"/v1/runs/{run_id}/signals/input", json={"payload": "hi"}),
            ]
        for answer in answers:
            assert answer.status_code == 409, answer.text
            error = answer.json()["error"]
            assert error["code"] == "run_leased"
            assert "another worker or request" in error["message"]
            assert not _leaks(answer.text), answer.text
        # The operator still finds who held it, in the log.
        assert any(OTHER in r.getMessage() for r in caplog.records)

        # Once the other process lets go, the decision goes through.
        srv.call(store.release_lease(run_id, OTHER))
        denied = c.post(
            f"/v1/approvals/{run_id}/{approval['approval_id']}",
            json={"decision": "deny", "reason": "no"},
        )
        assert denied.status_code == 200, denied.text


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (
            RunLeasedError(
                f"run r1 is leased by {OTHER} until 17:58:47; it is being driven by another "
                "process",
                run_id="r1",
                owner=OTHER,
            ),
            409,
            "run_leased",
        ),
        (
            LeaseLostError(
                f"run r1: {OTHER} no longer holds the lease (held by {OTHER}x); this process "
                "must stop driving the run",
                run_id="r1",
                owner=OTHER,
                holder=f"{OTHER}x",
            ),
            409,
            "run_refused",
        ),
        (
            ConcurrentWriteError(
                "run r1: expected to append after seq 10, but the log ends at 14; another "
                f"writer ({OTHER}) appended to this run",
                run_id="r1",
            ),
            409,
            "run_refused",
        ),
        (
            RunNotFoundError(f"no run 'r1' in sqlite:////srv/{OTHER}/tether.db", run_id="r1"),
            404,
            "run_not_found",
        ),
    ],
    ids=["run-leased", "lease-lost", "concurrent-write", "run-not-found"],
)
def test_lease_errors_keep_their_message_but_the_answer_names_no_owner(
    error: Exception, status: int, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    message = str(error)
    with caplog.at_level(logging.WARNING, logger="tether.server"):
        answer = from_tether_error(error)  # type: ignore[arg-type]
    assert (answer.status, answer.code) == (status, code)
    assert not _leaks(answer.message), answer.message
    assert str(error) == message  # the exception itself is unchanged (the CLI shows it)
    if status == 409:
        assert any(OTHER in r.getMessage() for r in caplog.records)
