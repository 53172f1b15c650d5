"""A tenant flooding the queue keeps the other tenants neither out nor to one place.

``max_pending`` bounds one queue shared by every tenant. Red team 15 (hole 10): a tenant
that filled it got every other tenant's very first start refused (a 429 over HTTP).
Red team 16 (hole 5): the fix admitted only each other tenant's *first* waiting run, so a
noisy tenant still held every other tenant to one queued run. A full queue now admits a
tenant's runs while it is below its fair share (``max_pending`` divided among the tenants
with a run waiting, rounded up), up to twice ``max_pending`` in all; the flooding tenant
is refused.
"""

from __future__ import annotations

import asyncio

import pytest

from tether import Agent, Runtime
from tether.exceptions import RunQueueFullError
from tether.store import fair_share
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


def test_fair_share_divides_the_queue_among_the_tenants_waiting() -> None:
    assert fair_share(10, mine=0, tenants=1) == 5  # one other tenant waits: half each
    assert fair_share(10, mine=4, tenants=2) == 5  # this tenant already counted
    assert fair_share(3, mine=0, tenants=1) == 2  # rounded up
    assert fair_share(3, mine=0, tenants=5) == 1  # never below one place
    assert fair_share(10, mine=10, tenants=1) == 10  # alone: the whole queue


async def test_a_flooded_queue_admits_other_tenants_up_to_their_share(any_store_url: str) -> None:
    async with Runtime(any_store_url, worker=False, max_pending=MAX) as client:
        for i in range(MAX):
            assert await _try(client, "flood", i)
        with pytest.raises(RunQueueFullError):
            await client.start(quick, "one more", tenant="flood")
        # Two tenants wait: each may hold ceil(3 / 2) = 2 runs of a full queue.
        assert await _try(client, "quiet", 0)
        assert await _try(client, "quiet", 1)
        assert not await _try(client, "quiet", 2)
        # Three tenants wait: ceil(3 / 3) = 1 (runs without a tenant are a tenant too).
        assert await _try(client, None, 0)
        assert not await _try(client, None, 1)
        assert not await _try(client, "flood", MAX + 1)
        queued = await client.list_runs(statuses=["pending"], limit=100)
    assert sorted((r.tenant or "") for r in queued) == [
        "",
        "flood",
        "flood",
        "flood",
        "quiet",
        "quiet",
    ]


async def test_a_noisy_tenant_does_not_hold_another_to_one_place(any_store_url: str) -> None:
    # Red team 16's case at a realistic size: the noisy tenant fills the queue of 10.
    async with Runtime(any_store_url, worker=False, max_pending=10) as client:
        for i in range(10):
            assert await _try(client, "noisy", i)
        admitted = [await _try(client, "acme", i) for i in range(8)]
        assert not await _try(client, "noisy", 10)
    assert admitted == [True] * 5 + [False] * 3


async def test_a_burst_of_one_tenant_s_starts_admits_its_share(any_store_url: str) -> None:
    async with Runtime(any_store_url, worker=False, max_pending=MAX) as client:
        for i in range(MAX):
            assert await _try(client, "flood", i)
        admitted = await asyncio.gather(*(_try(client, "quiet", i) for i in range(20)))
        queued = await client.list_runs(statuses=["pending"], limit=100)
    assert sum(admitted) == 2
    assert sum(r.tenant == "quiet" for r in queued) == 2


async def test_many_tenants_never_take_the_queue_past_twice_its_bound(any_store_url: str) -> None:
    async with Runtime(any_store_url, worker=False, max_pending=MAX) as client:
        admitted = [await _try(client, f"t{i}", 0) for i in range(3 * MAX)]
        queued = await client.list_runs(statuses=["pending"], limit=100)
    assert sum(admitted) == len(queued) == 2 * MAX
