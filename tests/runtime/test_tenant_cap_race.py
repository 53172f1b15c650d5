"""The fleet-wide tenant cap holds when two workers' claim passes overlap (red team 5,
hole 4).

The cap used to be checked only against each worker's own snapshot of the store. Two
workers serving different agents of one tenant (a normal split) both saw the tenant
under its cap, and both took a run: ``tenant_concurrency=1`` let two execute at once.
Now the count is made again when the lease is taken, in the same transaction.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from tether import Runtime

sys.path.insert(0, str(Path(__file__).parent))
from slow_agents import slow_agent

ag_x = slow_agent("x")
ag_y = slow_agent("y")


def _gate_leases(workers: list[Runtime]) -> None:
    """Hold each worker just before it takes its leases until both have decided what to
    claim (whichever lease method the runtime calls)."""
    arrived = 0
    both = asyncio.Event()
    for w in workers:
        for name in ("acquire_leases", "acquire_leases_capped"):
            real = getattr(w.store, name, None)
            if real is None:
                continue

            async def gated(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
                nonlocal arrived
                arrived += 1
                if arrived >= 2:
                    both.set()
                await asyncio.wait_for(both.wait(), 30)
                return await _real(*args, **kwargs)

            setattr(w.store, name, gated)


async def test_overlapping_claim_passes_of_two_workers_keep_the_tenant_cap(
    store_url: str,
) -> None:
    async with Runtime(store_url, worker=False) as client:
        await client.start(ag_x, "x1", tenant="acme")
        await client.start(ag_y, "y1", tenant="acme")
    w1 = Runtime(store_url, agents=[ag_x], tenant_concurrency=1, recover=False)
    w2 = Runtime(store_url, agents=[ag_y], tenant_concurrency=1, recover=False)
    async with w1, w2, Runtime(store_url, worker=False) as client:
        _gate_leases([w1, w2])
        got = await asyncio.gather(w1.recover(), w2.recover())
        assert sorted(len(g) for g in got) == [0, 1]
        runs = await client.list_runs(tenant="acme", limit=10)
        live = [r for r in runs if r.status in ("pending", "running") and r.lease_owner]
        assert len(live) == 1


async def test_a_tenant_cap_per_tenant_leaves_other_tenants_uncapped(store_url: str) -> None:
    async with Runtime(store_url, worker=False) as client:
        for i in range(3):
            await client.start(ag_x, f"a{i}", tenant="acme")
            await client.start(ag_x, f"b{i}", tenant="beta")
    async with Runtime(
        store_url, agents=[ag_x], tenant_concurrency={"acme": 1}, recover=False
    ) as worker:
        claimed = await worker.recover()
        records = [await worker.get_run(run_id) for run_id in claimed]
        tenants = sorted(r.tenant or "" for r in records if r is not None)
    assert tenants == ["acme", "beta", "beta", "beta"]


async def test_start_on_a_worker_keeps_the_tenant_cap(store_url: str) -> None:
    """``start`` on a worker counts the tenant's runs across the fleet before driving one.

    It drove every run it started at once when it had a free slot: with
    ``tenant_concurrency=1`` three starts executed three runs. Now the first is driven,
    the others wait unleased for a claim pass (another tenant is not held back), and none
    waits on this process's own claim passes racing its start.
    """
    async with Runtime(store_url, agents=[ag_x], tenant_concurrency=1) as worker:
        acme = [(await worker.start(ag_x, f"a{i}", tenant="acme")).run_id for i in range(3)]
        beta = (await worker.start(ag_x, "b0", tenant="beta")).run_id
        await worker.recover()  # a claim pass: the cap holds there too
        records = {r: await worker.get_run(r) for r in [*acme, beta]}
        leased = [r for r in acme if (rec := records[r]) is not None and rec.lease_owner]
        assert leased == acme[:1]
        beta_record = records[beta]
        assert beta_record is not None and beta_record.lease_owner == worker.owner
        for run_id in acme[1:]:
            record = records[run_id]
            assert record is not None and record.status == "pending"
        await worker.cancel(acme[0])
        assert (await worker.get(acme[0]).result(timeout=30)).status == "cancelled"
        await worker.recover()  # the tenant's slot is free: one more of its runs goes
        live = [
            r.run_id
            for r in await worker.list_runs(tenant="acme", statuses=["pending", "running"])
            if r.lease_owner is not None
        ]
        assert len(live) == 1 and live[0] in acme[1:]
