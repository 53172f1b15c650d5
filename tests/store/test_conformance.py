"""Store conformance: the behaviour every backend must share."""

from __future__ import annotations

import asyncio
import math
import sys
import time
from pathlib import Path

import pytest
from _records import run_record  # tests/store/_records.py

from tether.exceptions import ConcurrentWriteError, RunNotFoundError
from tether.store import EventRow, RunRecord, RunUpdate, Store, TokenGrant, TokenTake, open_store


def _record(run_id: str, *, status: str = "running", owner: str | None = "A") -> RunRecord:
    """A run leased to worker "A" unless told otherwise (most cases here append as A)."""
    return run_record(run_id, status=status, owner=owner)


def _rows(first: int, count: int, step: int = 0) -> list[EventRow]:
    return [
        EventRow(seq, step, time.time(), "x.test", f'{{"seq":{seq}}}'.encode())
        for seq in range(first, first + count)
    ]


async def test_create_then_load_returns_events_in_order(store: Store) -> None:
    """Events come back in sequence order with their bytes intact."""
    await store.create_run(_record("r1"), _rows(1, 3))
    rows = await store.load_events("r1")
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[1].data == b'{"seq":2}'
    assert (await store.get_run("r1")).last_seq == 3  # type: ignore[union-attr]


async def test_append_is_atomic_and_updates_summary(store: Store) -> None:
    """An append writes all its events and the status change, or nothing."""
    await store.create_run(_record("r1"), _rows(1, 1))
    await store.append("r1", _rows(2, 2), RunUpdate(status="waiting", reason="approval"))
    record = await store.get_run("r1")
    assert record is not None
    assert (record.status, record.reason, record.last_seq) == ("waiting", "approval", 3)
    with pytest.raises(ConcurrentWriteError):
        # seq 4 is new, seq 3 collides: the whole batch must be rejected.
        await store.append("r1", [*_rows(4, 1), *_rows(3, 1)], RunUpdate(status="failed"))
    assert [r.seq for r in await store.load_events("r1")] == [1, 2, 3]
    assert (await store.get_run("r1")).status == "waiting"  # type: ignore[union-attr]


async def test_load_after_seq_resumes_a_stream(store: Store) -> None:
    """``after_seq`` returns only later events (resumable streaming)."""
    await store.create_run(_record("r1"), _rows(1, 5))
    assert [r.seq for r in await store.load_events("r1", after_seq=3)] == [4, 5]


async def test_load_limit_reads_only_the_first_events(store: Store) -> None:
    """``limit`` stops after that many events (a claim pass reads a run's first event, its
    ``run.created``, for the run's priority, not the whole log)."""
    await store.create_run(_record("r1"), _rows(1, 5))
    assert [r.seq for r in await store.load_events("r1", limit=1)] == [1]
    assert [r.seq for r in await store.load_events("r1", after_seq=2, limit=2)] == [3, 4]
    assert [r.seq for r in await store.load_events("r1", limit=10)] == [1, 2, 3, 4, 5]
    assert await store.load_events("r1", after_seq=5, limit=1) == []


async def test_unknown_run_raises_not_found(store: Store) -> None:
    """Appending to a run that does not exist is an error, reading it is empty."""
    with pytest.raises(RunNotFoundError):
        await store.append("nope", _rows(1, 1))
    assert await store.get_run("nope") is None
    assert await store.load_events("nope") == []


async def test_duplicate_run_id_rejected(store: Store) -> None:
    """Two runs cannot share an id."""
    await store.create_run(_record("r1"), _rows(1, 1))
    with pytest.raises(ConcurrentWriteError):
        await store.create_run(_record("r1"), _rows(1, 1))


async def test_concurrent_appends_group_commit_without_interference(store: Store) -> None:
    """Many runs appending at once all land; one run's conflict does not undo the others."""
    for i in range(50):
        await store.create_run(_record(f"r{i}"), _rows(1, 1))
    results = await asyncio.gather(
        *(store.append(f"r{i}", _rows(2, 3)) for i in range(50)),
        store.append("r0", _rows(2, 1)),  # collides with the batch above for r0 (one wins)
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], ConcurrentWriteError)
    for i in range(1, 50):
        assert [r.seq for r in await store.load_events(f"r{i}")] == [1, 2, 3, 4]


async def test_list_runs_filters_and_orders_newest_first(store: Store) -> None:
    """Listing filters by status and agent, newest first."""
    await store.create_run(_record("a", status="completed"), _rows(1, 1))
    await asyncio.sleep(0.01)
    await store.create_run(_record("b", status="waiting"), _rows(1, 1))
    await asyncio.sleep(0.01)
    await store.create_run(_record("c", status="completed"), _rows(1, 1))
    assert [r.run_id for r in await store.list_runs()] == ["c", "b", "a"]
    assert [r.run_id for r in await store.list_runs(statuses=["completed"])] == ["c", "a"]
    assert [r.run_id for r in await store.list_runs(limit=1)] == ["c"]
    assert await store.list_runs(agent="other") == []


async def test_leases_exclude_other_owners_until_expiry(store: Store) -> None:
    """A lease is exclusive until it expires; then another owner may take it."""
    await store.create_run(_record("r1", owner=None), _rows(1, 1))
    assert await store.acquire_lease("r1", "A", ttl=0.3)
    assert await store.acquire_lease("r1", "A", ttl=0.3)  # re-entrant for the holder
    assert not await store.acquire_lease("r1", "B", ttl=0.3)
    assert await store.renew_leases("A", ["r1"], ttl=0.3) == ["r1"]
    assert await store.renew_leases("B", ["r1"], ttl=0.3) == []
    await asyncio.sleep(0.4)
    assert await store.acquire_lease("r1", "B", ttl=30)
    await store.release_lease("r1", "A")  # not A's any more: no effect
    assert (await store.get_run("r1")).lease_owner == "B"  # type: ignore[union-attr]
    await store.release_lease("r1", "B")
    assert (await store.get_run("r1")).lease_owner is None  # type: ignore[union-attr]
    with pytest.raises(RunNotFoundError):
        await store.acquire_lease("missing", "A", ttl=1)


async def test_acquire_leases_takes_free_expired_and_own_runs_at_once(store: Store) -> None:
    """The batch form of acquire_lease (one round trip for a claim pass): free, expired
    and already-owned runs are leased, in the order asked; a live lease of another owner
    and unknown runs are left out."""
    await store.create_run(_record("free", owner=None), _rows(1, 1))
    await store.create_run(_record("mine", owner="A"), _rows(1, 1))
    await store.create_run(_record("theirs", owner="B"), _rows(1, 1))
    await store.create_run(_record("lapsed", owner=None), _rows(1, 1))
    assert await store.acquire_lease("lapsed", "C", ttl=0.2)
    await asyncio.sleep(0.3)
    asked = ["lapsed", "theirs", "missing", "mine", "free"]
    assert await store.acquire_leases(asked, "A", ttl=30) == ["lapsed", "mine", "free"]
    owners = {r: (await store.get_run(r)).lease_owner for r in ("free", "lapsed", "theirs")}  # type: ignore[union-attr]
    assert owners == {"free": "A", "lapsed": "A", "theirs": "B"}
    assert await store.acquire_leases(["free", "lapsed"], "B", ttl=30) == []
    assert await store.acquire_leases([], "A", ttl=30) == []


async def test_load_logs_reads_many_runs_logs_in_one_call(store: Store) -> None:
    """Each run's whole log, in order, by id; unknown runs are absent."""
    await store.create_run(_record("r1"), _rows(1, 3))
    await store.create_run(_record("r2"), _rows(1, 2))
    logs = await store.load_logs(["r2", "missing", "r1"])
    assert sorted(logs) == ["r1", "r2"]
    assert [r.seq for r in logs["r1"]] == [1, 2, 3]
    assert [r.data for r in logs["r2"]] == [b'{"seq":1}', b'{"seq":2}']
    assert logs["r1"] == await store.load_events("r1")
    assert await store.load_logs([]) == {}
    firsts = await store.load_logs(["r1", "r2"], upto_seq=1)
    assert {run_id: [r.seq for r in rows] for run_id, rows in firsts.items()} == {
        "r1": [1],
        "r2": [1],
    }
    assert [r.seq for r in (await store.load_logs(["r1"], upto_seq=2))["r1"]] == [1, 2]


async def test_a_store_without_batch_methods_gets_them_one_by_one(tmp_path: Path) -> None:
    """``Store``'s own ``acquire_leases`` and ``load_logs`` (a wrapper that overrides
    neither) give the same answers as the backends' single round trips."""
    sys.path.insert(0, str(Path(__file__).parent))
    from _faulty import FaultyStore

    plain = FaultyStore(open_store(f"sqlite:///{tmp_path}/t.db"), lambda n, run_id, rows: None)
    assert type(plain).acquire_leases is Store.acquire_leases
    assert type(plain).load_logs is Store.load_logs
    await plain.open()
    try:
        await test_acquire_leases_takes_free_expired_and_own_runs_at_once(plain)
        await test_load_logs_reads_many_runs_logs_in_one_call(plain)
    finally:
        await plain.close()


async def test_claim_orphans_takes_only_expired_running_runs(store: Store) -> None:
    """Recovery claims pending or running runs whose lease lapsed, never live or finished ones."""
    await store.create_run(_record("live", owner="A"), _rows(1, 1))
    await store.create_run(_record("orphan", owner=None), _rows(1, 1))
    await store.create_run(_record("done", status="completed", owner=None), _rows(1, 1))
    assert await store.claim_orphans("B", ttl=30) == ["orphan"]
    assert await store.claim_orphans("C", ttl=30) == []  # B holds it now


async def test_blobs_are_content_addressed_and_idempotent(store: Store) -> None:
    """A blob is stored once; writing the same key again changes nothing."""
    await store.put_blob("k", b"prefix")
    await store.put_blob("k", b"prefix")
    assert await store.get_blob("k") == b"prefix"
    assert await store.get_blob("missing") is None


async def test_flags_are_shared_runtime_wide(store: Store) -> None:
    """Flags can be set, overwritten and cleared."""
    assert await store.get_flag("killswitch") is None
    await store.set_flag("killswitch", "on")
    await store.set_flag("killswitch", "off")
    assert await store.get_flag("killswitch") == "off"
    await store.set_flag("killswitch", None)
    assert await store.get_flag("killswitch") is None


async def test_data_survives_reopen(store: Store) -> None:
    """What was committed is there after closing and reopening the store."""
    from tether.store import open_store

    await store.create_run(_record("r1"), _rows(1, 2))
    await store.close()
    again = open_store(store.url)
    await again.open()
    try:
        assert [r.seq for r in await again.load_events("r1")] == [1, 2]
    finally:
        await again.close()
    await store.open()


# -- token buckets shared by every process (Store.take_tokens) ------------------------------


async def test_take_tokens_takes_until_empty_then_refills_up_to_capacity(store: Store) -> None:
    """A new bucket is full; an empty one refuses with the wait for its next token and
    takes nothing; time refills it at its rate, never past its capacity."""
    take = TokenTake("b", 1, rate=0.5, capacity=2)
    assert await store.take_tokens([take], now=1000.0) == TokenGrant(True, (0.0,))
    assert (await store.take_tokens([take], now=1000.0)).taken
    assert await store.take_tokens([take], now=1000.0) == TokenGrant(False, (2.0,))
    assert await store.take_tokens([take], now=1001.0) == TokenGrant(False, (1.0,))
    assert (await store.take_tokens([take], now=1002.0)).taken
    for _ in range(2):  # an hour later: two tokens, not 1,800
        assert (await store.take_tokens([take], now=4600.0)).taken
    assert not (await store.take_tokens([take], now=4600.0)).taken


async def test_take_tokens_over_several_buckets_takes_all_or_none(store: Store) -> None:
    """One empty bucket refuses the whole take: the others keep their tokens."""
    a = TokenTake("a", 1, rate=1, capacity=1)
    b = TokenTake("b", 1, rate=1, capacity=1)
    assert (await store.take_tokens([b], now=10.0)).taken
    assert await store.take_tokens([a, b], now=10.0) == TokenGrant(False, (0.0, 1.0))
    assert (await store.take_tokens([a], now=10.0)).taken  # a still had its token
    with pytest.raises(ValueError, match="more than once"):
        await store.take_tokens([a, a], now=10.0)


async def test_take_tokens_reserves_within_max_wait_and_a_debt_always_lands(
    store: Store,
) -> None:
    """Within ``max_wait`` a take reserves (the level goes below zero) and says how long to
    wait; a debt (``max_wait=inf``, tokens known after a call) always lands, and a take
    of nothing says how long until the bucket is out of debt."""
    take = TokenTake("r", 1, rate=1, capacity=1, max_wait=2)
    grants = [await store.take_tokens([take], now=0.0) for _ in range(4)]
    assert [(g.taken, g.wait) for g in grants] == [(True, 0), (True, 1), (True, 2), (False, 3)]
    debt = TokenTake("tpm", 50, rate=10, capacity=20, max_wait=math.inf)
    assert await store.take_tokens([debt], now=0.0) == TokenGrant(True, (3.0,))
    check = TokenTake("tpm", 0, rate=10, capacity=20, max_wait=math.inf)
    assert await store.take_tokens([check], now=1.0) == TokenGrant(True, (2.0,))
    assert await store.take_tokens([check], now=4.0) == TokenGrant(True, (0.0,))


async def test_take_tokens_from_many_tasks_on_two_connections_never_over_grants(
    store: Store,
) -> None:
    """40 concurrent takes through two store instances (two connections, as two processes
    would have): a bucket of 10 grants exactly 10; 40 reservations queue one per second,
    each at its own place (no take is lost or counted twice)."""
    other = open_store(store.url)
    await other.open()
    try:
        hot = TokenTake("hot", 1, rate=0.001, capacity=10)
        grants = await asyncio.gather(
            *(s.take_tokens([hot], now=100.0) for s in [store, other] * 20)
        )
        assert sum(g.taken for g in grants) == 10
        queue = TokenTake("queue", 1, rate=1, capacity=5, max_wait=math.inf)
        grants = await asyncio.gather(
            *(s.take_tokens([queue], now=100.0) for s in [store, other] * 20)
        )
        assert sorted(g.wait for g in grants) == [0.0] * 5 + [float(k) for k in range(1, 36)]
    finally:
        await other.close()
