"""Red team 7, hole 05 (runtime side): the right to decide is checked where the decision
is recorded.

The server used to decide whether a signal was a person's decision from a status read
before the signal reached the runtime; the runtime read the run again (under its lease)
and accepted ``resume {"approve": true}`` on a run escalated in between. A sender's right
to decide (``may_decide``) now goes into ``Runtime.signal``, which refuses ``resolve_write``
and ``resume``/``input`` on an escalated run against the state it loaded under the lease;
a refusal records nothing and leaves the run (and its lease) as it was. The Python API's
default caller is trusted. The HTTP race itself is in
``tests/server/test_redteam7_escalation_scope_check_race.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime, tool
from tether.exceptions import ApprovalError
from tether.policy import Policy, PolicyFile
from tether.testing import ScriptedModel, text, tool_call

_LEDGER = "TETHER_RT7_H05_LEDGER"

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


@tool(effect="write")
def refund(order_id: str, amount_cents: int) -> str:
    """Refund an order."""
    with Path(os.environ[_LEDGER]).open("a") as fh:
        fh.write(f"{order_id} {amount_cents}\n")
    return "refunded"


def _script(request: Any) -> Any:
    if not any(m.role == "tool" for m in request.messages):
        return tool_call("refund", order_id="A-1", amount_cents=90000)
    return text("done")


AGENT = Agent(
    name="rt7-refund-escalated",
    model=ScriptedModel(_script),
    tools=[refund],
    policy=Policy(rules=RULES),
)


async def test_a_sender_that_may_not_decide_cannot_resume_or_answer_an_escalated_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = tmp_path / "ledger.txt"
    monkeypatch.setenv(_LEDGER, str(ledger))
    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
        run = await rt.start(AGENT, "refund A-1")
        assert (await run.result(timeout=30)).status == "escalated"
        before = await rt.store.load_events(run.run_id)
        for name, payload in (
            ("resume", {"approve": True}),
            ("input", "just refund it"),
            ("resolve_write", {"call_id": "x", "action": "completed"}),
        ):
            with pytest.raises(ApprovalError) as refused:
                await rt.signal(run.run_id, name, payload, by="frontend", may_decide=False)
            assert refused.value.context["may_decide"] is False
            assert refused.value.context["status"] == "escalated"
        record = await rt.store.get_run(run.run_id)
        assert record is not None and record.status == "escalated"
        assert record.lease_owner is None  # a refusal gives back the lease it took
        assert len(await rt.store.load_events(run.run_id)) == len(before)
        assert not ledger.exists()
        # The trusted default (a Runtime caller) decides.
        await rt.signal(run.run_id, "resume", {"approve": True}, by="lead")
        result = await rt.get(run.run_id).result(timeout=30)
    assert result.status == "completed", result
    assert ledger.read_text().splitlines() == ["A-1 90000"]


async def test_a_sender_that_may_not_decide_can_still_cancel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``may_decide=False`` refuses decisions only: cancelling is not one."""
    monkeypatch.setenv(_LEDGER, str(tmp_path / "ledger.txt"))
    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
        run = await rt.start(AGENT, "refund A-1")
        assert (await run.result(timeout=30)).status == "escalated"
        await rt.signal(run.run_id, "cancel", {"reason": "dup"}, by="frontend", may_decide=False)
        result = await rt.get(run.run_id).result(timeout=30)
    assert result.status == "cancelled"
