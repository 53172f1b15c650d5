"""A clean shutdown is not a driver's death (red team 5, hole 5).

Leaving ``async with Runtime(...)`` (or ``tether serve`` stopping on SIGTERM) stops the
runs driven there mid-step. It used to give their leases back without a release mark,
so the next claimer counted each restart as a crash: three deploys while a healthy run
sat in one long step quarantined it as "poisoned".
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tether import Agent, Runtime, tool
from tether.models import ModelRequest
from tether.runtime._fleet import CLAIMED, RELEASED
from tether.testing import ScriptedModel, text, tool_call

sys.path.insert(0, str(Path(__file__).parent))
import fleet_agents
from fleet_worker import DEADLINE
from fleet_worker import poll as _poll


@tool(retry=None, timeout=600)
async def report(n: int) -> str:
    """A long, healthy read."""
    await asyncio.sleep(300)
    return "ok"


def _plan(req: ModelRequest) -> Any:
    if any(m.role == "tool" for m in req.messages):
        return text("done")
    return tool_call("report", n=1)


reporter = Agent(name="reporter", model=ScriptedModel(_plan), tools=[report], max_turns=4)


async def _driven(rt: Runtime, run_id: str) -> None:
    for _ in range(3000):
        if run_id in rt.active_runs:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"run {run_id} was never driven by {rt.owner}")


async def _signals(rt: Runtime, run_id: str) -> list[tuple[str, Any]]:
    rows = await rt.store.load_events(run_id)
    found = []
    for row in rows:
        if row.type == "signal.received":
            data = json.loads(row.data)
            found.append((data["name"], data.get("payload")))
    return found


async def test_restarts_while_a_run_sits_in_a_long_step_do_not_quarantine_it(
    store_url: str,
) -> None:
    """Each clean exit records ``tether.released`` (reason ``shutdown``) before it lets
    the run go, so every later claim is a fresh one and the run is never quarantined."""
    async with Runtime(store_url, agents=[reporter], quarantine_after=2) as rt:
        run_id = (await rt.start(reporter, "monthly report")).run_id
        await _driven(rt, run_id)
    for _ in range(4):
        async with Runtime(store_url, agents=[reporter], quarantine_after=2) as rt:
            await _driven(rt, run_id)
    async with Runtime(store_url, worker=False) as client:
        record = await client.get_run(run_id)
        signals = await _signals(client, run_id)
    assert record is not None
    assert record.status in ("pending", "running"), record.reason
    assert record.lease_owner is None  # handed back, not left to expire
    releases = [p for name, p in signals if name == RELEASED]
    assert [p["reason"] for p in releases] == ["shutdown"] * 5
    # A mark may also say the step's tools were running (charged under a tool budget).
    assert all(set(p) <= {"reason", "in_tool_calls"} for p in releases)
    claims = [p for name, p in signals if name == CLAIMED]
    assert len(claims) == 4 and all(p["fresh"] and p["deaths"] == 0 for p in claims)


async def test_a_run_that_ended_is_not_marked_released_at_shutdown(store_url: str) -> None:
    """Only live runs get the mark: one that parked or finished is left as it is."""
    quick = Agent(name="quick", model=ScriptedModel(lambda req: text("done")), max_turns=2)
    async with Runtime(store_url, agents=[quick]) as rt:
        run = await rt.start(quick, "hi")
        assert (await run.result(timeout=30)).status == "completed"
    async with Runtime(store_url, worker=False) as client:
        assert await _signals(client, run.run_id) == []


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_serve_drains_on_sigterm_like_a_worker(tmp_path: Path, store_url: str) -> None:
    """``tether serve`` (with its worker) stopped by SIGTERM lets each run finish its step
    and gives it back with a drain mark, then exits 0."""
    ledger = tmp_path / "ledger.db"
    env = {
        **os.environ,
        "TETHER_TEST_LEDGER": str(ledger),
        "TETHER_TEST_LOOKUP_SECONDS": "1.0",
        "PYTHONUNBUFFERED": "1",
    }

    async def start() -> list[str]:
        async with Runtime(store_url, worker=False) as client:
            return [(await client.start(fleet_agents.payer, f"order-{i}")).run_id for i in range(3)]

    run_ids = asyncio.run(start())

    async def records() -> list[Any]:
        async with Runtime(store_url, worker=False) as client:
            return [await client.get_run(run_id) for run_id in run_ids]

    command = [sys.executable, "-m", "tether.cli", "serve", "--agents"]
    command += [fleet_agents.__file__, "--store", store_url, "--port", "0"]
    serve = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        assert serve.stdout is not None
        found = re.search(r"on (http://127\.0\.0\.1:\d+)", serve.stdout.readline())
        assert found is not None
        _poll(
            lambda: _healthy(found.group(1)), "the server to answer"
        )  # its signal handlers are in
        _poll(
            lambda: all(r.lease_owner is not None for r in asyncio.run(records())),
            "the server's worker to claim every run",
        )
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=DEADLINE) == 0
        output = serve.stdout.read()
        assert "drained" in output, output
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        if serve.stdout is not None:
            serve.stdout.close()

    async def check() -> None:
        async with Runtime(store_url, worker=False) as client:
            for run_id in run_ids:
                record = await client.get_run(run_id)
                assert record is not None and record.lease_owner is None
                if record.status == "completed":
                    continue
                assert record.status in ("pending", "running")
                rows = await client.store.load_events(run_id)
                last = json.loads(rows[-1].data)
                assert (last.get("name"), last.get("payload")) == (RELEASED, {"reason": "drain"})

    asyncio.run(check())
