"""A claim pass that loses races for runs goes on down the list and fills its free slots.

Workers that scan at once see the same runs in the same fair order. One that finds the
first runs of that order already taken by a quicker worker must claim the next ones,
not idle with free slots until its next pass (after a fleet restart, every worker
starts at once and most of them lose most races).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from tether import Runtime
from tether.store import open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
import fleet_agents


def test_a_worker_that_loses_the_first_races_of_a_pass_claims_the_next_runs(
    store_url: str,
) -> None:
    async def main() -> None:
        async with Runtime(store_url, worker=False) as client:
            for i in range(6):
                await client.start(fleet_agents.quick, f"q{i}")
        store = open_store(store_url)
        real_acquire, real_batch = store.acquire_lease, store.acquire_leases
        rivals: list[str] = []

        async def rival_first(run_ids: Sequence[str], owner: str, ttl: float) -> list[str]:
            for run_id in run_ids:
                if len(rivals) < 3:  # a quicker worker leases the first three just before
                    assert await real_acquire(run_id, "rival", 30.0)
                    rivals.append(run_id)
            return await real_batch(run_ids, owner, ttl)

        store.acquire_leases = rival_first  # type: ignore[method-assign]
        async with Runtime(store, agents=[fleet_agents.quick], concurrency=3, recover=False) as rt:
            claimed = await rt.recover()
            assert len(rivals) == 3
            assert len(claimed) == 3, claimed  # the three runs after the lost ones
            assert not set(claimed) & set(rivals)
            for run_id in claimed:
                assert (await rt.get(run_id).result(timeout=60)).status == "completed"

    asyncio.run(main())
