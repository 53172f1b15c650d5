"""Real processes and real timers on one SQLite store.

Two live runtimes in two processes share a store: a run that lasts several
lease TTLs stays with the process driving it (its heartbeats keep the lease),
the other never adopts it, and each tool call happens once. Approval expiry
is fired by a runtime's own timer loop, not by a test calling ``fire_timers``,
including for a run parked by a process that has since exited.

Nothing here asserts a duration: the waits poll the store or the processes
with generous deadlines that only bound a hung test.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime
from tether.engine import ApprovalDecided, RunEscalated, ToolCompleted
from tether.policy import ApprovalSettings, Policy
from tether.testing import ScriptedModel

sys.path.insert(0, str(Path(__file__).parent))
from _lease_worker import CALLS, TOOL_SECONDS, _refund_script, make_agents, refund_order

WORKER = Path(__file__).with_name("_lease_worker.py")
TTL = 1.0  # every tool call (TOOL_SECONDS) outlasts it; the whole run lasts many TTLs
DEADLINE = 120.0  # bounds a hung test only


def _spawn(*args: str | Path, ledger: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), args[0], str(args[1]), str(ledger), str(TTL)]
        + [str(a) for a in args[2:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _line(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=30)
        err = proc.stderr.read() if proc.stderr is not None else ""
        pytest.fail(f"worker exited ({proc.returncode}) without output:\n{err}")
    reply: dict[str, Any] = json.loads(line)
    return reply


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=30)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _db(store_url: str) -> Path:
    return Path(store_url.removeprefix("sqlite:///"))


def test_two_live_runtimes_a_run_outlasting_its_lease_stays_with_its_owner(
    tmp_path: Path, store_url: str
) -> None:
    """Heartbeats keep a long run's lease; the other live runtime never adopts it."""
    ledger, stop = tmp_path / "ledger.txt", tmp_path / "stop"
    standby = _spawn("standby", store_url, stop, ledger=ledger)
    starter: subprocess.Popen[str] | None = None
    try:
        standby_owner = _line(standby)["owner"]
        starter = _spawn("start", store_url, ledger=ledger)
        starter_owner = _line(starter)["owner"]
        run_id = _line(starter)["run_id"]

        owners: set[str | None] = set()
        deadline = time.monotonic() + DEADLINE
        with closing(sqlite3.connect(_db(store_url), timeout=30)) as conn:
            while starter.poll() is None and time.monotonic() < deadline:
                (owner,) = conn.execute(
                    "SELECT lease_owner FROM runs WHERE run_id = ?", (run_id,)
                ).fetchone()
                owners.add(owner)
                time.sleep(0.02)
        finished = _line(starter)
        assert starter.wait(timeout=30) == 0, starter.stderr.read() if starter.stderr else ""
        stop.touch()
        driving = _line(standby)["driving"]
        assert standby.wait(timeout=30) == 0, standby.stderr.read() if standby.stderr else ""
    finally:
        for proc in (standby, starter):
            if proc is not None:
                _stop(proc)

    assert finished["status"] == "completed", finished
    assert finished["output"] == f"looked up {CALLS} things"
    assert standby_owner not in owners, "the standby runtime took the lease of a live run"
    assert owners <= {starter_owner, None}
    assert starter_owner in owners
    assert run_id not in driving
    # Each call ran once, all in the process that owned the run.
    starter_pid = starter_owner.split(":")[1]
    assert ledger.read_text().splitlines() == [f"{starter_pid} {n}" for n in range(CALLS)]
    with closing(sqlite3.connect(_db(store_url))) as conn:
        rows = conn.execute(
            "SELECT e.seq, e.type FROM events e JOIN runs r ON r.id = e.run "
            "WHERE r.run_id = ? ORDER BY e.seq",
            (run_id,),
        ).fetchall()
    assert [seq for seq, _ in rows] == list(range(1, len(rows) + 1))
    assert [kind for _, kind in rows].count(ToolCompleted.model_fields["type"].default) == CALLS
    assert TOOL_SECONDS > TTL  # the premise: one call alone outlasts the lease


async def _poll_status(rt: Runtime, run_id: str, wanted: str) -> None:
    import asyncio

    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        record = await rt.store.get_run(run_id)
        assert record is not None
        if record.status == wanted:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"run {run_id} never became {wanted!r} (still {record.status})")


async def test_the_timer_loop_denies_an_approval_parked_by_a_process_that_exited(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run parks for approval in one process, which exits; another runtime's timers expire it."""
    ledger = tmp_path / "ledger.txt"
    monkeypatch.setenv("TETHER_TEST_LEDGER", str(ledger))
    parker = _spawn("park", store_url, 0.3, ledger=ledger)
    try:
        _line(parker)
        parked = _line(parker)
        assert parker.wait(timeout=60) == 0
    finally:
        _stop(parker)
    assert parked["status"] == "waiting"

    async with Runtime(
        store_url, agents=make_agents(expiry=0.3), lease_ttl=TTL, timer_interval=0.05
    ) as rt:
        await _poll_status(rt, parked["run_id"], "completed")
        result = await rt.get(parked["run_id"]).result(timeout=DEADLINE)
        events = [e.event async for e in rt.get(parked["run_id"]).events(follow=False)]
    (decided,) = [e for e in events if isinstance(e, ApprovalDecided)]
    assert decided.approved is False and decided.by == "system:expired"
    assert result.status == "completed" and "expired" in str(result.output)
    assert not ledger.exists()  # the refund never ran


async def test_the_timer_loop_escalates_an_expired_approval(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``on_expiry="escalate"`` the runtime's own timer hands the run to a person."""
    ledger = tmp_path / "ledger.txt"
    monkeypatch.setenv("TETHER_TEST_LEDGER", str(ledger))
    agent = Agent(
        name="refunder-escalating",
        model=ScriptedModel(_refund_script),
        tools=[refund_order],
        policy=Policy(approvals=ApprovalSettings(timeout_seconds=0.3, on_expiry="escalate")),
    )
    async with Runtime(store_url, lease_ttl=TTL, timer_interval=0.05) as rt:
        run = await rt.start(agent, "refund 90 dollars on order 1234")
        assert (await run.result(timeout=DEADLINE)).status == "waiting"
        await _poll_status(rt, run.run_id, "escalated")
        result = await run.result(timeout=DEADLINE)
        events = [e.event async for e in run.events(follow=False)]
    assert result.wait_reason == "approval_expired"
    (escalated,) = [e for e in events if isinstance(e, RunEscalated)]
    assert escalated.source == "approval_expired"
    assert not ledger.exists()
