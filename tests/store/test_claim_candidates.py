"""``Store.claim_candidates``: each tenant's oldest claimable runs, and each tenant's load
(red team 5, holes 3 and 6), the same in every backend and in the base class's default."""

from __future__ import annotations

import time

from _records import event_rows

from tether.store import RunRecord, Store


def _record(
    run_id: str,
    created_at: float,
    *,
    tenant: str | None,
    agent: str = "served",
    status: str = "pending",
    owner: str | None = None,
    expires: float | None = None,
) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        agent=agent,
        agent_version="v1",
        status=status,
        created_at=created_at,
        updated_at=created_at,
        tenant=tenant,
        lease_owner=owner,
        lease_expires_at=expires,
    )


async def _fill(store: Store) -> None:
    now = time.time()
    t0 = now - 1000
    runs = [_record(f"b{i}", t0 + i, tenant="b") for i in range(3)]  # the oldest
    runs += [_record(f"a{i:04d}", t0 + 10 + i * 0.01, tenant="a") for i in range(1200)]
    runs += [_record(f"n{i}", t0 + 5 + i, tenant=None) for i in range(2)]
    runs += [
        _record("x-foreign", t0 - 10, tenant="b", agent="elsewhere"),  # not served
        _record("x-done", t0 - 9, tenant="b", status="completed"),
        _record("x-waiting", t0 - 8, tenant="b", status="waiting"),
        _record("x-live-a", t0 - 7, tenant="a", status="running", owner="w", expires=now + 60),
        _record("x-live-b", t0 - 6, tenant="b", owner="w", expires=now + 60),
        _record("x-live-other", t0 - 6, tenant="b", agent="elsewhere", owner="w", expires=now + 60),
        _record("x-expired", t0 - 5, tenant="c", status="running", owner="w", expires=now - 60),
    ]
    for record in runs:
        await store.create_run(record, event_rows(1, 1))


async def _check(store: Store) -> None:
    found, executing = await store.claim_candidates(agents=["served"], per_tenant=5)
    by_tenant: dict[str | None, list[str]] = {}
    for record in found:
        by_tenant.setdefault(record.tenant, []).append(record.run_id)
    assert by_tenant == {
        "b": ["b0", "b1", "b2"],
        "a": [f"a{i:04d}" for i in range(5)],
        None: ["n0", "n1"],
        "c": ["x-expired"],  # its lease expired: claimable
    }
    assert executing == {"a": 1, "b": 2}  # live leases of any agent count as load
    none, _ = await store.claim_candidates(agents=[], per_tenant=5)
    assert none == []


async def test_each_tenants_oldest_claimable_runs_and_the_load(store: Store) -> None:
    await _fill(store)
    await _check(store)


async def test_the_base_class_default_agrees(store: Store) -> None:
    await _fill(store)
    found, executing = await Store.claim_candidates(store, agents=["served"], per_tenant=5)
    ours, counts = await store.claim_candidates(agents=["served"], per_tenant=5)
    assert sorted(r.run_id for r in found) == sorted(r.run_id for r in ours)
    assert executing == counts
