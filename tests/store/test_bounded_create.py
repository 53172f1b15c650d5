"""Bounded run creation: ``max_pending`` backpressure a burst cannot overrun (red team 5,
hole 2).

The runtime used to count the waiting runs, then insert: concurrent starts all passed
the count before any of them inserted, so a burst of 50 with ``max_pending=5`` queued
all 50. ``Store.create_run_bounded`` makes the count and the insert one step, in one
transaction in every backend (across processes too: here, two store objects on one
database).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from _records import event_rows, run_record

from tether.exceptions import RunQueueFullError
from tether.store import Store, open_store

LIMIT, BURST = 5, 40


async def _bounded(store: Store, run_id: str, *, owner: str | None = None) -> bool:
    try:
        await store.create_run_bounded(
            run_record(run_id, status="pending", owner=owner),
            event_rows(1, 1),
            max_waiting=LIMIT,
        )
    except RunQueueFullError as exc:
        assert (exc.pending, exc.limit) == (LIMIT, LIMIT)
        return False
    return True


async def test_a_concurrent_burst_queues_no_more_than_the_bound(store: Store) -> None:
    accepted = await asyncio.gather(*(_bounded(store, f"r{i}") for i in range(BURST)))
    assert sum(accepted) == LIMIT
    assert await store.count_waiting(limit=1000) == LIMIT
    assert len(await store.list_runs(statuses=["pending"], limit=1000)) == LIMIT


async def test_two_connections_bursting_at_once_share_one_bound(
    store: Store, any_store_url: str
) -> None:
    """Another store object on the same database (as another process would open it)."""
    other = open_store(any_store_url)
    await other.open()
    try:
        accepted = await asyncio.gather(
            *(_bounded(store if i % 2 else other, f"r{i}") for i in range(BURST))
        )
    finally:
        await other.close()
    assert sum(accepted) == LIMIT
    assert await store.count_waiting(limit=1000) == LIMIT


async def test_only_runs_waiting_for_a_worker_count(store: Store) -> None:
    """A pending run some worker holds a live lease on is starting, not waiting; running
    and finished runs do not count either."""
    for i in range(LIMIT - 1):
        assert await _bounded(store, f"w{i}")
    for i in range(3):
        assert await _bounded(store, f"leased{i}", owner="worker-1")  # leased: not waiting
        await store.create_run(run_record(f"busy{i}", status="running"), event_rows(1, 1))
    assert await store.count_waiting(limit=1000) == LIMIT - 1
    assert await _bounded(store, "last")
    assert not await _bounded(store, "one-too-many")
    assert await store.get_run("one-too-many") is None  # refused: nothing written


async def test_the_default_for_other_backends_counts_then_creates_under_a_lock(
    store: Store,
) -> None:
    """A backend that does not override it still holds the bound within one process."""
    accepted = await asyncio.gather(
        *(
            Store.create_run_bounded(
                store,
                run_record(f"d{i}", status="pending"),
                event_rows(1, 1),
                max_waiting=LIMIT,
            )
            for i in range(BURST)
        ),
        return_exceptions=True,
    )
    assert sum(1 for a in accepted if a is None) == LIMIT
    assert all(isinstance(a, RunQueueFullError) for a in accepted if a is not None)
    with pytest.raises(RunQueueFullError):
        await store.create_run_bounded(
            run_record("late", status="pending"), event_rows(1, 1), max_waiting=LIMIT
        )


async def test_tenant_queue_counts_a_tenant_s_waiting_runs_and_the_tenants_waiting(
    store: Store,
) -> None:
    """What a full queue's fair share is computed from, the same in every backend and in
    the default (a scan of the pending runs) that other backends inherit."""
    for run_id, tenant, status, owner in [
        ("a1", "acme", "pending", None),
        ("a2", "acme", "pending", None),
        ("a3", "acme", "pending", "worker-1"),  # leased: starting, not waiting
        ("a4", "acme", "running", None),
        ("g1", "globex", "pending", None),
        ("n1", None, "pending", None),
        ("x1", "initech", "completed", None),
    ]:
        record = replace(run_record(run_id, status=status, owner=owner), tenant=tenant)
        await store.create_run(record, event_rows(1, 1))
    for tenant, expected in [("acme", (2, 3)), ("globex", (1, 3)), (None, (1, 3)), ("x", (0, 3))]:
        assert await store.tenant_queue(tenant, limit=100) == expected
        assert await Store.tenant_queue(store, tenant, limit=100) == expected
    assert await store.tenant_queue("acme", limit=1) == (1, 3)  # counted up to the limit
    assert await Store.tenant_queue(store, "acme", limit=1) == (1, 3)
