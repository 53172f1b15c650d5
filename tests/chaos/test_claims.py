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
from typing import Any

from tether import Runtime
from tether.exceptions import StoreError
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


def test_a_claim_pass_whose_log_read_fails_gives_the_runs_back(store_url: str) -> None:
    """The store fails while a pass reads the logs of runs it just leased: the pass ends
    without error, the leases are given back (another worker need not wait out the
    TTL), and a later pass takes the runs up."""

    async def main() -> None:
        async with Runtime(store_url, worker=False) as client:
            run_ids = [(await client.start(fleet_agents.quick, f"q{i}")).run_id for i in range(3)]
        store = open_store(store_url)
        real_load = store.load_logs
        failures: list[int] = []

        async def flaky(ids: Sequence[str], *, upto_seq: int | None = None) -> Any:
            if upto_seq is None and not failures:  # the claim's read, not the priorities'
                failures.append(len(ids))
                raise StoreError("injected: the store went away", transient=True)
            return await real_load(ids, upto_seq=upto_seq)

        store.load_logs = flaky  # type: ignore[method-assign]
        async with Runtime(store, agents=[fleet_agents.quick], recover=False, lease_ttl=0.5) as rt:
            assert await rt.recover() == []
            assert failures == [3]
            held = [(await store.get_run(r)).lease_owner for r in run_ids]  # type: ignore[union-attr]
            assert held == [None, None, None]  # given back, not left to expire
            await asyncio.sleep(0.6)  # the failed pass leaves them alone for one TTL
            assert sorted(await rt.recover()) == sorted(run_ids)
            for run_id in run_ids:
                assert (await rt.get(run_id).result(timeout=60)).status == "completed"

    asyncio.run(main())
