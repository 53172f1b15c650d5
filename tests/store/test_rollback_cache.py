"""A rolled-back transaction leaves no cached run id behind (issue 7, item 10).

The SQLite writer caches ``run_id -> primary key``. On the old code a ``create_run``
whose batch was rolled back kept its cached key; SQLite then handed the same key to
the next run created, and an append to the first (never created) run wrote its events
into the second run's log.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from tether.exceptions import RunNotFoundError, StoreError
from tether.store import EventRow, RunRecord, open_store


def _record(run_id: str) -> RunRecord:
    now = time.time()
    return RunRecord(
        run_id=run_id,
        agent="a",
        agent_version="v",
        status="pending",
        created_at=now,
        updated_at=now,
    )


def _row(seq: int) -> EventRow:
    return EventRow(seq, 0, time.time(), "run.created", b'{"type":"run.created"}')


async def test_a_rolled_back_create_leaves_no_cached_key(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/t.db")
    await store.open()
    try:

        def hold(conn: sqlite3.Connection) -> None:
            time.sleep(0.3)  # keep the writer busy so the next two jobs share a batch

        def poison(conn: sqlite3.Connection) -> None:
            # Legal now, refused at COMMIT: the whole batch rolls back.
            conn.execute("PRAGMA defer_foreign_keys=ON")
            conn.execute(
                "INSERT INTO events (run, seq, step, ts, type, data) "
                "VALUES (999999, 1, 0, 0, 'x', x'00')"
            )

        holding = asyncio.ensure_future(store._write(hold))  # type: ignore[attr-defined]
        await asyncio.sleep(0.05)
        created = asyncio.ensure_future(store.create_run(_record("run_a"), [_row(1)]))
        poisoned = asyncio.ensure_future(store._write(poison))  # type: ignore[attr-defined]
        await holding
        results = await asyncio.gather(created, poisoned, return_exceptions=True)
        assert all(isinstance(r, StoreError) for r in results), results
        assert await store.get_run("run_a") is None

        await store.create_run(_record("run_b"), [_row(1)])  # may reuse run_a's would-be key
        with pytest.raises(RunNotFoundError):
            await store.append("run_a", [_row(2)])
        rows = await store.load_events("run_b")
        assert [r.seq for r in rows] == [1]  # nothing of run_a landed in run_b's log
    finally:
        await store.close()
