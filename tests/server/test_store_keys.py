"""What the HTTP API needs from the store: hashed API keys, idempotency keys that one
claimant wins, and run listings by tenant, time and cursor."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tether.store import (
    EventRow,
    RunRecord,
    Store,
    api_key_id,
    hash_api_key,
    new_api_key,
    open_store,
)


@pytest.fixture
async def store(any_store_url: str) -> AsyncIterator[Store]:
    """An opened, empty store of each backend under test (``TETHER_TEST_STORES``)."""
    backend = open_store(any_store_url)
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()


async def test_keys_are_stored_hashed_and_revocable(store: Store) -> None:
    record, key = new_api_key("acme", ["runs:read", "runs:read", " runs:write "], label="ops")
    assert record.scopes == ("runs:read", "runs:write")
    assert api_key_id(key) == record.key_id and record.secret_hash == hash_api_key(key)
    await store.create_api_key(record)
    stored = await store.get_api_key(record.key_id)
    assert stored == record and stored.matches(key) and not stored.revoked
    assert not stored.matches(key + "x")
    assert [k.key_id for k in await store.list_api_keys(tenant="acme")] == [record.key_id]
    assert await store.list_api_keys(tenant="globex") == []
    assert await store.revoke_api_key(record.key_id)
    assert await store.revoke_api_key(record.key_id)  # twice is fine
    assert not await store.revoke_api_key("nope")
    revoked = await store.get_api_key(record.key_id)
    assert revoked is not None and revoked.revoked


async def test_a_sqlite_store_holds_no_key_in_any_file(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/keys.db")
    await store.open()
    record, key = new_api_key("acme", ["runs:read"])
    await store.create_api_key(record)
    await store.close()
    raw = _all_bytes(tmp_path)
    secret = key.split("_", 2)[2]  # tk_<key_id>_<secret>; the secret may hold "_" itself
    assert key.encode() not in raw and secret.encode() not in raw
    assert record.secret_hash.encode() in raw


def _all_bytes(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in folder.iterdir())


@pytest.mark.parametrize("bad", [[], ["root"], ["runs:read", "all"]])
def test_new_keys_need_known_scopes(bad: list[str]) -> None:
    with pytest.raises(ValueError, match="scope"):
        new_api_key("acme", bad)


@pytest.mark.parametrize("presented", ["", "tk__x", "tk_abc_", "Bearer tk_a_b", "xx_abc_def"])
def test_malformed_keys_have_no_id(presented: str) -> None:
    assert api_key_id(presented) is None


async def test_concurrent_claims_of_one_idempotency_key_have_one_winner(store: Store) -> None:
    claims = await asyncio.gather(
        *(store.claim_idempotency_key("acme", "k", f"run_{i}", "h") for i in range(20))
    )
    assert len(set(claims)) == 1
    winner = claims[0][0]
    assert await store.claim_idempotency_key("globex", "k", "run_x", "h") == ("run_x", "h")
    await store.release_idempotency_key("acme", "k", "someone_else")  # not theirs: kept
    assert await store.claim_idempotency_key("acme", "k", "run_y", "h") == (winner, "h")
    await store.release_idempotency_key("acme", "k", winner)
    assert await store.claim_idempotency_key("acme", "k", "run_y", "h2") == ("run_y", "h2")


def _run(run_id: str, tenant: str | None, created_at: float) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        agent="a",
        agent_version="v",
        status="completed",
        created_at=created_at,
        updated_at=created_at,
        tenant=tenant,
    )


async def test_list_runs_by_tenant_time_and_cursor(store: Store) -> None:
    base = time.time()
    for i in range(7):
        tenant = "acme" if i % 2 == 0 else "globex"
        row = EventRow(1, 0, base + i, "x", b"{}")
        await store.create_run(_run(f"r{i}", tenant, base + i), [row])
    # Two runs created at the same instant: the cursor still separates them.
    await store.create_run(_run("r7a", "acme", base + 7), [EventRow(1, 0, base, "x", b"{}")])
    await store.create_run(_run("r7b", "acme", base + 7), [EventRow(1, 0, base, "x", b"{}")])

    everything = [r.run_id for r in await store.list_runs(limit=100)]
    assert everything == ["r7b", "r7a", "r6", "r5", "r4", "r3", "r2", "r1", "r0"]
    acme = [r.run_id for r in await store.list_runs(tenant="acme", limit=100)]
    assert acme == ["r7b", "r7a", "r6", "r4", "r2", "r0"]
    window = await store.list_runs(since=base + 2, until=base + 5, limit=100)
    assert [r.run_id for r in window] == ["r4", "r3", "r2"]
    pages, cursor = [], None
    while True:
        page = await store.list_runs(tenant="acme", limit=2, cursor=cursor)
        if not page:
            break
        pages.append([r.run_id for r in page])
        cursor = (page[-1].created_at, page[-1].run_id)
    assert pages == [["r7b", "r7a"], ["r6", "r4"], ["r2", "r0"]]


async def test_sqlite_lists_a_tenants_runs_by_index(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/keys.db")
    await store.open()  # migrates
    await store.close()
    with sqlite3.connect(tmp_path / "keys.db") as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT run_id FROM runs WHERE tenant = ? "
            "ORDER BY created_at DESC LIMIT 5",
            ("acme",),
        ).fetchall()
    assert any("runs_by_tenant" in str(step) for step in plan), plan


async def test_a_stale_idempotency_key_is_taken_over_and_then_never_released(
    store: Store,
) -> None:
    await store.claim_idempotency_key("acme", "k", "run_a", "h")
    assert await store.take_over_idempotency_key("acme", "k", "run_a", stale_after=3600) == (
        "recent"
    )
    assert await store.take_over_idempotency_key("acme", "k", "run_b", stale_after=0) == "gone"
    assert await store.take_over_idempotency_key("acme", "k", "run_a", stale_after=0) == "taken"
    # Taken over just now: a second taker that wants a stale claim finds it recent.
    assert await store.take_over_idempotency_key("acme", "k", "run_a", stale_after=3600) == (
        "recent"
    )
    # The first request's late release cannot free it: the taker may be creating run_a.
    await store.release_idempotency_key("acme", "k", "run_a")
    assert await store.claim_idempotency_key("acme", "k", "run_c", "h") == ("run_a", "h")
    # A key never taken over is released as before, and is then gone for a taker.
    await store.claim_idempotency_key("acme", "k2", "run_d", "h")
    await store.release_idempotency_key("acme", "k2", "run_d")
    assert await store.take_over_idempotency_key("acme", "k2", "run_d", stale_after=0) == "gone"
