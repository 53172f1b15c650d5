"""A tenant flooding the queue does not keep the other tenants out (red team 15, hole 10).

``max_pending`` bounds one queue shared by every tenant, so a tenant that filled it got
every other tenant's very first start refused (a 429 over HTTP), although fair-share
claiming would have run that start next. A full queue now still admits a tenant's first
waiting run: the queue is bounded by ``max_pending`` plus the tenants with a run waiting,
and the flooding tenant is still refused.
"""

from __future__ import annotations

import asyncio

import pytest

from tether import Agent, Runtime
from tether.exceptions import RunQueueFullError
from tether.testing import ScriptedModel, text

quick = Agent(name="quick", model=ScriptedModel(lambda req: text("done")), max_turns=2)
MAX = 3


async def _try(client: Runtime, tenant: str | None, i: int) -> bool:
    """Whether the start was admitted."""
    try:
        await client.start(quick, f"{tenant} {i}", tenant=tenant)
    except RunQueueFullError:
        return False
    return True


async def test_a_flooded_queue_still_admits_another_tenant_s_first_run(any_store_url: str) -> None:
    async with Runtime(any_store_url, worker=False, max_pending=MAX) as client:
        for i in range(MAX):
            assert await _try(client, "flood", i)
        with pytest.raises(RunQueueFullError):
            await client.start(quick, "one more", tenant="flood")
        # The quiet tenants' first runs get in; their second ones wait their turn.
        assert await _try(client, "quiet", 0)
        assert not await _try(client, "quiet", 1)
        assert await _try(client, None, 0)  # runs without a tenant are a tenant too
        assert not await _try(client, None, 1)
        assert not await _try(client, "flood", MAX + 1)
        queued = await client.list_runs(statuses=["pending"], limit=100)
    assert sorted((r.tenant or "") for r in queued) == ["", "flood", "flood", "flood", "quiet"]


async def test_a_burst_of_one_tenant_s_first_starts_admits_one(any_store_url: str) -> None:
    async with Runtime(any_store_url, worker=False, max_pending=MAX) as client:
        for i in range(MAX):
            assert await _try(client, "flood", i)
        admitted = await asyncio.gather(*(_try(client, "quiet", i) for i in range(20)))
        queued = await client.list_runs(statuses=["pending"], limit=100)
    assert sum(admitted) == 1
    assert sum(r.tenant == "quiet" for r in queued) == 1
