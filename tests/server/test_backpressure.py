"""Backpressure over HTTP: past ``max_pending`` runs waiting, POST /v1/runs answers 429.

The server's runtime is a pure client (``worker=False``), so the runs it starts wait
for a worker; the bound is counted in the store.
"""

from __future__ import annotations

import httpx
from _live import live_server

from tether import Agent
from tether.testing import ScriptedModel, text

echo = Agent(name="echo", model=ScriptedModel(lambda req: text("hi")))


def test_post_runs_answers_429_with_retry_after_when_the_queue_is_full(store_url: str) -> None:
    """Two runs wait; the third POST is 429 queue_full with Retry-After, and starts nothing."""
    options = {"worker": False, "max_pending": 2}
    with live_server(store_url, [echo], runtime_options=options) as srv:
        key = srv.key("acme", ["runs:read", "runs:write"])
        with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {key}"}) as api:
            for i in range(2):
                started = api.post("/v1/runs", json={"agent": "echo", "input": f"hi {i}"})
                assert started.status_code == 201, started.text
                assert started.json()["status"] == "pending"
            refused = api.post("/v1/runs", json={"agent": "echo", "input": "one too many"})
            assert refused.status_code == 429
            assert int(refused.headers["Retry-After"]) >= 1
            error = refused.json()["error"]
            assert error["code"] == "queue_full"
            assert "tether worker" in error["message"]
            assert len(api.get("/v1/runs").json()["runs"]) == 2
