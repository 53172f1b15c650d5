"""Red team 7, hole 04: an approval that expired into an escalation can be decided.

With ``ApprovalSettings(on_expiry="escalate")`` the timer hands an undecided request to a
person (``run.escalated``, ``context={"calls": [...]}``) and leaves it undecided. On the
old code nothing but cancel could move such a run: approve and deny were refused (the
request had expired), ``resume {"approve": ...}`` was ignored (the decision was bound to
``context["call"]`` only), so the gate parked the run again on the same expired request,
with a wake-up in the past, and the next timer pass escalated it again.

Now the person's decision (``resume`` with ``approve``, or ``input``) is bound to each
escalated call by its key and argument hash, recorded on the request (which is closed),
and honoured by the gate; ``resume`` without a decision is refused; an expired request
nobody decided is escalated, never parked on again.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime, tool
from tether.engine import (
    ApprovalDecided,
    ApprovalRequested,
    RunEscalated,
    RunStatusChanged,
    SignalReceived,
    ToolCompleted,
    ToolFailed,
    encode_event,
)
from tether.exceptions import ApprovalError, RunNotWaitingError
from tether.models import ModelRequest, ToolCall
from tether.policy import ApprovalSettings, Policy
from tether.store import EventRow, RunUpdate
from tether.testing import ScriptedModel, text, tool_call

_LEDGER = "TETHER_RT7_H04_LEDGER"
EXPIRY = 0.2


@tool(effect="write", requires_approval=True)
def refund(order_id: str, amount_cents: int) -> str:
    """Refund an order (a person approves it first)."""
    with Path(os.environ[_LEDGER]).open("a") as fh:
        fh.write(f"{order_id} {amount_cents}\n")
    return "refunded"


def _refund(order_id: str, amount_cents: int) -> ToolCall:
    # Every proposal has the same provider call id, as some providers send.
    call = tool_call("refund", order_id=order_id, amount_cents=amount_cents)
    return call.model_copy(update={"id": "call_0"})


def _script(request: ModelRequest) -> Any:
    """A refund; once it ran or a person took over, a second one."""
    results = [m for m in request.messages if m.role == "tool"]
    if not results:
        return _refund("1", 900)
    person = [m for m in request.messages if m.role == "user"][1:]
    if len(results) == 1 and (person or "refunded" in (results[0].content or "")):
        return _refund("2", 100)
    return text("outcome: " + " | ".join(m.content or "" for m in results))


def _agent() -> Agent:
    return Agent(
        name="rt7-expiring",
        model=ScriptedModel(_script),
        tools=[refund],
        policy=Policy(approvals=ApprovalSettings(timeout_seconds=EXPIRY, on_expiry="escalate")),
    )


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ledger.txt"
    monkeypatch.setenv(_LEDGER, str(path))
    return path


def _refunds(ledger: Path) -> list[str]:
    """The refunds that ran, one ``"<order> <cents>"`` line each."""
    return ledger.read_text().splitlines() if ledger.exists() else []


async def _status(rt: Runtime, run_id: str, wanted: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        record = await rt.store.get_run(run_id)
        assert record is not None
        if record.status == wanted:
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"run {run_id} never became {wanted!r} (still {record.status})")


async def _expired_escalation(rt: Runtime) -> str:
    """A run whose approval request expired and was escalated to a person by the timer."""
    run = await rt.start(_agent(), "refund order 1")
    assert (await run.result(timeout=30)).status == "waiting"
    await _status(rt, run.run_id, "escalated")
    state = await rt.load_state(run.run_id)
    assert state.escalation is not None and state.escalation.source == "approval_expired"
    assert state.escalation.context == {"calls": ["0.1"]}
    return run.run_id


async def _events(rt: Runtime, run_id: str) -> list[Any]:
    return [e.event async for e in rt.get(run_id).events(follow=False)]


async def test_resume_with_approval_runs_the_expired_call(tmp_path: Path, ledger: Path) -> None:
    async with Runtime(f"sqlite:///{tmp_path}/t.db", timer_interval=0.05) as rt:
        run_id = await _expired_escalation(rt)
        with pytest.raises(ApprovalError, match="resume"):  # says how to decide it now
            await rt.approve(run_id, "0.1", by="ana")
        await rt.signal(run_id, "resume", {"approve": True}, by="ana")
        # The model proposes a second refund; the provider reuses the call id. The
        # person's decision was for call 0.1 and its arguments: this one asks again.
        await _status(rt, run_id, "waiting")
        assert _refunds(ledger) == ["1 900"]
        (pending,) = await rt.get(run_id).pending_approvals()
        assert pending.approval_id != "0.1" and pending.arguments["order_id"] == "2"
        await rt.deny(run_id, pending.approval_id, by="ana", reason="one is enough")
        result = await rt.get(run_id).result(timeout=30)
        events = await _events(rt, run_id)
    assert result.status == "completed", result
    assert _refunds(ledger) == ["1 900"]
    requests = [e for e in events if isinstance(e, ApprovalRequested)]
    assert [r.call_id for r in requests] == [requests[0].call_id] * 2  # the reused id
    decided = [e for e in events if isinstance(e, ApprovalDecided)]
    assert [(d.key, d.approved, d.by) for d in decided] == [
        ("0.1", True, "ana"),
        (requests[1].key, False, "ana"),
    ]
    assert decided[0].args_hash == requests[0].args_hash
    assert [e.tool for e in events if isinstance(e, ToolCompleted)] == ["refund"]


async def test_resume_with_denial_tells_the_model(tmp_path: Path, ledger: Path) -> None:
    async with Runtime(f"sqlite:///{tmp_path}/t.db", timer_interval=0.05) as rt:
        run_id = await _expired_escalation(rt)
        await rt.signal(run_id, "resume", {"approve": False, "reason": "too late"}, by="ana")
        result = await rt.get(run_id).result(timeout=30)
        events = await _events(rt, run_id)
        assert await rt.get(run_id).pending_approvals() == []
    assert result.status == "completed", result
    assert _refunds(ledger) == []
    (failed,) = [e for e in events if isinstance(e, ToolFailed)]
    assert failed.error.error_code == "denied" and "too late" in failed.error.message
    assert "ana" in str(result.output) and "too late" in str(result.output)


async def test_input_declines_the_call_and_reaches_the_model(tmp_path: Path, ledger: Path) -> None:
    async with Runtime(f"sqlite:///{tmp_path}/t.db", timer_interval=0.05) as rt:
        run_id = await _expired_escalation(rt)
        await rt.signal(run_id, "input", "refund order 2 instead", by="ana")
        await _status(rt, run_id, "waiting")  # the model asked for the new refund
        state = await rt.load_state(run_id)
        events = await _events(rt, run_id)
    assert _refunds(ledger) == []
    (failed,) = [e for e in events if isinstance(e, ToolFailed)]
    assert failed.error.error_code == "denied"
    # The declined call's result first, then the person's message, then the new proposal.
    roles = [(m.role, m.content) for m in state.messages[-3:]]
    assert roles[0][0] == "tool" and "took over" in (roles[0][1] or "")
    assert roles[1] == ("user", "refund order 2 instead")
    assert state.pending_approvals[0].request.arguments == {"order_id": "2", "amount_cents": 100}


async def test_resume_without_a_decision_is_refused_and_the_run_does_not_loop(
    tmp_path: Path, ledger: Path
) -> None:
    async with Runtime(f"sqlite:///{tmp_path}/t.db", timer_interval=0.05) as rt:
        run_id = await _expired_escalation(rt)
        before = await _events(rt, run_id)
        with pytest.raises(RunNotWaitingError, match="approve"):
            await rt.signal(run_id, "resume", {}, by="ana")
        await asyncio.sleep(0.5)  # ten timer passes
        after = await _events(rt, run_id)
        record = await rt.store.get_run(run_id)
    assert record is not None and record.status == "escalated"
    assert len(after) == len(before)  # nothing recorded: no re-park, no re-escalation
    assert _refunds(ledger) == []


async def test_an_undecided_expired_request_escalates_again_instead_of_parking(
    tmp_path: Path, ledger: Path
) -> None:
    """A log where the run was continued without a decision (the old code accepted
    ``resume {}``): the gate hands the expired call to a person again; it never parks on
    the request, whose timer is due, and the call never runs."""
    async with Runtime(f"sqlite:///{tmp_path}/t.db", timer_interval=3600) as rt:
        run = await rt.start(_agent(), "refund order 1")
        assert (await run.result(timeout=30)).status == "waiting"
        await asyncio.sleep(EXPIRY)
        assert await rt.fire_timers() == [run.run_id]
        state = await rt.load_state(run.run_id)
        assert state.status == "escalated"
        # What the old code recorded for resume {} on this run.
        assert await rt.store.acquire_lease(run.run_id, rt.owner, 30)
        now = time.time()
        events = [
            SignalReceived(name="resume", payload={}, by="ana"),
            RunStatusChanged(previous="escalated", status="running", reason="signal:resume"),
        ]
        rows = [
            EventRow(state.last_seq + i, state.step, now, e.type, encode_event(e))
            for i, e in enumerate(events, start=1)
        ]
        await rt.store.append(
            run.run_id, rows, RunUpdate(status="running", reason="signal:resume"), owner=rt.owner
        )
        await rt.store.release_lease(run.run_id, rt.owner)
        result = await rt.resume(run.run_id)
        parked = await result.result(timeout=30)
        record = await rt.store.get_run(run.run_id)
        events_after = await _events(rt, run.run_id)
        due = await rt.fire_timers(now=time.time() + 3600)
    assert parked.status == "escalated" and parked.wait_reason == "approval_expired", parked
    assert record is not None and record.status == "escalated"
    assert due == []  # no timer left on the run: nothing re-fires
    again = [e for e in events_after if isinstance(e, RunEscalated)]
    assert len(again) == 2 and again[1].context is not None
    assert again[1].context["calls"] == ["0.1"]
    assert _refunds(ledger) == []
