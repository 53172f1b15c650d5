"""Opening a SQLite store while another process holds the new file's lock waits for it.

Two workers starting together on a fresh file both turn it to WAL; that takes an
exclusive lock, and SQLite answers "database is locked" at once instead of calling the
busy handler. The store retries for its busy timeout.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from tether.exceptions import StoreError
from tether.store._sqlite import SQLiteStore


def _hold_write_lock(path: Path, release: threading.Event, held: threading.Event) -> None:
    """Another process mid-write on the new file (its migration): a RESERVED lock, for which
    SQLite does not call the busy handler of a connection switching the file to WAL."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (1)")
        held.set()
        release.wait(10)
        conn.execute("COMMIT")
    finally:
        conn.close()


def _new_file(path: Path) -> None:
    """A new file in rollback-journal mode, as a process that just created it left it."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()


def _locked_new_file(path: Path) -> tuple[threading.Event, threading.Thread]:
    """A new file whose write lock another thread holds until the event is set."""
    _new_file(path)
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, release, held))
    holder.start()
    assert held.wait(10)
    return release, holder


async def test_open_waits_for_a_lock_on_a_new_file_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    release, holder = _locked_new_file(path)
    store = SQLiteStore(path, busy_timeout=10)
    opening = asyncio.ensure_future(store.open())
    await asyncio.sleep(0.3)
    assert not opening.done(), "open() should wait for the lock, not fail or ignore it"
    release.set()
    await opening
    try:
        mode = await store._read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
        assert str(mode).lower() == "wal"
    finally:
        await store.close()
        holder.join()


async def test_open_gives_up_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    release, holder = _locked_new_file(path)
    try:
        with pytest.raises((sqlite3.OperationalError, StoreError), match="locked"):
            await SQLiteStore(path, busy_timeout=0.2).open()
    finally:
        release.set()
        holder.join()
