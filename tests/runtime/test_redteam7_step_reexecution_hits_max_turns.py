"""Red team 7, hole 06: a re-executed step is not a new model turn.

A step is executed again from the log after an approval park, and after a crash. ReAct's
``think`` checked ``max_turns`` (and the consecutive-failure escalation) before asking the
model, against counts the fold had already advanced with the step's own journaled reply
(and its own tool failures). On the old code, whenever the call waiting for a person (or
the write in flight) came from the ``max_turns``-th reply:

* a person approved the call and the run failed ``max_turns_exceeded``, the approved call
  never ran (the approver had been told it was approved);
* the process died after a non-idempotent write's ``tool.started`` and recovery failed the
  run instead of parking it as ``uncertain_write`` for a person;
* a failure in the parked step escalated the run on its re-execution, instead of running
  the approved call.

The guards now run only for a new model call: not when the step's reply is in the journal.
The crash case runs this module as the worker process, killed by its own tool.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime, tool
from tether.engine import ToolCompleted, ToolFailed, ToolStarted
from tether.models import ModelRequest
from tether.policy import EscalationPolicy, Policy
from tether.testing import ScriptedModel, text, tool_call

TTL = 0.5
_LEDGER = "TETHER_RT7_H06_LEDGER"
_DIE = "TETHER_RT7_H06_DIE"


def _append(line: str) -> None:
    with Path(os.environ[_LEDGER]).open("a") as fh:
        fh.write(line + "\n")


@tool(effect="write", requires_approval=True)
def refund(order_id: str) -> str:
    """Refund an order (a person approves it first)."""
    _append(f"refund {order_id}")
    return "refunded"


@tool(effect="write", idempotent=False, retry=None)
def charge(order_id: str) -> str:
    """Charge a card (not idempotent: a second call charges twice)."""
    _append(f"charge {order_id}")
    if os.environ.get(_DIE) == "1":
        os._exit(9)  # the effect happened; tool.completed never will
    return "charged"


@tool
def lookup(order_id: str) -> str:
    """Look an order up (the backend is down)."""
    raise RuntimeError("backend down")


def _once(*calls: Any) -> Any:
    def script(request: ModelRequest) -> Any:
        if not any(m.role == "tool" for m in request.messages):
            return list(calls) if len(calls) > 1 else calls[0]
        return text("done")

    return script


def charger() -> Agent:
    return Agent(
        name="rt7-charger",
        model=ScriptedModel(_once(tool_call("charge", order_id="1"))),
        tools=[charge],
        max_turns=1,
    )


async def _events(rt: Runtime, run_id: str) -> list[Any]:
    return [e.event async for e in rt.get(run_id).events(follow=False)]


async def test_an_approved_call_from_the_last_allowed_reply_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = tmp_path / "ledger.txt"
    monkeypatch.setenv(_LEDGER, str(ledger))
    agent = Agent(
        name="rt7-approver",
        model=ScriptedModel(_once(tool_call("refund", order_id="1"))),
        tools=[refund],
        max_turns=1,
    )
    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
        run = await rt.start(agent, "refund order 1")
        parked = await run.result(timeout=30)
        assert parked.status == "waiting" and parked.wait_reason == "approval_required"
        assert not ledger.exists()
        (pending,) = await run.pending_approvals()
        await rt.approve(run.run_id, pending.approval_id, by="ana@example.com")
        result = await rt.get(run.run_id).result(timeout=30)
        events = await _events(rt, run.run_id)
    # The approved call ran, once; only the *next* turn is over the limit.
    assert ledger.read_text().splitlines() == ["refund 1"]
    assert [e.tool for e in events if isinstance(e, ToolCompleted)] == ["refund"]
    assert result.status == "failed" and result.error is not None
    assert result.error.error_code == "max_turns_exceeded"


async def test_the_parked_steps_own_failures_do_not_escalate_its_reexecution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = tmp_path / "ledger.txt"
    monkeypatch.setenv(_LEDGER, str(ledger))
    agent = Agent(
        name="rt7-failing",
        model=ScriptedModel(
            _once(tool_call("lookup", order_id="1"), tool_call("refund", order_id="1"))
        ),
        tools=[lookup, refund],
        policy=Policy(escalation=EscalationPolicy(max_consecutive_tool_failures=1)),
    )
    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
        run = await rt.start(agent, "refund order 1")
        parked = await run.result(timeout=30)
        assert parked.status == "waiting", parked
        # The lookup failed in the parked step: one failure in a row, the limit.
        assert (await rt.load_state(run.run_id)).consecutive_failures == 1
        (pending,) = await run.pending_approvals()
        await rt.approve(run.run_id, pending.approval_id, by="ana@example.com")
        result = await rt.get(run.run_id).result(timeout=30)
        events = await _events(rt, run.run_id)
    assert result.status == "completed", result
    assert ledger.read_text().splitlines() == ["refund 1"]
    failed = [e.tool for e in events if isinstance(e, ToolFailed) and not e.will_retry]
    assert failed == ["lookup"]


def _crash_in_child(store: str, ledger: Path) -> str:
    """Start the charger in a child process that dies inside its write; the run's id."""
    env = {**os.environ, _LEDGER: str(ledger), _DIE: "1"}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    child = subprocess.run(
        [sys.executable, __file__, store],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert child.returncode == 9, child.stderr
    return child.stdout.strip().splitlines()[0]


async def test_a_crash_after_the_last_allowed_replys_write_started_parks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, ledger = f"sqlite:///{tmp_path}/t.db", tmp_path / "ledger.txt"
    run_id = await asyncio.to_thread(_crash_in_child, store, ledger)
    assert ledger.read_text().splitlines() == ["charge 1"]  # the effect happened

    await asyncio.sleep(TTL * 2)  # the dead worker's lease expires
    monkeypatch.setenv(_LEDGER, str(ledger))
    async with Runtime(store, agents=[charger()], lease_ttl=TTL) as rt:
        result = await rt.get(run_id).result(timeout=30)
        events = await _events(rt, run_id)
    # A person is asked whether the charge happened; it is neither failed nor repeated.
    assert result.status == "waiting" and result.wait_reason == "uncertain_write", result
    assert [e.tool for e in events if isinstance(e, ToolStarted)] == ["charge"]
    assert ledger.read_text().splitlines() == ["charge 1"]


async def _child(store: str) -> None:
    async with Runtime(store, agents=[charger()], lease_ttl=TTL, recover=False) as rt:
        run = await rt.start(charger(), "charge order 1")
        print(run.run_id, flush=True)
        await run.result(timeout=30)


if __name__ == "__main__":
    asyncio.run(_child(sys.argv[1]))
