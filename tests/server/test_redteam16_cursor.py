"""A crafted ``?cursor=`` on ``GET /v1/runs`` is a 400 ``invalid_cursor``, never a 500.

A cursor is base64 of ``[created_at, run_id]``, sent back by the client, so it is input
like any other. Red team 16 found two that got past the checks: an integer too large
for a float (``math.isfinite`` raised ``OverflowError``) and a run id holding a lone
surrogate (SQLite's driver raised ``UnicodeEncodeError`` binding it). Both answered 500.
A run id the store can hold (non-ASCII ones too) still pages as before.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest
from _live import LiveServer, live_server

from tether import Agent
from tether.testing import ScriptedModel, text

ECHO = Agent(name="echo", model=ScriptedModel(lambda request: text("hello")))


@pytest.fixture
def srv(any_store_url: str) -> Iterator[LiveServer]:
    with live_server(any_store_url, [ECHO]) as live:
        yield live


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("[" + "9" * 400 + ', "x"]', id="int-too-large-for-a-float"),
        pytest.param("[-" + "9" * 400 + ', "x"]', id="negative-int-too-large"),
        pytest.param('[1, "\\ud800"]', id="lone-surrogate-run-id"),
        pytest.param('[1, "run_\\udfff_x"]', id="low-surrogate-in-run-id"),
        pytest.param('[1, "run\\u0000x"]', id="nul-in-run-id"),
        pytest.param('[1e400, "x"]', id="infinite-float"),
        pytest.param('[true, "x"]', id="bool-created-at"),
        pytest.param("[1, 2]", id="number-run-id"),
        pytest.param('[1, "x", 3]', id="three-items"),
        pytest.param('"nope"', id="not-a-list"),
    ],
)
def test_a_crafted_cursor_is_refused_with_400(srv: LiveServer, raw: str) -> None:
    key = srv.key("acme", ["runs:read"])
    with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {key}"}) as c:
        r = c.get("/v1/runs", params={"cursor": _cursor(raw)})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "invalid_cursor"
        # The server is fine afterwards (a 500 used to close the connection).
        assert c.get("/v1/runs").status_code == 200


def test_cursors_of_run_ids_the_store_holds_page_through_every_run(srv: LiveServer) -> None:
    """Run ids other than the API's own (non-ASCII ones, started from Python) page too."""
    run_ids = ["run_a", "lauf_über", "run_☃", "run_😀"]

    async def start_all() -> None:
        for run_id in run_ids:
            handle = await srv.runtime.start(ECHO, "hi", tenant="acme", run_id=run_id)
            await handle.result()

    srv.call(start_all())
    key = srv.key("acme", ["runs:read"])
    seen: list[str] = []
    cursor = None
    with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {key}"}) as c:
        for _ in range(len(run_ids) + 1):
            params = {"limit": "1", **({"cursor": cursor} if cursor else {})}
            page = c.get("/v1/runs", params=params).json()
            seen.extend(run["run_id"] for run in page["runs"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
            decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            assert decoded[1] == seen[-1]
    assert sorted(seen) == sorted(run_ids)


def test_a_nul_in_a_run_id_or_filter_is_refused_before_the_store(srv: LiveServer) -> None:
    """No stored name holds a NUL (Postgres cannot store one, and failed being asked for
    one: 503 ``store_unavailable``). A run id with one is a run that does not exist (404);
    a filter with one does not fit the schema (422)."""
    key = srv.key("acme", ["runs:read", "runs:write", "approvals:write"])
    admin = srv.key("ops", ["admin"])
    with (
        httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {key}"}) as c,
        httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {admin}"}) as a,
    ):
        for answer in [
            c.get("/v1/runs/run%00x"),
            c.get("/v1/runs/run%00x/events"),
            c.get("/v1/runs/run%00x/audit"),
            c.post("/v1/runs/run%00x/cancel"),
            c.post("/v1/runs/run%00x/signals/input", json={"payload": "hi"}),
            c.post("/v1/approvals/run%00x/0.1", json={"decision": "deny"}),
        ]:
            assert answer.status_code == 404, answer.text
            assert answer.json()["error"]["code"] == "run_not_found"
        for answer in [
            c.get("/v1/runs", params={"agent": "echo\x00"}),
            a.get("/v1/runs", params={"tenant": "acme\x00"}),
            a.get("/v1/approvals", params={"tenant": "acme\x00"}),
        ]:
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"]["code"] == "invalid_request"
