"""Red team 10, hole 03: a run resumed outside a claim pass keeps the worker's caps.

An approval timer (``fire_timers``), an approval or a signal sent through a worker, and
``resume`` all drove the run they made live at once: ``claim_due``/``acquire_lease`` then
``_launch``, with no ``tenant_concurrency`` count and no free-slot check. With
``tenant_concurrency=1`` two runs of one tenant executed at once. Now what was decided
is recorded (once), and the run is driven here only if a claim pass could take it (a
free slot, its tenant under its cap counted with the lease); otherwise its lease is
given back, it waits ``running`` and a claim pass takes it once a slot frees.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from tether import Agent, Runtime, tool
from tether.models import ModelRequest
from tether.policy import ApprovalSettings, Policy
from tether.testing import ScriptedModel, text, tool_call

sys.path.insert(0, str(Path(__file__).parent))
from slow_agents import slow_agent, work

slow = slow_agent("rt10_slow")
EXPIRY = 0.3


@tool(effect="write", idempotent=True, requires_approval=True, retry=None)
def refund(order_id: str) -> str:
    """Refund an order (a person approves it first)."""
    return "refunded"


def _asker(req: ModelRequest) -> Any:
    answers = [m for m in req.messages if m.role == "tool"]
    if not answers:
        return tool_call("refund", order_id="o-1")
    if len(answers) == 1:
        return tool_call("work", n=2)  # then a slow read: still executing when looked at
    return text("done")


def _agent(name: str, timeout: float | None) -> Agent:
    return Agent(
        name=name,
        model=ScriptedModel(_asker),
        tools=[refund, work],
        max_turns=6,
        policy=Policy(approvals=ApprovalSettings(timeout_seconds=timeout, on_expiry="deny")),
    )


expiring = _agent("rt10_expiring", EXPIRY)
asking = _agent("rt10_asking", None)
AGENTS = [slow, expiring, asking]


async def _until(what: Any) -> None:
    async with asyncio.timeout(20):
        while not await what():  # noqa: ASYNC110  # polling the store, no event to wait on
            await asyncio.sleep(0.05)


async def _parked_and_busy(worker: Runtime, client: Runtime, agent: Agent) -> tuple[str, str]:
    """Run A (``agent``) parks on its approval; then run B of the same tenant executes."""
    a = (await client.start(agent, "refund", tenant="acme")).run_id
    assert await worker.recover() == [a]

    async def parked() -> bool:
        record = await client.get_run(a)
        return record is not None and record.status == "waiting" and not record.lease_owner

    await _until(parked)
    b = (await client.start(slow, "crunch", tenant="acme")).run_id
    assert await worker.recover() == [b]
    return a, b


async def _idle(worker: Runtime, run_id: str) -> bool:
    return run_id not in worker.active_runs


async def _live(client: Runtime) -> list[str]:
    runs = await client.list_runs(tenant="acme", statuses=["pending", "running"], limit=10)
    now = time.time()
    return [r.run_id for r in runs if r.lease_owner and (r.lease_expires_at or 0) > now]


async def _decisions(rt: Runtime, run_id: str) -> int:
    rows = await rt.store.load_events(run_id)
    return sum(1 for row in rows if row.type == "approval.decided")


async def _waits_for_a_claim(worker: Runtime, client: Runtime, a: str, b: str) -> None:
    """A is live but not driven (lease given back) while B holds the tenant's one place;
    once B ends, a claim pass takes A."""
    assert a not in worker.active_runs
    record = await client.get_run(a)
    assert record is not None and record.status == "running" and record.lease_owner is None
    assert await _live(client) == [b]
    assert await worker.recover() == []  # the tenant is at its cap: the claim agrees
    await worker.cancel(b)
    assert (await worker.get(b).result(timeout=30)).status == "cancelled"
    await _until(lambda: _idle(worker, b))
    assert await worker.recover() == [a]
    assert await _live(client) == [a]


async def test_redteam10_timer_resume_ignores_tenant_cap(any_store_url: str) -> None:
    async with (
        Runtime(any_store_url, agents=AGENTS, tenant_concurrency=1, recover=False) as worker,
        Runtime(any_store_url, agents=AGENTS, worker=False) as client,
    ):
        a, b = await _parked_and_busy(worker, client, expiring)
        await asyncio.sleep(EXPIRY + 0.2)
        assert await worker.fire_timers() == [a]
        assert await _decisions(client, a) == 1  # the expiry is recorded, once
        await _waits_for_a_claim(worker, client, a, b)
        assert await _decisions(client, a) == 1


async def test_redteam10_approval_on_a_worker_keeps_the_tenant_cap(any_store_url: str) -> None:
    async with (
        Runtime(any_store_url, agents=AGENTS, tenant_concurrency=1, recover=False) as worker,
        Runtime(any_store_url, agents=AGENTS, worker=False) as client,
    ):
        a, b = await _parked_and_busy(worker, client, asking)
        pending = (await client.load_state(a)).pending_approvals
        await worker.approve(a, pending[0].request.approval_id, by="ops")
        assert await _decisions(client, a) == 1
        await _waits_for_a_claim(worker, client, a, b)
        assert await _decisions(client, a) == 1


async def test_redteam10_timer_resume_keeps_the_worker_concurrency(store_url: str) -> None:
    async with (
        Runtime(store_url, agents=AGENTS, concurrency=1, recover=False) as worker,
        Runtime(store_url, agents=AGENTS, worker=False) as client,
    ):
        a, b = await _parked_and_busy(worker, client, expiring)
        await asyncio.sleep(EXPIRY + 0.2)
        assert await worker.fire_timers() == [a]
        assert worker.active_runs == {b}
        record = await client.get_run(a)
        assert record is not None and record.status == "running" and record.lease_owner is None
        await worker.cancel(b)
        assert (await worker.get(b).result(timeout=30)).status == "cancelled"
        await _until(lambda: _idle(worker, b))  # its driver gone: the slot is free
        assert await worker.recover() == [a]
