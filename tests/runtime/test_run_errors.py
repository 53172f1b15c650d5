"""Errors callers can branch on (issue 8, item 2): each new type, raised for real.

``RunLeasedError``, ``RunParkedError``, ``RunNotWaitingError``, ``RunFinishedError``
and ``LeaseLostError`` are subclasses of ``RunError`` with their own stable ``code``;
nothing here matches message text.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tether import Agent, Runtime, tool
from tether.engine import RunFailureCode
from tether.exceptions import (
    BudgetExceededError,
    ConcurrentWriteError,
    ErrorCode,
    LeaseLostError,
    RunError,
    RunFinishedError,
    RunLeasedError,
    RunNotWaitingError,
    RunParkedError,
    TetherError,
)
from tether.policy import Budget, Policy
from tether.store import EventRow
from tether.testing import ScriptedModel, text, tool_call


@tool(effect="write", requires_approval=True)
def refund(order_id: str) -> str:
    """Refund an order."""
    return "refunded"


def _parking_agent() -> Agent:
    def script(req: Any) -> Any:
        if len(req.messages) == 1:
            return tool_call("refund", order_id="1")
        return text("done")

    return Agent(name="parker", model=ScriptedModel(script), tools=[refund])


def test_every_run_error_has_its_own_code() -> None:
    codes = {
        RunLeasedError: ErrorCode.RUN_LEASED,
        RunParkedError: ErrorCode.RUN_PARKED,
        RunNotWaitingError: ErrorCode.RUN_NOT_WAITING,
        RunFinishedError: ErrorCode.RUN_FINISHED,
        LeaseLostError: ErrorCode.LEASE_LOST,
    }
    for cls, code in codes.items():
        assert issubclass(cls, RunError) and cls.code is code
    assert issubclass(LeaseLostError, ConcurrentWriteError)
    assert issubclass(BudgetExceededError, TetherError)
    assert RunError.code is ErrorCode.RUN  # no longer "run_not_found" by default


async def test_a_lease_held_by_another_process_is_run_leased(store_url: str) -> None:
    agent = _parking_agent()
    async with Runtime(store_url, recover=False) as rt, Runtime(store_url, recover=False) as other:
        run = await rt.start(agent, "refund")
        assert (await run.result()).status == "waiting"
        (pending,) = await run.pending_approvals()
        # Another process takes the run's lease (it is deciding something right now).
        assert await other.store.acquire_lease(run.run_id, other.owner, 30)
        with pytest.raises(RunLeasedError) as info:
            await rt.approve(run.run_id, pending.approval_id, by="ana")
        assert info.value.run_id == run.run_id
        record = await rt.get_run(run.run_id)
        assert record is not None and record.lease_owner == other.owner  # untouched


async def test_resume_of_a_parked_run_is_run_parked(store_url: str) -> None:
    async with Runtime(store_url, recover=False) as rt:
        run = await rt.start(_parking_agent(), "refund")
        await run.result()
        with pytest.raises(RunParkedError) as info:
            await rt.resume(run.run_id)
    assert info.value.context["signal"] == "approval"


async def test_an_append_by_a_writer_without_the_lease_is_lease_lost(store_url: str) -> None:
    async with Runtime(store_url, recover=False) as rt:
        run = await rt.start(_parking_agent(), "refund")
        await run.result()
        record = await rt.get_run(run.run_id)
        assert record is not None
        row = EventRow(record.last_seq + 1, 0, time.time(), "transition", b'{"type":"x"}')
        with pytest.raises(LeaseLostError):
            await rt.store.append(run.run_id, [row], owner="someone-else")
        stale = EventRow(record.last_seq, 0, time.time(), "transition", b'{"type":"x"}')
        with pytest.raises(ConcurrentWriteError):
            await rt.store.append(run.run_id, [stale])
        assert (await rt.get_run(run.run_id)).last_seq == record.last_seq  # type: ignore[union-attr]


async def test_a_failed_run_carries_a_typed_failure_code(store_url: str) -> None:
    agent = Agent(
        name="spender",
        model=ScriptedModel(lambda req: tool_call("refund", order_id="1")),
        tools=[refund],
        policy=Policy(budget=Budget(max_model_calls=1)),
    )
    async with Runtime(store_url, recover=False) as rt:
        run = await rt.start(agent, "go")
        assert (await run.result()).status == "waiting"  # the refund parks first
        (pending,) = await run.pending_approvals()
        await rt.deny(run.run_id, pending.approval_id, by="ana", reason="no")
        result = await rt.get(run.run_id).result()  # the next model call is over budget
    assert result.status == "failed" and result.error is not None
    assert result.error.error_code is RunFailureCode.BUDGET_EXCEEDED
