"""``Store.acquire_leases_capped``: a tenant's cap is checked when the lease is taken (red
team 5, hole 4), in the same transaction, so overlapping claims cannot exceed it."""

from __future__ import annotations

import asyncio
import time

from _records import event_rows

from tether.store import RunRecord, Store, open_store


def _record(run_id: str, tenant: str | None, *, owner: str | None = None) -> RunRecord:
    now = time.time()
    return RunRecord(
        run_id=run_id,
        agent="agent",
        agent_version="v1",
        status="pending",
        created_at=now,
        updated_at=now,
        tenant=tenant,
        lease_owner=owner,
        lease_expires_at=now + 60 if owner else None,
    )


async def _fill(store: Store) -> None:
    for tenant, count in (("acme", 4), ("beta", 3), (None, 3)):
        for i in range(count):
            await store.create_run(_record(f"{tenant}-{i}", tenant), event_rows(1, 1))
    await store.create_run(_record("acme-live", "acme", owner="other"), event_rows(1, 1))


async def _capped(store: Store) -> None:
    ids = ["acme-0", "beta-0", "acme-1", "None-0", "acme-2", "beta-1", "None-1", "None-2"]
    leased = await store.acquire_leases_capped(
        ids, "me", 30, caps={"acme": 2, None: 2, "unused": 1}
    )
    # acme: one live lease already, so one more; no cap on beta; two without a tenant.
    assert leased == ["acme-0", "beta-0", "None-0", "beta-1", "None-1"]
    again = await store.acquire_leases_capped(["acme-0", "acme-3"], "me", 30, caps={"acme": 2})
    assert again == ["acme-0"]  # renewing its own lease takes no new place
    assert await store.acquire_leases_capped(["missing"], "me", 30, caps={"acme": 2}) == []
    assert await store.acquire_leases_capped([], "me", 30, caps={"acme": 2}) == []


async def test_leases_stop_at_each_tenants_cap(store: Store) -> None:
    await _fill(store)
    await _capped(store)


async def test_the_base_class_default_stops_at_the_cap_too(store: Store) -> None:
    await _fill(store)

    class Default:
        def __getattr__(self, name: str) -> object:
            return getattr(store, name)

    view = Default()
    leased = await Store.acquire_leases_capped(
        view,  # type: ignore[arg-type]  # the default's code over this backend's primitives
        ["acme-0", "beta-0", "acme-1", "None-0", "acme-2"],
        "me",
        30,
        caps={"acme": 2, None: 1},
    )
    assert leased == ["acme-0", "beta-0", "None-0"]


async def test_overlapping_claims_from_two_connections_never_exceed_a_cap(
    store: Store, any_store_url: str
) -> None:
    """Eight claimers on two store objects (as two processes would open them), each asking
    for different runs of one tenant capped at 3, all at once."""
    for i in range(16):
        await store.create_run(_record(f"acme-{i}", "acme"), event_rows(1, 1))
    other = open_store(any_store_url)
    await other.open()
    try:
        results = await asyncio.gather(
            *(
                (store if k % 2 else other).acquire_leases_capped(
                    [f"acme-{2 * k}", f"acme-{2 * k + 1}"], f"worker-{k}", 30, caps={"acme": 3}
                )
                for k in range(8)
            )
        )
    finally:
        await other.close()
    assert sum(len(r) for r in results) == 3
    live = [r for r in await store.list_runs(tenant="acme", limit=100) if r.lease_owner]
    assert len(live) == 3
