"""Red team 15, hole 05: an Idempotency-Key burnt by a store outage.

``POST /v1/runs`` claimed the key, then starting the run failed (the store was away), and
giving the key back failed in the same outage (the error was swallowed). The key stayed
bound to a run that never existed: every retry, long after the store was back, waited
and answered 409 ``idempotency_key_in_progress``, and no run could ever be started with
the key the client must reuse.

Now a retry that finds the claim stale with no run takes the key over and starts the very
run id the key names. The runs table's primary key keeps that exactly-once: if the first
request still lives and creates the run too, one of them wins and the other answers with
the winner's run; a key taken over is never given back by the first request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from tether import Agent, Runtime
from tether.exceptions import StoreError
from tether.server import _app, create_app
from tether.store import EventRow, RunRecord, new_api_key
from tether.testing import ScriptedModel, text

BODY = {"agent": "echo", "input": "refund order 42"}


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient, str]]:
    agent = Agent(name="echo", model=ScriptedModel(lambda req: text("ok")))
    async with Runtime(f"sqlite:///{tmp_path}/t.db", agents=[agent]) as rt:
        record, key = new_api_key("acme", ["runs:read", "runs:write"])
        await rt.store.create_api_key(record)
        app = create_app(rt, {"echo": agent})
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://127.0.0.1",
        ) as client:
            yield rt, client, key


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Idempotency-Key": "order-42"}


async def test_a_key_whose_start_and_release_both_failed_is_taken_over_by_a_retry(
    served: tuple[Runtime, httpx.AsyncClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt, client, key = served
    real_create = rt.store.create_run
    real_release = rt.store.release_idempotency_key
    outage = True

    async def create_run(record: RunRecord, events: Sequence[EventRow]) -> None:
        if outage:
            raise StoreError("connection lost", transient=True)
        await real_create(record, events)

    async def release(*args: Any) -> None:
        if outage:
            raise StoreError("connection lost", transient=True)
        await real_release(*args)

    monkeypatch.setattr(rt.store, "create_run", create_run)
    monkeypatch.setattr(rt.store, "release_idempotency_key", release)
    monkeypatch.setattr(_app, "_REPLAY_WAIT", 0.0)  # a retry finds the claim stale at once

    first = await client.post("/v1/runs", json=BODY, headers=_headers(key))
    assert first.status_code == 503, first.text
    outage = False  # the store is back
    retry = await client.post("/v1/runs", json=BODY, headers=_headers(key))
    assert retry.status_code == 201, retry.text
    again = await client.post("/v1/runs", json=BODY, headers=_headers(key))
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    runs = await rt.store.list_runs()
    assert [r.run_id for r in runs] == [retry.json()["run_id"]] == [again.json()["run_id"]]
    assert runs[0].tenant == "acme"
    # A different body under the taken-over key is still refused.
    other = await client.post(
        "/v1/runs", json={**BODY, "input": "something else"}, headers=_headers(key)
    )
    assert other.status_code == 422


async def test_takers_and_a_first_request_that_still_lives_start_one_run(
    served: tuple[Runtime, httpx.AsyncClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt, client, key = served
    real_create = rt.store.create_run
    held = asyncio.Event()
    go = asyncio.Event()
    creates: list[str] = []

    async def create_run(record: RunRecord, events: Sequence[EventRow]) -> None:
        creates.append(record.run_id)
        if len(creates) == 1:  # the first request hangs inside its insert
            held.set()
            await go.wait()
        await real_create(record, events)

    monkeypatch.setattr(rt.store, "create_run", create_run)
    monkeypatch.setattr(_app, "_REPLAY_WAIT", 0.0)

    first = asyncio.ensure_future(client.post("/v1/runs", json=BODY, headers=_headers(key)))
    await held.wait()
    retries = await asyncio.gather(
        *(client.post("/v1/runs", json=BODY, headers=_headers(key)) for _ in range(4))
    )
    go.set()  # the first request's insert goes through now, after the takers'
    answers = [*retries, await first]
    runs = await rt.store.list_runs()
    assert len(runs) == 1
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers]
    assert {a.json()["run_id"] for a in answers} == {runs[0].run_id}
    assert sum(a.status_code == 201 for a in answers) == 1
    assert set(creates) == {runs[0].run_id} and len(creates) > 1  # they raced for one id
