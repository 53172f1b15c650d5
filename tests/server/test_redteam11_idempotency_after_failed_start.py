"""Red team 11 (suspected, confirmed here): a retried POST could start a second run.

``POST /v1/runs`` with an ``Idempotency-Key`` gave the key back whenever starting the run
raised, even when the run had already been created in the store (starting failed after
the insert: a store error while leasing, a bug, or the client going away mid-request).
The client's retry with the same key, the very case the key exists for, then started a
second run: two refunds for one request. Now the key goes back only when the store has
no such run; otherwise the retry is answered with the run the first request created.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tether import Agent, Runtime
from tether.server import create_app
from tether.store import new_api_key
from tether.testing import ScriptedModel, text


async def test_a_retry_after_a_start_that_failed_late_gets_the_run_it_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = Agent(name="echo", model=ScriptedModel(lambda req: text("ok")))
    async with Runtime(f"sqlite:///{tmp_path}/t.db", agents=[agent]) as rt:
        record, key = new_api_key("acme", ["runs:read", "runs:write"])
        await rt.store.create_api_key(record)
        launches: list[Any] = []
        real_launch = rt._launch

        def broken_launch(*args: Any, **kwargs: Any) -> None:
            launches.append(args)
            if len(launches) == 1:  # the run is in the store; starting it fails
                raise RuntimeError("the worker lost its slot")
            real_launch(*args, **kwargs)

        monkeypatch.setattr(rt, "_launch", broken_launch)
        app = create_app(rt, {"echo": agent})
        body = {"agent": "echo", "input": "refund order 1"}
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "k-1"}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://127.0.0.1",
        ) as client:
            first = await client.post("/v1/runs", json=body, headers=headers)
            assert first.status_code == 500
            retry = await client.post("/v1/runs", json=body, headers=headers)
        runs = await rt.store.list_runs()
    assert retry.status_code == 200, retry.text
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert len(runs) == 1 and retry.json()["run_id"] == runs[0].run_id
