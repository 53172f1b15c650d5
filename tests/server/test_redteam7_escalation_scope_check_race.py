"""Red team 7, hole 05: a key without ``approvals:write`` approves an escalated call by
racing the scope check.

``POST /v1/runs/{id}/signals/resume`` decided whether the signal was a person's decision
from the run's status read *before* delivering it (``record.status == "escalated"``);
the runtime then read the run again and accepted ``resume {"approve": true}`` on a run
that had been escalated in between. A ``runs:write`` key (a customer-facing front end)
that kept resuming its run while it was ``running`` got the escalated refund executed,
recorded as approved by that key.

The production topology: ``tether serve --no-worker`` and a ``tether worker`` process
(this module is that worker when run as a script), so no local driver closes the window.
The window is made certain, not raced for: the server's first read of the run returns
while the run is still ``running``, and only after the worker has escalated it. The
right to decide now goes into the runtime, which judges the signal against the state it
records it on: 403, nothing recorded, the refund never runs without a person.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tether import Agent, Runtime, tool
from tether.policy import Policy, PolicyFile
from tether.store import RunRecord
from tether.testing import ScriptedModel, text, tool_call

sys.path.insert(0, str(Path(__file__).parent))
from _live import LiveServer, live_server

_DIR = "TETHER_RT7_H05_DIR"  # the ledger and the gate file live here

RULES = PolicyFile.loads(
    """
version = 1
[[rules]]
name = "big-refunds-to-a-person"
tool = "refund"
when = "amount_cents > 5000"
action = "escalate"
reason = "Big refunds are reviewed by the support lead."
"""
)


@tool
def lookup(order_id: str) -> str:
    """Look an order up (the second lookup holds until the test opens the gate)."""
    gate = Path(os.environ[_DIR]) / "gate"
    deadline = time.monotonic() + 60
    while order_id == "A-2" and not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return "paid 900.00"


@tool(effect="write")
def refund(order_id: str, amount_cents: int) -> str:
    """Refund an order."""
    with (Path(os.environ[_DIR]) / "ledger.txt").open("a") as fh:
        fh.write(f"{order_id} {amount_cents}\n")
    return "refunded"


def _script(request: Any) -> Any:
    done = sum(m.role == "tool" for m in request.messages)
    if done < 2:  # the first step's commit makes the run "running" in the store
        return tool_call("lookup", order_id=f"A-{done + 1}")
    if done == 2:
        return tool_call("refund", order_id="A-1", amount_cents=90000)
    return text("done")


AGENT = Agent(
    name="rt7-refund",
    model=ScriptedModel(_script),
    tools=[lookup, refund],
    policy=Policy(rules=RULES),
)


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(_DIR, str(tmp_path))
    return tmp_path


@pytest.fixture
def serving(work: Path) -> Iterator[tuple[LiveServer, str]]:
    """A server that drives nothing (``--no-worker``) and a worker process on its store."""
    store = f"sqlite:///{work}/t.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with live_server(store, [AGENT], runtime_options={"worker": False}) as srv:
        worker = subprocess.Popen(
            [sys.executable, __file__, store],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            yield srv, store
        finally:
            worker.kill()
            worker.wait(timeout=10)
            if worker.stderr is not None:
                worker.stderr.close()


def _wait_status(client: httpx.Client, run_id: str, wanted: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run: dict[str, Any] = client.get(f"/v1/runs/{run_id}").json()
        if run["status"] == wanted:
            return run
        time.sleep(0.02)
    pytest.fail(f"run {run_id} never became {wanted!r} (still {run['status']})")


def _escalate_between_the_reads(srv: LiveServer, run_id: str, work: Path) -> list[str]:
    """Make the server's next read of ``run_id`` see it running, then let the worker
    escalate it before the server goes on: the window the race needed, every time.

    Returns the statuses that read handed the server.
    """
    runtime = srv.runtime
    original = runtime.get_run
    seen: list[str] = []

    async def stale_read(wanted: str) -> RunRecord | None:
        record = await original(wanted)
        if wanted != run_id or seen or record is None:
            return record
        seen.append(record.status)
        (work / "gate").touch()  # the worker's lookup returns; the refund is escalated
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = await runtime.store.get_run(run_id)
            if now is not None and now.status == "escalated":
                break
            await asyncio.sleep(0.02)
        return record  # what the server read before the escalation

    runtime.get_run = stale_read  # type: ignore[method-assign]
    return seen


@pytest.mark.parametrize(
    ("name", "payload"), [("resume", {"approve": True}), ("input", "just refund it")]
)
def test_a_key_without_approvals_write_cannot_decide_a_run_escalated_mid_request(
    serving: tuple[LiveServer, str], work: Path, name: str, payload: Any
) -> None:
    srv, _store = serving
    frontend = srv.key("acme", ["runs:read", "runs:write"], label="frontend")
    lead = srv.key("acme", ["runs:read", "runs:write", "approvals:write"], label="lead")
    with (
        httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {frontend}"}) as fe,
        httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {lead}"}) as ld,
    ):
        run_id = fe.post("/v1/runs", json={"agent": "rt7-refund", "input": "refund A-1"}).json()[
            "run_id"
        ]
        _wait_status(fe, run_id, "running")  # the worker holds it, inside the 2nd lookup
        seen = _escalate_between_the_reads(srv, run_id, work)
        answer = fe.post(f"/v1/runs/{run_id}/signals/{name}", json={"payload": payload})
        try:
            assert seen == ["running"]  # the server's own read was before the escalation
            assert answer.status_code == 403, answer.text
            error = answer.json()["error"]
            assert error["code"] == "forbidden"
            assert "approvals:write" in error["message"] and "escalated" in error["message"]
            assert error["details"]["required_scope"] == "approvals:write"
            time.sleep(0.5)  # a worker would have claimed a resumed run by now
            assert fe.get(f"/v1/runs/{run_id}").json()["status"] == "escalated"
            rows = srv.call(srv.runtime.store.load_events(run_id))
            signals = [json.loads(r.data) for r in rows if r.type == "signal.received"]
            assert [s for s in signals if s["name"] == name] == []  # nothing recorded
            assert not (work / "ledger.txt").exists()
        finally:
            del srv.runtime.get_run  # type: ignore[method-assign]

        # The person it was escalated to decides; the worker runs the refund.
        decided = ld.post(f"/v1/runs/{run_id}/signals/resume", json={"payload": {"approve": True}})
        assert decided.status_code == 200, decided.text
        _wait_status(ld, run_id, "completed")
    assert (work / "ledger.txt").read_text().splitlines() == ["A-1 90000"]


async def _work(store: str) -> None:
    async with Runtime(store, agents=[AGENT], claim_interval=0.05):
        await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(_work(sys.argv[1]))
