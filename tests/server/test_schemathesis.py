"""Schemathesis against ``/openapi.json`` of a live server: no input ever gets a 5xx.

Every operation of the schema is exercised with valid data (positive mode) and with
data that breaks the schema (negative mode: wrong types, missing fields, bad enums),
with a valid key so requests reach the handlers, and once more with the path pointing
at real runs (a finished one and one waiting for approval), so handlers get past the
404. Every answer must be below 500, and every error a JSON ``{"error": ...}`` body.
The number of examples is bounded so the whole test stays well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from _live import LiveServer, live_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from tether import Agent, tool
from tether.testing import ScriptedModel, text, tool_call

EXAMPLES = 12


@tool(effect="write", requires_approval=True)
def refund(order_id: str, amount_cents: int) -> str:
    """Refund part of an order."""
    return f"refunded {amount_cents} on {order_id}"


AGENTS = [
    Agent(name="echo", model=ScriptedModel(lambda request: text("hello"))),
    Agent(
        name="refund",
        model=ScriptedModel([tool_call("refund", order_id="A", amount_cents=5), text("done")]),
        tools=[refund],
    ),
]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("fuzz")
    with live_server(f"sqlite:///{folder}/tether.db", AGENTS) as live:
        yield live


def _check(case: Any, base_url: str) -> None:
    try:
        response = case.call(base_url=base_url, timeout=30)
    except (UnicodeError, ValueError) as exc:  # the client cannot send it (not our answer)
        if "header" in str(exc).lower() or isinstance(exc, UnicodeError):
            return
        raise
    where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code < 500, where
    if response.status_code >= 400:
        content_type = response.headers.get("content-type") or [""]  # a list per header
        assert content_type[0].startswith("application/json"), where
        assert isinstance(response.json().get("error", {}).get("code"), str), where


def test_no_input_gets_a_server_error(srv: LiveServer) -> None:
    key = srv.key("acme", ["runs:read", "runs:write", "approvals:write"])
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=srv.url, headers=auth, timeout=30) as client:
        done = client.post("/v1/runs", json={"agent": "echo", "input": "x"}).json()["run_id"]
        waiting = client.post("/v1/runs", json={"agent": "refund", "input": "x"}).json()
    schema = schemathesis.openapi.from_url(f"{srv.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    exercised = 0
    for operation in operations:
        path_sets: list[dict[str, Any] | None] = [None]
        if "{run_id}" in operation.path:
            path_sets += [{"run_id": done}, {"run_id": waiting["run_id"]}]
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            for path in path_sets:
                strategy = operation.as_strategy(mode, headers=auth, path_parameters=path)

                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=strategy, nothing=st.none())
                def fuzz(case: Any, nothing: None) -> None:
                    _check(case, srv.url)

                try:
                    fuzz()
                except Unsatisfiable:
                    # Nothing to break: an operation without parameters has no negative form.
                    assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
                    continue
                exercised += 1
    assert exercised >= 2 * len(operations)
