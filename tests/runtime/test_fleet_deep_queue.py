"""Claim passes choose from every tenant's oldest runs, however long the queue (red team 5,
holes 3 and 6).

A claim pass used to look at the newest 1,000 live runs only and top up its free slots
with ``claim_orphans()``, which knows nothing of tenant caps, priorities, fair share or
the agents a worker serves: past 1,000 queued runs a tenant capped at 1 got a whole
worker's concurrency, and a tenant flooding the queue hid an older tenant's runs.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tether import Runtime

sys.path.insert(0, str(Path(__file__).parent))
from slow_agents import slow_agent

WINDOW = 1000  # the old scan window; the queues below are longer


slow = slow_agent("slow")
other = slow_agent("other")


async def test_the_tenant_cap_holds_past_a_thousand_queued_runs(store_url: str) -> None:
    async with Runtime(store_url, worker=False) as client:
        await asyncio.gather(
            *(client.start(slow, f"r{i}", tenant="acme") for i in range(WINDOW + 10))
        )
        # The oldest runs belong to an agent this worker does not serve.
        async with Runtime(
            store_url, agents=[slow], concurrency=8, tenant_concurrency=1, recover=False
        ) as worker:
            claimed = await worker.recover()
            assert len(claimed) == 1
            assert await worker.recover() == []  # the tenant is at its cap
            runs = await client.list_runs(
                tenant="acme", statuses=["pending", "running"], limit=2000
            )
            assert sum(1 for r in runs if r.lease_owner is not None) == 1


async def test_a_worker_claims_no_run_of_an_agent_it_does_not_serve(store_url: str) -> None:
    async with Runtime(store_url, worker=False) as client:
        foreign = [(await client.start(other, f"o{i}")).run_id for i in range(3)]
        await asyncio.gather(*(client.start(slow, f"r{i}") for i in range(WINDOW + 10)))
        async with Runtime(store_url, agents=[slow], concurrency=8, recover=False) as worker:
            claimed = await worker.recover()
            assert len(claimed) == 8
            assert not set(claimed) & set(foreign)
            for run_id in foreign:
                record = await client.get_run(run_id)
                assert record is not None and record.lease_owner is None


async def test_a_flooding_tenant_does_not_hide_an_older_tenants_runs(store_url: str) -> None:
    """Tenant B queues 3 runs, then A floods more than a thousand: the first claim pass
    takes B's 3 beside 3 of A's (fair share, round-robin), not only A's newest."""
    async with Runtime(store_url, worker=False) as client:
        b = [(await client.start(slow, f"b{i}", tenant="b")).run_id for i in range(3)]
        await asyncio.sleep(0.01)
        await asyncio.gather(
            *(client.start(slow, f"a{i}", tenant="a") for i in range(WINDOW + 100))
        )
        async with Runtime(store_url, agents=[slow], concurrency=6, recover=False) as worker:
            claimed = await worker.recover()
    assert len(claimed) == 6
    assert set(b) <= set(claimed)
