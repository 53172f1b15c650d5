"""Red team 10, hole 02: approval expiry is judged on one clock, the store's.

A worker whose wall clock ran 15 minutes fast denied a 10-minute approval request made by
another worker within seconds: its timer pass asked the store for timers due by its own
clock, while the request's expiry had been stamped on the other worker's clock. Now the
expiry, a decision's time and the timer pass are all on the store's clock
(``Store.clock()``: on Postgres the database's, estimated per process from an offset
measured when the store opens and again with lease renewals).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tether import Agent, Runtime, tool
from tether.models import ModelRequest
from tether.policy import ApprovalSettings, Policy
from tether.testing import ScriptedModel, text, tool_call

SKEW = 900.0
TIMEOUT = 600.0


@tool(effect="write", idempotent=True, requires_approval=True, retry=None)
def refund(order_id: str) -> str:
    """Refund an order (a person approves it first)."""
    return "refunded"


def _plan(req: ModelRequest) -> Any:
    if any(m.role == "tool" for m in req.messages):
        return text("done")
    return tool_call("refund", order_id="o-1")


asker = Agent(
    name="rt10_skew",
    model=ScriptedModel(_plan),
    tools=[refund],
    max_turns=4,
    policy=Policy(approvals=ApprovalSettings(timeout_seconds=TIMEOUT, on_expiry="deny")),
)


@pytest.mark.postgres
async def test_redteam10_skewed_worker_expires_approvals(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Runtime(postgres_url, agents=[asker]) as honest:
        run = await honest.start(asker, "refund o-1")
        state = await run.result(timeout=30)
        assert state.status == "waiting"
        (request,) = (await honest.load_state(run.run_id)).pending_approvals
    # Another machine joins the fleet with its wall clock 15 minutes fast.
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + SKEW)
    async with Runtime(postgres_url, agents=[asker], recover=False) as fast:
        assert await fast.fire_timers() == []  # not due: 10 minutes are not over
        assert abs(fast.store.clock() - real()) < 5  # the database's clock, not its own
        record = await fast.get_run(run.run_id)
        assert record is not None and record.status == "waiting"
        # A person's approval through the fast worker is in time, and honoured.
        await fast.approve(run.run_id, request.request.approval_id, by="ops")
        done = await fast.get(run.run_id).result(timeout=30)
        assert done.status == "completed"
        after = await fast.load_state(run.run_id)
        (approval,) = after.approvals.values()
        assert approval.decision is not None and approval.decision.approved
        assert after.tool_calls == 1  # the refund ran: not judged approved too late
