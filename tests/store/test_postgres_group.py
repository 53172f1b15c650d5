"""Group commit on Postgres: appends made while a transaction is in flight share the next.

Each append in a group is still checked on its own (the log ends where its writer
expects, the writer holds the lease): one that fails gets the error a lone append would
get, and its neighbours land. A real cluster (``tests/_postgres.py``), a fresh database
per test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from _records import event_rows, run_record  # tests/store/_records.py

from tether.exceptions import (
    ConcurrentWriteError,
    LeaseLostError,
    RunNotFoundError,
    StoreError,
)
from tether.store import RunUpdate, open_store, verify_chain
from tether.store._postgres import PostgresStore

pytestmark = pytest.mark.postgres


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[PostgresStore]:
    opened = open_store(postgres_url)
    assert isinstance(opened, PostgresStore)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def test_many_concurrent_appends_share_few_transactions(store: PostgresStore) -> None:
    """300 runs appending at once: every append lands, in far fewer transactions."""
    runs = [f"g{i}" for i in range(300)]
    for run_id in runs:
        await store.create_run(run_record(run_id, owner="W"), event_rows(1, 1))
    commits, writes = store.commit_count, store.write_count
    for step in range(3):
        await asyncio.gather(
            *(store.append(r, event_rows(2 + 2 * step, 2), owner="W") for r in runs)
        )
    assert store.write_count - writes == 900
    # One lone append, then the rest queued behind it: a handful per round, not 300.
    assert store.commit_count - commits <= 3 * 6
    for run_id in runs[::37]:
        chain = await store.load_event_chain(run_id)
        assert chain is not None and chain.last_seq == 7
        assert [r.seq for r in chain.rows] == list(range(1, 8))
        assert verify_chain(run_id, chain.rows, chain.last_seq).ok
    record = await store.get_run(runs[-1])
    assert record is not None and record.last_seq == 7


async def test_one_bad_append_in_a_group_fails_alone_with_its_own_reason(
    store: PostgresStore,
) -> None:
    """In one group: a moved log, a lost lease and an unknown run each fail as a lone
    append would; the good appends around them land, with their status updates."""
    for run_id in ("ok1", "ok2", "moved", "stolen"):
        await store.create_run(run_record(run_id, owner="W"), event_rows(1, 2))
    assert await store.acquire_lease("stolen", "W", ttl=30)
    # Another worker takes "stolen" (its lease is forced to expire first).
    await store.renew_leases("W", ["stolen"], ttl=-1)
    other = PostgresStore(store.url)
    await other.open()
    try:
        assert await other.acquire_lease("stolen", "B", ttl=30)
    finally:
        await other.close()
    commits = store.commit_count
    # Made in one go, the five appends are queued before the first transaction starts:
    # they form one group.
    results = await asyncio.gather(
        store.append("ok1", event_rows(3, 1), owner="W"),
        store.append("ok2", event_rows(3, 2), RunUpdate(status="completed"), owner="W"),
        store.append("moved", event_rows(5, 1), owner="W"),  # the log ends at 2, not 4
        store.append("stolen", event_rows(3, 1), owner="W"),
        store.append("ghost", event_rows(3, 1), owner="W"),
        return_exceptions=True,
    )
    assert store.commit_count - commits == 1
    ok1, ok2, moved, stolen, ghost = results
    assert ok1 is None
    assert ok2 is None
    assert isinstance(moved, ConcurrentWriteError)
    assert moved.context.get("actual") == 2
    assert isinstance(stolen, LeaseLostError)
    assert stolen.context["holder"] == "B"
    assert isinstance(ghost, RunNotFoundError)
    record = await store.get_run("ok2")
    assert record is not None and (record.status, record.last_seq) == ("completed", 4)
    for run_id, last in (("ok1", 3), ("moved", 2), ("stolen", 2)):
        assert [r.seq for r in await store.load_events(run_id)] == list(range(1, last + 1))


async def test_a_group_that_fails_on_one_append_retries_the_others_alone(
    store: PostgresStore,
) -> None:
    """An event the database rejects (a NUL in its type) fails its own append; the
    group falls back to one transaction per append and the rest land."""
    for run_id in ("a", "b", "c"):
        await store.create_run(run_record(run_id), event_rows(1, 1))
    commits = store.commit_count
    results = await asyncio.gather(
        store.append("a", event_rows(2, 1)),
        store.append("b", event_rows(2, 1, kind="bad\x00type")),
        store.append("c", event_rows(2, 3)),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert store.commit_count - commits == 2  # the group failed; "a" and "c" alone
    assert isinstance(results[1], StoreError) and not results[1].transient
    assert [r.seq for r in await store.load_events("b")] == [1]
    assert [r.seq for r in await store.load_events("c")] == [1, 2, 3, 4]


async def test_a_run_appending_twice_before_a_flush_keeps_its_order(
    store: PostgresStore,
) -> None:
    """Two appends of one run queued together go out in order, in separate groups."""
    await store.create_run(run_record("twice"), event_rows(1, 1))
    await store.create_run(run_record("other"), event_rows(1, 1))
    commits = store.commit_count
    await asyncio.gather(
        store.append("other", event_rows(2, 1)),
        store.append("twice", event_rows(2, 1)),
        store.append("twice", event_rows(3, 1)),
    )
    assert store.commit_count - commits == 2  # ("other", "twice" 2), then "twice" 3
    assert [r.seq for r in await store.load_events("twice")] == [1, 2, 3]


async def test_close_writes_the_appends_already_queued(postgres_url: str) -> None:
    """Closing the store lets queued appends finish: none is lost or left hanging."""
    store = open_store(postgres_url)
    await store.open()
    for i in range(50):
        await store.create_run(run_record(f"c{i}"), event_rows(1, 1))
    pending = [asyncio.ensure_future(store.append(f"c{i}", event_rows(2, 1))) for i in range(50)]
    await asyncio.sleep(0)  # the appends are queued
    await store.close()
    assert all(r is None for r in await asyncio.gather(*pending))
    reopened = open_store(postgres_url)
    await reopened.open()
    try:
        for i in range(0, 50, 7):
            assert [r.seq for r in await reopened.load_events(f"c{i}")] == [1, 2]
    finally:
        await reopened.close()
