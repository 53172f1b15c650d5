"""What only a Postgres store must show: many workers on one database, and the server going away.

Every test runs against a real cluster started for the session (``tests/_postgres.py``)
and a fresh database of its own. Two ``PostgresStore`` objects stand for two workers:
each has its own pool, so their statements race on separate connections as two
machines' would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from _records import event_rows, run_record  # tests/store/_records.py

from tether import Agent, Runtime, tool
from tether.exceptions import (
    ConcurrentWriteError,
    LeaseLostError,
    SchemaVersionError,
    StoreError,
)
from tether.models import ModelRequest
from tether.runtime import audit_run
from tether.store import (
    RunUpdate,
    Store,
    open_store,
    verify_chain,
)
from tether.testing import ScriptedModel, text, tool_call

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def two(postgres_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two workers' stores on one database."""
    a, b = open_store(postgres_url), open_store(postgres_url)
    await a.open()
    await b.open()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def test_two_workers_racing_claim_orphans_never_both_claim_a_run(
    two: tuple[Store, Store],
) -> None:
    """SKIP LOCKED: concurrent claims split the orphans; every one is claimed exactly once."""
    a, b = two
    for i in range(120):
        await a.create_run(run_record(f"r{i:03}"), event_rows(1, 1))
    claims = await asyncio.gather(
        *(
            store.claim_orphans(f"{name}{k}", ttl=30, limit=7)
            for k in range(12)
            for name, store in (("a", a), ("b", b))
        )
    )
    claimed = [run_id for batch in claims for run_id in batch]
    assert len(claimed) == len(set(claimed))  # nobody claimed a run twice
    assert len(claimed) == 120  # 24 claims of 7 cover all 120
    # The summary rows agree with who was told they won.
    for owner, batch in zip(
        (f"{name}{k}" for k in range(12) for name in "ab"), claims, strict=True
    ):
        for run_id in batch:
            assert (await a.get_run(run_id)).lease_owner == owner  # type: ignore[union-attr]
    assert await b.claim_orphans("late", ttl=30) == []


async def test_an_append_by_the_worker_that_lost_its_lease_is_refused(
    two: tuple[Store, Store],
) -> None:
    """A's lease expired and B took the run: A's append fails and writes nothing."""
    a, b = two
    await a.create_run(run_record("r1"), event_rows(1, 1))
    assert await a.acquire_lease("r1", "A", ttl=0.2)
    await a.append("r1", event_rows(2, 1), owner="A")
    while not await b.acquire_lease("r1", "B", ttl=30):  # noqa: ASYNC110  # the DB clock decides
        await asyncio.sleep(0.05)  # until A's lease has expired on the database's clock
    with pytest.raises(LeaseLostError) as caught:
        await a.append("r1", event_rows(3, 2), RunUpdate(status="completed"), owner="A")
    assert caught.value.context["holder"] == "B"
    assert [r.seq for r in await b.load_events("r1")] == [1, 2]
    await b.append("r1", event_rows(3, 1), owner="B")
    record = await a.get_run("r1")
    assert record is not None and (record.status, record.last_seq) == ("running", 3)


async def test_a_worker_whose_clock_runs_ahead_claims_no_due_run_another_still_holds(
    two: tuple[Store, Store],
) -> None:
    """Timers are due by the caller's clock; a lease has expired only by the database's.

    A holds a parked run whose timer is due (it is firing it). B's clock is an hour
    ahead: its claim pass sees the timer due and, by its own clock, A's lease long
    expired, but the database says A's lease holds, so B takes nothing. Two holders
    would drive the run twice (a write tool twice).
    """
    a, b = two
    await a.create_run(run_record("parked", status="waiting"), event_rows(1, 1))
    await a.append("parked", event_rows(2, 1), RunUpdate(status="waiting", wake_at=time.time() - 1))
    assert await a.claim_due("A", 30, time.time()) == ["parked"]
    assert await b.claim_due("B", 30, time.time() + 3600) == []
    record = await b.get_run("parked")
    assert record is not None and record.lease_owner == "A"


async def test_racing_appends_by_two_holders_of_one_position_let_exactly_one_win(
    two: tuple[Store, Store],
) -> None:
    """Both append after seq 1 at once, without leases: the row lock orders them, one wins."""
    a, b = two
    for i in range(20):
        await a.create_run(run_record(f"r{i}"), event_rows(1, 1))
    results = await asyncio.gather(
        *(store.append(f"r{i}", event_rows(2, 2)) for i in range(20) for store in (a, b)),
        return_exceptions=True,
    )
    for i in range(20):
        pair = results[2 * i : 2 * i + 2]
        assert sum(r is None for r in pair) == 1
        assert sum(isinstance(r, ConcurrentWriteError) for r in pair) == 1
        chain = await a.load_event_chain(f"r{i}")
        assert chain is not None
        assert verify_chain(f"r{i}", chain.rows, chain.last_seq).ok


async def test_a_postgres_restart_mid_run_is_transient_and_corrupts_nothing(
    postgres_cluster: Any, postgres_url: str
) -> None:
    """Four writers keep appending through a ``pg_ctl restart``: each append either lands
    or fails as a transient StoreError and is retried from the stored ``last_seq``; every
    log ends gap-free with an intact chain."""
    store = open_store(postgres_url)
    await store.open()
    failures: list[StoreError] = []
    target = 60
    runs = [f"r{i}" for i in range(4)]
    try:
        for run_id in runs:
            await store.create_run(run_record(run_id, owner="W"), event_rows(1, 1))
        halfway = asyncio.Event()

        async def writer(run_id: str) -> None:
            while True:
                try:
                    record = await store.get_run(run_id)
                    assert record is not None
                    if record.last_seq >= target:
                        return
                    if record.last_seq >= 20:
                        halfway.set()
                    # The last_seq just read decides the next seq: an append whose commit
                    # landed but whose answer was lost is not written twice.
                    await store.append(run_id, event_rows(record.last_seq + 1, 1), owner="W")
                except StoreError as exc:
                    failures.append(exc)
                    await asyncio.sleep(0.05)

        async def restart() -> None:
            await halfway.wait()
            await asyncio.to_thread(postgres_cluster.restart)

        await asyncio.wait_for(
            asyncio.gather(restart(), *(writer(run_id) for run_id in runs)), timeout=120
        )
        assert all(f.transient for f in failures), [str(f) for f in failures]
        for run_id in runs:
            chain = await store.load_event_chain(run_id)
            assert chain is not None
            assert [r.seq for r in chain.rows] == list(range(1, target + 1))
            verdict = verify_chain(run_id, chain.rows, chain.last_seq)
            assert verdict.ok and verdict.checked == target
            assert (await store.get_run(run_id)).lease_owner == "W"  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_after_a_restart_an_idle_pool_answers_the_next_operation(
    postgres_cluster: Any, postgres_url: str
) -> None:
    """Connections that sat idle through a restart are dropped as they leave the pool
    (a check that costs no round trip), so the next operations just work."""
    store = open_store(f"{postgres_url}?pool_size=4")
    await store.open()
    try:
        await store.create_run(run_record("r1", owner="W"), event_rows(1, 1))
        # Fill the pool with connections that will all be dead after the restart.
        await asyncio.gather(*(store.get_run("r1") for _ in range(8)))
        await asyncio.to_thread(postgres_cluster.restart)
        for seq in range(2, 12):
            await store.append("r1", event_rows(seq, 1), owner="W")
        assert [r.seq for r in await store.load_events("r1")] == list(range(1, 12))
    finally:
        await store.close()


async def test_operations_while_postgres_is_down_fail_as_transient(
    postgres_cluster: Any, postgres_url: str
) -> None:
    """With the server stopped, an operation fails fast and transient; after it is back,
    the same store works without being reopened."""
    store = open_store(f"{postgres_url}?pool_timeout=2")
    await store.open()
    try:
        await store.create_run(run_record("r1", owner="W"), event_rows(1, 1))
        await asyncio.to_thread(postgres_cluster.stop)
        try:
            with pytest.raises(StoreError) as caught:
                await store.append("r1", event_rows(2, 1), owner="W")
            assert caught.value.transient
        finally:
            await asyncio.to_thread(postgres_cluster.start)
        for _ in range(100):
            try:
                await store.append("r1", event_rows(2, 1), owner="W")
                break
            except StoreError as exc:
                assert exc.transient
                await asyncio.sleep(0.1)
        assert [r.seq for r in await store.load_events("r1")] == [1, 2]
    finally:
        await store.close()


async def test_a_newer_schema_is_refused_naming_both_versions(postgres_url: str) -> None:
    """A database migrated by a newer Tether is not touched by this one."""
    store = open_store(postgres_url)
    await store.open()
    await store.create_run(run_record("r1"), event_rows(1, 1))
    await store.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        (current,) = conn.execute("SELECT version FROM schema_version").fetchone()  # type: ignore[misc]
        conn.execute("UPDATE schema_version SET version = 999")
    again = open_store(postgres_url)
    with pytest.raises(SchemaVersionError) as caught:
        await again.open()
    assert "schema version 999" in str(caught.value)
    assert f"knows up to {current}" in str(caught.value)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (999,)
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (1,)


async def test_a_tampered_event_breaks_the_chain_at_its_seq(postgres_url: str) -> None:
    """The hash chain is the same as SQLite's: a changed event is named by seq."""
    store = open_store(postgres_url)
    await store.open()
    try:
        await store.create_run(run_record("r1"), event_rows(1, 3))
        await store.append("r1", event_rows(4, 3), RunUpdate(status="waiting", wake_at=None))
        chain = await store.load_event_chain("r1")
        assert chain is not None and not chain.predates_chain
        assert verify_chain("r1", chain.rows, chain.last_seq).ok
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("UPDATE events SET data = %s WHERE seq = 5", (b'{"seq":50}',))
        chain = await store.load_event_chain("r1")
        assert chain is not None
        verdict = verify_chain("r1", chain.rows, chain.last_seq, predates_chain=False)
        assert (verdict.ok, verdict.first_bad_seq) == (False, 5)
    finally:
        await store.close()


@tool(effect="write", requires_approval=True)
def send_refund(order_id: str, amount_cents: int) -> str:
    """Refund an order."""
    return f"refunded {amount_cents} cents on {order_id}"


def _refund_script(req: ModelRequest) -> Any:
    if not any(m.role == "tool" for m in req.messages):
        return tool_call("send_refund", order_id="A1", amount_cents=900)
    return text("refund sent")


async def test_a_real_run_on_postgres_audits_as_intact_then_tampered(postgres_url: str) -> None:
    """An agent run with an approval, stored in Postgres, verifies with ``audit_run``; an
    edit made with plain SQL is named at its seq."""
    agent = Agent(name="refunds", model=ScriptedModel(_refund_script), tools=[send_refund])
    async with Runtime(postgres_url) as rt:
        run = await rt.start(agent, "refund order A1", tenant="acme")
        assert (await run.result()).status == "waiting"
        (pending,) = await run.pending_approvals()
        await rt.approve(run.run_id, pending.approval_id, by="ana")
        assert (await rt.get(run.run_id).result()).status == "completed"
        report = await audit_run(rt, run.run_id)
    assert report.verified and report.unchained_before is None
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT e.seq, e.hash FROM events e JOIN runs r ON r.id = e.run "
            "WHERE r.run_id = %s ORDER BY e.seq",
            (run.run_id,),
        ).fetchall()
        assert report.head == bytes(rows[-1][1]).hex()
        conn.execute(
            "UPDATE events SET data = convert_to('{\"tampered\":true}', 'UTF8') "
            "WHERE seq = 3 AND run = (SELECT id FROM runs WHERE run_id = %s)",
            (run.run_id,),
        )
    async with Runtime(postgres_url, recover=False) as rt:
        report = await audit_run(rt, run.run_id)
    assert (report.verified, report.first_bad_seq) == (False, 3)


async def test_an_idle_worker_is_woken_by_notify_when_a_run_becomes_claimable(
    two: tuple[Store, Store],
) -> None:
    """``wait_for_work`` returns when another worker creates an unleased run or gives a
    live run back, long before its poll timeout."""
    idle, busy = two
    await idle.wait_for_work(0.01)  # starts listening
    await asyncio.wait_for(idle._listening.wait(), timeout=30)  # type: ignore[attr-defined]
    await idle.wait_for_work(0)  # takes the listener's own "connected" wake-up

    waiting = asyncio.create_task(idle.wait_for_work(3600))
    await asyncio.sleep(0)
    await busy.create_run(run_record("r1", status="pending"), event_rows(1, 1))
    await asyncio.wait_for(waiting, timeout=30)
    assert await idle.claim_orphans("idle", ttl=30) == ["r1"]

    await busy.create_run(run_record("r2", owner="busy"), event_rows(1, 1))
    waiting = asyncio.create_task(idle.wait_for_work(3600))
    await asyncio.sleep(0)
    await busy.release_lease("r2", "busy")  # a draining worker leaves a live run behind
    await asyncio.wait_for(waiting, timeout=30)
    assert await idle.claim_orphans("idle", ttl=30) == ["r2"]


async def test_concurrent_idempotency_claims_from_two_workers_have_one_winner(
    two: tuple[Store, Store],
) -> None:
    a, b = two
    results = await asyncio.gather(
        *(
            store.claim_idempotency_key("acme", f"k{i}", f"{name}-run{i}", "h")
            for i in range(30)
            for name, store in (("a", a), ("b", b))
        )
    )
    for i in range(30):
        first, second = results[2 * i], results[2 * i + 1]
        assert first == second and first[0] in (f"a-run{i}", f"b-run{i}")


async def test_both_url_schemes_open_the_postgres_store(postgres_url: str) -> None:
    for url in (postgres_url, postgres_url.replace("postgresql://", "postgres://", 1)):
        store = open_store(url)
        assert type(store).__name__ == "PostgresStore"
        await store.open()
        try:
            await store.set_flag("f", "on")
            assert await store.get_flag("f") == "on"
        finally:
            await store.close()
