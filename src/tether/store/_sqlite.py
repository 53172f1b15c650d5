"""SQLite store: WAL, group commit across concurrent runs, the fsync off the event loop.

Writes are gathered per turn of the event loop: every write queued while the loop
runs joins one transaction, which the loop thread executes (the statements are a
few microseconds of CPU each); only the COMMIT, where SQLite fsyncs the WAL, runs in
the writer thread. While it runs, new writes queue up for the next transaction, so
1,000 runs committing at once cost one fsync, not 1,000, and a run's next step
overlaps its last commit. (Running the whole transaction in the writer thread, as
an earlier version did, made that thread take the GIL back after every statement,
which it only got when the event loop went idle: the commit never overlapped.)

Reads use their own connections in a small thread pool (WAL lets them run beside
the writer). ``durability="FULL"`` (the default) fsyncs the WAL at every commit, so
a committed step survives power loss; ``"NORMAL"`` fsyncs only at checkpoints: a
crash of the process loses nothing, a power cut may lose the last commits.

When another process holds the database's write lock, the loop thread does not
wait for it: that transaction runs wholly in the writer thread, which waits up to
``busy_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from tether.exceptions import (
    ConcurrentWriteError,
    LeaseLostError,
    RunNotFoundError,
    SchemaVersionError,
    StoreError,
)
from tether.store._base import (
    Durability,
    EventChain,
    EventRow,
    RunCursor,
    RunRecord,
    RunUpdate,
    Store,
    refuse_beyond_share,
)
from tether.store._buckets import TokenGrant, TokenTake, check_takes, settle_takes
from tether.store._chain import chain_links
from tether.store._keys import ApiKey
from tether.store._rows import KEY_COLUMNS, RUN_COLUMNS, api_key, migration_scripts, run_record

T = TypeVar("T")
_Job = tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any], "_Append | None"]
_Result = tuple[asyncio.Future[Any], bool, Any]


@dataclass(frozen=True, slots=True)
class _Append:
    """An append job's data, so a batch of appends can be written with one executemany."""

    run_id: str
    events: Sequence[EventRow]
    update: RunUpdate | None
    owner: str | None = None


_STOP = object()
_MAX_BATCH = 128
"""Most jobs in one transaction (the loop thread runs their statements: this bounds the
stall); the rest wait for the next. At 512, with 10,000 runs, one transaction's
statements took 7 ms on average and up to 48 ms in one callback, the largest piece of
loop lag left once run steps were paced (p99 41-46 ms); at 128 it was 27-35 ms. The
zero-latency 1,000-run workload then takes 25 commits instead of 7 for its 3,001
writes, at the same CPU a turn within noise (197 against 195 µs, three runs each)."""
_IDS_PER_QUERY = 500
"""Run ids bound in one ``IN (...)`` (well under SQLite's limit on host parameters)."""
MAX_CACHED_RUNS = 50_000
"""Runs whose primary key and hash-chain head the store keeps in memory (about 250 bytes
each); past it both caches start over."""


def _migrations() -> list[tuple[int, str]]:
    return migration_scripts("tether.store.migrations.sqlite")


class SQLiteStore(Store):
    """The embedded default store: one SQLite file in WAL mode.

    ``commit_count`` and ``write_count`` count committed transactions and the write
    jobs they carried, so tests and benchmarks can see group commit at work.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        durability: Durability = "FULL",
        busy_timeout: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.durability = durability
        self.busy_timeout = busy_timeout
        self.url = f"sqlite:///{self.path}"
        # The writer thread's work: a COMMIT, or a whole transaction when the database
        # was busy (callables), or _STOP.
        self._jobs: queue.SimpleQueue[Callable[[], None] | object] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queued: list[_Job] = []
        self._scheduled = False
        self._committing = False
        self._drained: asyncio.Future[None] | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._read_conns: list[sqlite3.Connection] = []
        self._read_lock = threading.Lock()
        self._run_ids: dict[str, int] = {}
        # Run ids cached by jobs of the transaction in flight: forgotten if it rolls back,
        # so a rolled-back create_run never leaves a primary key that does not exist.
        self._new_run_ids: list[str] = []
        # The hash chain's head per run (primary key -> (seq, hash of that event)), so an
        # append needs no read to link its first event. Used only when the seq matches the
        # append's predecessor; forgotten like the run ids when a transaction or savepoint
        # rolls back (``_heads_set`` lists the keys set since the transaction began).
        self._heads: dict[int, tuple[int, bytes]] = {}
        self._heads_set: list[int] = []
        self.commit_count = 0
        self.write_count = 0

    # -- connections -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=self.busy_timeout
        )
        # Turning a new file to WAL takes an exclusive lock, and SQLite answers "database is
        # locked" at once (no busy handler) when another process is opening the same new
        # file: two workers starting together. Retry for the busy timeout.
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if not _transient(exc) or time.monotonic() > deadline:
                    conn.close()
                    raise
                time.sleep(0.01)
        conn.execute(f"PRAGMA synchronous={self.durability}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._read_lock:
                self._read_conns.append(conn)
        return conn

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._readers is None:
            raise StoreError("store is not open; use `async with Runtime(...)` or await open()")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, lambda: fn(self._reader()))

    async def _write(
        self, fn: Callable[[sqlite3.Connection], T], append: _Append | None = None
    ) -> T:
        loop = self._loop
        if loop is None or self._conn is None:
            raise StoreError("store is not open; use `async with Runtime(...)` or await open()")
        if asyncio.get_running_loop() is not loop:
            # Called from another event loop (a thread of its own): the job still runs
            # on the loop that owns the connection.
            return await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(self._write(fn, append), loop)
            )
        fut: asyncio.Future[T] = loop.create_future()
        self._queued.append((fn, fut, append))
        if not self._scheduled and not self._committing:
            # Every write queued during this turn of the loop joins one transaction.
            self._scheduled = True
            loop.call_soon(self._begin)
        return await fut

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        if self._writer is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[sqlite3.Connection] = loop.create_future()

        def report(conn: sqlite3.Connection | None, exc: BaseException | None) -> None:
            if exc is not None:
                ready.set_exception(exc)
            else:
                ready.set_result(conn)  # type: ignore[arg-type]  # set when exc is None

        def start() -> None:
            # Connect and migrate here: waiting for another process's lock (busy_timeout)
            # must not block the event loop.
            try:
                conn = self._connect()
                self._migrate(conn)
                # From now on the loop thread never waits for a lock: a busy database
                # sends the transaction here (see _begin), where waiting is fine.
                conn.execute("PRAGMA busy_timeout=0")
            except BaseException as exc:
                loop.call_soon_threadsafe(report, None, exc)
                return
            loop.call_soon_threadsafe(report, conn, None)
            self._write_loop()

        self._writer = threading.Thread(target=start, name="tether-sqlite-writer", daemon=True)
        self._writer.start()
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tether-sqlite-read")
        try:
            self._conn = await ready
        except BaseException:
            self._jobs.put(_STOP)
            self._writer = None
            self._readers.shutdown(wait=False)
            self._readers = None
            raise
        self._loop = loop

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            current = row[0] if row else 0
            migrations = _migrations()
            latest = migrations[-1][0] if migrations else 0
            if current > latest:
                raise SchemaVersionError(
                    f"database {self.path} is at schema version {current}; this Tether knows up "
                    f"to {latest}. Upgrade tether-runtime.",
                    version=current,
                )
            for number, sql in migrations:
                if number > current:
                    for statement in sql.split(";"):
                        if statement.strip():
                            conn.execute(statement)
            if row is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (latest,))
            else:
                conn.execute("UPDATE schema_version SET version = ?", (latest,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            # Let queued writes land first: a caller that handed one over expects it.
            while self._committing or self._queued or self._scheduled:
                self._drained = asyncio.get_running_loop().create_future()
                await self._drained
            self._jobs.put(_STOP)
            await asyncio.to_thread(writer.join)
        conn, self._conn = self._conn, None
        self._loop = None
        if conn is not None:
            conn.close()
        readers, self._readers = self._readers, None
        if readers is not None:
            readers.shutdown(wait=True)
        with self._read_lock:
            for conn in self._read_conns:
                conn.close()
            self._read_conns.clear()

    # -- the writer --------------------------------------------------------------------------
    #
    # One transaction at a time, in three places:
    #   _begin (loop thread): BEGIN and the jobs' statements, for the writes queued so far;
    #   _commit (writer thread): COMMIT, the fsync, out of the loop's way;
    #   _finished (loop thread): settle the jobs' futures and begin the next transaction
    #     with what queued meanwhile.
    # ``_committing`` is true from _begin to _finished: the loop thread touches the
    # connection only while no COMMIT is in flight, so the two threads never share it.

    def _write_loop(self) -> None:
        """The writer thread: run what the loop thread hands over, until told to stop."""
        while True:
            work = self._jobs.get()
            if work is _STOP:
                return
            work()  # type: ignore[operator]  # a callable: _commit or _run_blocking

    def _begin(self) -> None:
        self._scheduled = False
        if self._committing or not self._queued:
            return
        conn, loop = self._conn, self._loop
        if conn is None or loop is None:  # closed under us; close() fails nothing queued
            return
        batch = self._queued[:_MAX_BATCH]
        del self._queued[:_MAX_BATCH]
        self._committing = True
        self._new_run_ids.clear()
        self._heads_set.clear()
        if len(self._run_ids) > MAX_CACHED_RUNS or len(self._heads) > MAX_CACHED_RUNS:
            # A long-lived worker writes millions of runs: start the caches over (a miss
            # reads one indexed row), between transactions, where nothing can roll back.
            self._run_ids.clear()
            self._heads.clear()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not _transient(exc):
                self._failed(batch, exc)
                return
            # Another process holds the write lock: wait for it in the writer thread.
            self._jobs.put(lambda: self._run_blocking(batch))
            return
        try:
            results, open_ = self._run_jobs(conn, batch)
        except BaseException as exc:  # a bug in a job runner: fail the batch, keep the store
            self._failed(batch, exc)
            return
        if not open_:  # a lone job failed and took its transaction with it
            self._finished(batch, results, committed=False)
            return
        self._jobs.put(lambda: self._commit(batch, results))

    def _run_jobs(self, conn: sqlite3.Connection, batch: list[_Job]) -> tuple[list[_Result], bool]:
        """Run a batch's jobs inside the open transaction; whether it is still open.

        A job alone needs no savepoint: if it fails, the transaction rolls back and the
        job gets its own error. Several jobs get a savepoint each (consecutive appends
        share one executemany), so one job's conflict does not undo its neighbours.
        """
        results: list[_Result] = []
        if len(batch) == 1:
            fn, fut, append = batch[0]
            try:
                value = fn(conn)
            except Exception as exc:
                conn.execute("ROLLBACK")
                self._forget_new_runs()
                return [(fut, False, _as_store_error(exc))], False
            return [(fut, True, None if append is not None else value)], True
        start = 0
        while start < len(batch):
            end = start
            while end < len(batch) and batch[end][2] is not None:
                end += 1
            if end - start > 1 and self._append_many(conn, batch[start:end], results):
                start = end
                continue
            self._run_one(conn, batch[start], results)
            start += 1
        return results, True

    def _commit(self, batch: list[_Job], results: list[_Result]) -> None:
        """The writer thread: COMMIT (SQLite fsyncs here), then hand the outcome back."""
        conn = self._conn
        assert conn is not None
        try:
            conn.execute("COMMIT")
        except Exception as exc:
            self._rollback(conn)
            self._report(batch, self._commit_error(batch, exc), committed=False)
            return
        self._report(batch, results, committed=True)

    def _run_blocking(self, batch: list[_Job]) -> None:
        """The writer thread: a whole transaction, waiting up to busy_timeout for the lock.

        Used when another process held the write lock as the loop thread began.
        """
        conn = self._conn
        assert conn is not None
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        try:
            conn.execute("BEGIN IMMEDIATE")
            results, open_ = self._run_jobs(conn, batch)
            if open_:
                conn.execute("COMMIT")
        except Exception as exc:
            self._rollback(conn)
            results, open_ = self._commit_error(batch, exc), False
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA busy_timeout=0")
        # Only now, with this thread done with the connection, may the loop thread begin
        # the next transaction: reported earlier, its BEGIN raced this thread's PRAGMA,
        # waited out the old busy timeout on the loop and read the PRAGMA's SQLITE_ROW as
        # its error ("another row available"), which is not transient, so a run failed.
        self._report(batch, results, committed=open_)

    def _rollback(self, conn: sqlite3.Connection) -> None:
        with contextlib.suppress(sqlite3.Error):
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        self._forget_new_runs()

    @staticmethod
    def _commit_error(batch: list[_Job], exc: Exception) -> list[_Result]:
        err = StoreError(
            f"sqlite commit failed: {exc}", transient=_transient(exc), cause=type(exc).__name__
        )
        return [(job[1], False, err) for job in batch]

    def _failed(self, batch: list[_Job], exc: BaseException) -> None:
        """The loop thread: the batch could not run; its jobs fail, the store goes on."""
        if self._conn is not None:
            self._rollback(self._conn)
        error = exc if isinstance(exc, Exception) else StoreError(f"sqlite: {exc!r}")
        failure = self._commit_error(batch, error)
        self._finished(batch, failure, committed=False)

    def _report(self, batch: list[_Job], results: list[_Result], *, committed: bool) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(self._finished, batch, results, committed)

    def _finished(self, batch: list[_Job], results: list[_Result], committed: bool) -> None:
        """The loop thread: a transaction is over; settle it, begin the next one."""
        if committed:
            self.commit_count += 1
            self.write_count += len(batch)
        self._committing = False
        _settle(results)
        if self._queued:
            # The next transaction's statements run in a later iteration of the loop: with
            # a full batch they take milliseconds, and settling this one already took some.
            if not self._scheduled and self._loop is not None:
                self._scheduled = True
                self._loop.call_soon(self._begin)
        elif self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _forget_new_runs(self) -> None:
        for run_id in self._new_run_ids:
            self._run_ids.pop(run_id, None)
        self._forget_heads(0)

    def _forget_heads(self, mark: int) -> None:
        """Drop chain heads set since ``mark`` (their writes were rolled back)."""
        for pk in self._heads_set[mark:]:
            self._heads.pop(pk, None)
        del self._heads_set[mark:]

    def _run_one(self, conn: sqlite3.Connection, job: _Job, results: list[_Result]) -> None:
        # A savepoint per job: one job's conflict must not undo its neighbours.
        conn.execute("SAVEPOINT job")
        mark = len(self._heads_set)
        try:
            value = job[0](conn)
        except Exception as exc:
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            self._forget_heads(mark)
            results.append((job[1], False, _as_store_error(exc)))
        else:
            conn.execute("RELEASE job")
            results.append((job[1], True, None if job[2] is not None else value))

    def _append_many(
        self, conn: sqlite3.Connection, jobs: list[_Job], results: list[_Result]
    ) -> bool:
        """Write consecutive appends with one executemany per statement.

        The common case under load (hundreds of runs committing a step each) costs
        a few C-level loops instead of a Python round per job. If anything in the
        group fails (a conflict), the group is undone and the caller retries the
        jobs one by one, so only the offending job fails.
        """
        conn.execute("SAVEPOINT grp")
        mark = len(self._heads_set)
        try:
            rows: list[tuple[Any, ...]] = []
            advances: dict[str, list[tuple[Any, ...]]] = {}
            for job in jobs:
                append = job[2]
                assert append is not None
                pk = self._run_pk(conn, append.run_id)
                rows.extend(self._chained(conn, pk, append.run_id, append.events))
                sql, params = _advance(pk, append)
                advances.setdefault(sql, []).append(params)
            # Each UPDATE matches only if the log ends where the writer expects and it
            # still holds the lease: fewer rows changed means one job must go alone.
            moved = sum(conn.executemany(sql, p).rowcount for sql, p in advances.items()) != len(
                jobs
            )
            if not moved:
                conn.executemany(_INSERT_EVENTS, rows)
        except Exception:
            moved = True
        if moved:
            conn.execute("ROLLBACK TO grp")
            conn.execute("RELEASE grp")
            self._forget_heads(mark)
            return False
        conn.execute("RELEASE grp")
        for job in jobs:
            self._let_go(job[2])
        results.extend((job[1], True, None) for job in jobs)
        return True

    def _let_go(self, append: _Append | None) -> None:
        """Forget the cached id and chain head of a run this append parks, ends or hands back.

        Nobody drives it here any more: when it wakes, one indexed read finds both again.
        Kept, they would outlive the run's burst by hours; with 10,000 runs parked at once
        these small objects, scattered through the memory the burst used, kept about 7 KB
        of RSS per parked run from going back (``benchmarks/concurrency.py``).
        """
        if append is None or append.update is None or not append.update.release_lease:
            return
        pk = self._run_ids.pop(append.run_id, None)
        if pk is not None:
            self._heads.pop(pk, None)

    # -- runs and events ---------------------------------------------------------------------

    def _run_pk(self, conn: sqlite3.Connection, run_id: str) -> int:
        pk = self._run_ids.get(run_id)
        if pk is None:
            row = conn.execute("SELECT id FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise RunNotFoundError(f"no run {run_id!r} in {self.url}", run_id=run_id)
            pk = int(row[0])
            self._run_ids[run_id] = pk
            self._new_run_ids.append(run_id)
        return pk

    def _chained(
        self, conn: sqlite3.Connection, pk: int, run_id: str, events: Sequence[EventRow]
    ) -> list[tuple[Any, ...]]:
        """The rows to insert for ``events``, each linked into the run's hash chain.

        The predecessor's hash comes from the cached head when it is for the right seq,
        else from one read of that row (a run last written by another process, or
        before a restart). A predecessor without a hash (written before the chain
        existed) or without a row (nothing before seq 1) links to the genesis value.
        """
        if not events:
            return []
        before = events[0].seq - 1
        cached = self._heads.get(pk)
        prev: bytes | None
        if cached is not None and cached[0] == before:
            prev = cached[1]
        else:
            row: tuple[Any, ...] | None = None
            if before > 0:
                row = conn.execute(
                    "SELECT hash FROM events WHERE run = ? AND seq = ?", (pk, before)
                ).fetchone()
            linked = row[0] if row is not None else None
            prev = bytes(linked) if linked is not None else None
        links = chain_links(run_id, prev, events)
        rows: list[tuple[Any, ...]] = [
            (pk, e.seq, e.step, e.ts, e.type, _pack(e.type, e.data), link)
            for e, link in zip(events, links, strict=True)
        ]
        self._heads[pk] = (events[-1].seq, links[-1])
        self._heads_set.append(pk)
        return rows

    async def create_run(self, record: RunRecord, events: Sequence[EventRow]) -> None:
        await self._create_run(record, events, None)

    async def create_run_bounded(
        self, record: RunRecord, events: Sequence[EventRow], *, max_waiting: int
    ) -> None:
        # The count and the insert run in one write transaction (BEGIN IMMEDIATE: one
        # writer at a time across every process on the file), and the jobs of one
        # group commit run one after another in it, each seeing the inserts before it.
        await self._create_run(record, events, max_waiting)

    async def count_waiting(self, *, limit: int) -> int:
        def read(conn: sqlite3.Connection) -> int:
            return _count_waiting(conn, time.time(), limit)

        return await self._read(read)

    async def tenant_queue(self, tenant: str | None, *, limit: int) -> tuple[int, int]:
        def read(conn: sqlite3.Connection) -> tuple[int, int]:
            return _tenant_queue(conn, time.time(), tenant, limit)

        return await self._read(read)

    async def _create_run(
        self, record: RunRecord, events: Sequence[EventRow], max_waiting: int | None
    ) -> None:
        def job(conn: sqlite3.Connection) -> None:
            if max_waiting is not None:
                now = time.time()
                waiting = _count_waiting(conn, now, 2 * max_waiting)
                # A full queue still admits a tenant below its fair share (Store docs).
                if waiting >= max_waiting:
                    mine, tenants = _tenant_queue(conn, now, record.tenant, 2 * max_waiting)
                    refuse_beyond_share(waiting, max_waiting, mine, tenants)
            try:
                cur = conn.execute(
                    f"INSERT INTO runs ({RUN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        record.run_id,
                        record.agent,
                        record.agent_version,
                        record.status,
                        record.created_at,
                        record.updated_at,
                        record.tenant,
                        record.parent_run_id,
                        record.reason,
                        events[-1].seq if events else 0,
                        record.lease_owner,
                        record.lease_expires_at,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise ConcurrentWriteError(
                    f"run {record.run_id} already exists", run_id=record.run_id
                ) from exc
            pk = int(cur.lastrowid or 0)
            conn.executemany(_INSERT_EVENTS, self._chained(conn, pk, record.run_id, events))
            self._run_ids[record.run_id] = pk
            self._new_run_ids.append(record.run_id)

        await self._write(job)

    async def append(
        self,
        run_id: str,
        events: Sequence[EventRow],
        update: RunUpdate | None = None,
        *,
        owner: str | None = None,
    ) -> None:
        if not events:
            return
        append = _Append(run_id, events, update, owner)

        def job(conn: sqlite3.Connection) -> None:
            pk = self._run_pk(conn, run_id)
            if conn.execute(*_advance(pk, append)).rowcount != 1:
                _check_append(conn, pk, append)  # raises with the reason
                raise ConcurrentWriteError(f"run {run_id}: the log moved", run_id=run_id)
            try:
                conn.executemany(_INSERT_EVENTS, self._chained(conn, pk, run_id, events))
            except sqlite3.IntegrityError as exc:
                raise ConcurrentWriteError(
                    f"run {run_id}: events {events[0].seq}..{events[-1].seq} collide with events "
                    "another writer appended; this process no longer owns the run",
                    run_id=run_id,
                ) from exc
            self._let_go(append)

        await self._write(job, append)

    async def load_events(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[EventRow]:
        def read(conn: sqlite3.Connection) -> list[EventRow]:
            rows = conn.execute(
                "SELECT e.seq, e.step, e.ts, e.type, e.data FROM events e "
                "JOIN runs r ON r.id = e.run WHERE r.run_id = ? AND e.seq > ? ORDER BY e.seq "
                "LIMIT ?",
                (run_id, after_seq, -1 if limit is None else limit),
            ).fetchall()
            return [
                EventRow(seq, step, ts, kind, _unpack(kind, data))
                for seq, step, ts, kind, data in rows
            ]

        return await self._read(read)

    async def load_event_chain(self, run_id: str) -> EventChain | None:
        def read(conn: sqlite3.Connection) -> EventChain | None:
            # One read transaction: the summary row and the log agree with each other.
            conn.execute("BEGIN")
            try:
                run = conn.execute(
                    "SELECT id, last_seq, created_at FROM runs WHERE run_id = ?", (run_id,)
                ).fetchone()
                if run is None:
                    return None
                rows = conn.execute(
                    "SELECT seq, step, ts, type, data, hash FROM events WHERE run = ? ORDER BY seq",
                    (run[0],),
                ).fetchall()
                since = conn.execute("SELECT min(since) FROM event_chain").fetchone()[0]
            finally:
                conn.execute("COMMIT")
            return EventChain(
                run_id,
                [
                    EventRow(
                        seq,
                        step,
                        ts,
                        kind,
                        _unpack(kind, data),
                        None if digest is None else bytes(digest),
                    )
                    for seq, step, ts, kind, data, digest in rows
                ],
                int(run[1]),
                predates_chain=since is None or float(run[2]) < float(since),
            )

        return await self._read(read)

    async def get_run(self, run_id: str) -> RunRecord | None:
        def read(conn: sqlite3.Connection) -> RunRecord | None:
            row = conn.execute(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            return run_record(row) if row else None

        return await self._read(read)

    async def list_runs(
        self,
        *,
        statuses: Sequence[str] | None = None,
        agent: str | None = None,
        limit: int = 50,
        tenant: str | None = None,
        since: float | None = None,
        until: float | None = None,
        cursor: RunCursor | None = None,
    ) -> list[RunRecord]:
        clauses: list[str] = []
        params: list[Any] = []
        if statuses:
            clauses.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        if agent:
            clauses.append("agent = ?")
            params.append(agent)
        if tenant is not None:
            clauses.append("tenant = ?")
            params.append(tenant)
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(since)
        if until is not None:
            clauses.append("created_at < ?")
            params.append(until)
        if cursor is not None:
            # Strictly after the previous page's last run in (created_at, run_id) DESC order.
            clauses.append("(created_at < ? OR (created_at = ? AND run_id < ?))")
            params.extend((cursor[0], cursor[0], cursor[1]))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = (
            f"SELECT {RUN_COLUMNS} FROM runs {where} ORDER BY created_at DESC, run_id DESC LIMIT ?"
        )
        params.append(limit)

        def read(conn: sqlite3.Connection) -> list[RunRecord]:
            return [run_record(row) for row in conn.execute(sql, params).fetchall()]

        return await self._read(read)

    async def claim_candidates(
        self, *, agents: Sequence[str], per_tenant: int
    ) -> tuple[list[RunRecord], dict[str | None, int]]:
        names = list(dict.fromkeys(agents))
        marks = ",".join("?" * len(names))
        picked = (
            f"SELECT {RUN_COLUMNS} FROM (SELECT {RUN_COLUMNS}, ROW_NUMBER() OVER "
            "(PARTITION BY tenant ORDER BY created_at, run_id) AS place FROM runs "
            "WHERE status IN ('pending', 'running') AND (lease_owner IS NULL OR "
            f"lease_expires_at IS NULL OR lease_expires_at < ?) AND agent IN ({marks})) "
            "WHERE place <= ? ORDER BY created_at, run_id"
        )
        counted = (
            "SELECT tenant, COUNT(*) FROM runs WHERE status IN ('pending', 'running') AND "
            "lease_owner IS NOT NULL AND lease_expires_at >= ? GROUP BY tenant"
        )

        def read(conn: sqlite3.Connection) -> tuple[list[RunRecord], dict[str | None, int]]:
            now = time.time()
            conn.execute("BEGIN")  # one snapshot for both
            try:
                rows = conn.execute(picked, [now, *names, per_tenant]).fetchall() if names else []
                counts = conn.execute(counted, (now,)).fetchall()
            finally:
                conn.execute("COMMIT")
            return [run_record(row) for row in rows], {t: int(n) for t, n in counts}

        return await self._read(read)

    # -- leases ------------------------------------------------------------------------------

    async def acquire_lease(self, run_id: str, owner: str, ttl: float) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            if _take_lease(conn, run_id, owner, ttl, time.time()):
                return True
            if not conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone():
                raise RunNotFoundError(f"no run {run_id!r} in {self.url}", run_id=run_id)
            return False

        return await self._write(job)

    async def acquire_leases(self, run_ids: Sequence[str], owner: str, ttl: float) -> list[str]:
        if not run_ids:
            return []

        def job(conn: sqlite3.Connection) -> list[str]:
            now = time.time()
            leased = []
            for run_id in run_ids:
                if _take_lease(conn, run_id, owner, ttl, now):
                    leased.append(run_id)
            return leased

        return await self._write(job)

    async def acquire_leases_capped(
        self,
        run_ids: Sequence[str],
        owner: str,
        ttl: float,
        *,
        caps: Mapping[str | None, int],
    ) -> list[str]:
        if not run_ids:
            return []

        # One write transaction (BEGIN IMMEDIATE: one writer at a time across every
        # process on the file): the tenant's live leases are counted and the run leased
        # with no other claim in between.
        def job(conn: sqlite3.Connection) -> list[str]:
            now = time.time()
            load: dict[str | None, int] = {}
            leased = []
            asked = list(dict.fromkeys(run_ids))
            rows = {}
            for run_id in asked:
                row = conn.execute(
                    "SELECT tenant, lease_owner = ? AND lease_expires_at >= ? "
                    "AND status IN ('pending', 'running') FROM runs WHERE run_id = ?",
                    (owner, now, run_id),
                ).fetchone()
                if row is not None:
                    rows[run_id] = (row[0], bool(row[1]))
            for run_id in asked:
                if run_id not in rows:
                    continue
                tenant = rows[run_id][0]
                cap = caps.get(tenant)
                if cap is not None and tenant not in load:
                    # The tenant's live leases, less those of the runs asked for that the
                    # claimer holds already (as on Postgres): a run held here counts
                    # against the cap once it is granted, like any other.
                    held = sum(1 for t, mine in rows.values() if mine and t == tenant)
                    load[tenant] = (
                        int(
                            conn.execute(
                                "SELECT COUNT(*) FROM runs WHERE tenant IS ? AND "
                                "status IN ('pending', 'running') AND lease_owner IS NOT NULL "
                                "AND lease_expires_at >= ?",
                                (tenant, now),
                            ).fetchone()[0]
                        )
                        - held
                    )
                if cap is not None and load[tenant] >= cap:
                    continue
                if _take_lease(conn, run_id, owner, ttl, now):
                    leased.append(run_id)
                    if cap is not None:
                        load[tenant] += 1
            return leased

        return await self._write(job)

    async def load_logs(
        self, run_ids: Sequence[str], *, upto_seq: int | None = None
    ) -> dict[str, list[EventRow]]:
        ids = list(dict.fromkeys(run_ids))
        last = -1 if upto_seq is None else upto_seq  # -1: no bound (seqs start at 1)

        def read(conn: sqlite3.Connection) -> dict[str, list[EventRow]]:
            logs: dict[str, list[EventRow]] = {}
            for start in range(0, len(ids), _IDS_PER_QUERY):
                chunk = ids[start : start + _IDS_PER_QUERY]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    "SELECT r.run_id, e.seq, e.step, e.ts, e.type, e.data FROM events e "
                    f"JOIN runs r ON r.id = e.run WHERE r.run_id IN ({marks}) "
                    "AND (? < 0 OR e.seq <= ?) ORDER BY e.run, e.seq",
                    [*chunk, last, last],
                ).fetchall()
                for run_id, seq, step, ts, kind, data in rows:
                    logs.setdefault(run_id, []).append(
                        EventRow(seq, step, ts, kind, _unpack(kind, data))
                    )
            return logs

        return await self._read(read)

    async def renew_leases(self, owner: str, run_ids: Sequence[str], ttl: float) -> list[str]:
        if not run_ids:
            return []

        def job(conn: sqlite3.Connection) -> list[str]:
            held = []
            expires = time.time() + ttl
            for run_id in run_ids:
                cur = conn.execute(
                    "UPDATE runs SET lease_expires_at = ? WHERE run_id = ? AND lease_owner = ?",
                    (expires, run_id, owner),
                )
                if cur.rowcount:
                    held.append(run_id)
            return held

        return await self._write(job)

    async def release_lease(self, run_id: str, owner: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL "
                "WHERE run_id = ? AND lease_owner = ?",
                (run_id, owner),
            )

        await self._write(job)

    async def claim_orphans(self, owner: str, ttl: float, *, limit: int = 100) -> list[str]:
        def job(conn: sqlite3.Connection) -> list[str]:
            now = time.time()
            rows = conn.execute(
                "SELECT run_id FROM runs WHERE status IN ('pending', 'running') AND "
                "(lease_owner IS NULL OR lease_expires_at < ?) ORDER BY updated_at LIMIT ?",
                (now, limit),
            ).fetchall()
            ids = [r[0] for r in rows]
            conn.executemany(
                "UPDATE runs SET lease_owner = ?, lease_expires_at = ? WHERE run_id = ?",
                [(owner, now + ttl, run_id) for run_id in ids],
            )
            return ids

        return await self._write(job)

    async def claim_due(self, owner: str, ttl: float, now: float, *, limit: int = 100) -> list[str]:
        def job(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT run_id FROM runs WHERE wake_at IS NOT NULL AND wake_at <= ? AND "
                "status IN ('waiting', 'escalated') AND "
                "(lease_owner IS NULL OR lease_owner = ? OR lease_expires_at < ?) "
                "ORDER BY wake_at LIMIT ?",
                (now, owner, now, limit),
            ).fetchall()
            ids = [r[0] for r in rows]
            conn.executemany(
                "UPDATE runs SET lease_owner = ?, lease_expires_at = ? WHERE run_id = ?",
                [(owner, now + ttl, run_id) for run_id in ids],
            )
            return ids

        return await self._write(job)

    # -- blobs and flags ---------------------------------------------------------------------

    async def put_blob(self, key: str, data: bytes) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR IGNORE INTO blobs (key, data) VALUES (?, ?)", (key, data))

        await self._write(job)

    async def get_blob(self, key: str) -> bytes | None:
        def read(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute("SELECT data FROM blobs WHERE key = ?", (key,)).fetchone()
            return bytes(row[0]) if row else None

        return await self._read(read)

    async def set_flag(self, name: str, value: str | None) -> None:
        def job(conn: sqlite3.Connection) -> None:
            if value is None:
                conn.execute("DELETE FROM flags WHERE name = ?", (name,))
            else:
                conn.execute(
                    "INSERT INTO flags (name, value, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
                    "updated_at = excluded.updated_at",
                    (name, value, time.time()),
                )

        await self._write(job)

    async def list_flags(self, prefix: str) -> dict[str, str]:
        def read(conn: sqlite3.Connection) -> dict[str, str]:
            rows = conn.execute(
                "SELECT name, value FROM flags WHERE substr(name, 1, ?) = ?",
                (len(prefix), prefix),
            ).fetchall()
            return {str(name): str(value) for name, value in rows}

        return await self._read(read)

    async def get_flag(self, name: str) -> str | None:
        def read(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT value FROM flags WHERE name = ?", (name,)).fetchone()
            return str(row[0]) if row else None

        return await self._read(read)

    # -- API keys and idempotency keys (the HTTP API) ---------------------------------------

    async def create_api_key(self, key: ApiKey) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
                (
                    key.key_id,
                    key.secret_hash,
                    key.tenant,
                    " ".join(key.scopes),
                    key.label,
                    key.created_at,
                    key.revoked_at,
                ),
            )

        await self._write(job)

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        def read(conn: sqlite3.Connection) -> ApiKey | None:
            row = conn.execute(
                f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
            return api_key(row) if row else None

        return await self._read(read)

    async def list_api_keys(self, *, tenant: str | None = None) -> list[ApiKey]:
        def read(conn: sqlite3.Connection) -> list[ApiKey]:
            rows = conn.execute(
                f"SELECT {KEY_COLUMNS} FROM api_keys WHERE ? IS NULL OR tenant = ? "
                "ORDER BY created_at, key_id",
                (tenant, tenant),
            ).fetchall()
            return [api_key(row) for row in rows]

        return await self._read(read)

    async def revoke_api_key(self, key_id: str, *, at: float | None = None) -> bool:
        when = time.time() if at is None else at

        def job(conn: sqlite3.Connection) -> bool:
            conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (when, key_id),
            )
            found = conn.execute("SELECT 1 FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
            return found is not None

        return await self._write(job)

    async def claim_idempotency_key(
        self, tenant: str, key: str, run_id: str, request_hash: str
    ) -> tuple[str, str]:
        def job(conn: sqlite3.Connection) -> tuple[str, str]:
            # One writer, one transaction: the INSERT either lands or meets the first
            # claim's row, which the SELECT then returns.
            conn.execute(
                "INSERT OR IGNORE INTO idempotency_keys "
                "(tenant, key, run_id, request_hash, created_at) VALUES (?,?,?,?,?)",
                (tenant, key, run_id, request_hash, time.time()),
            )
            row = conn.execute(
                "SELECT run_id, request_hash FROM idempotency_keys WHERE tenant = ? AND key = ?",
                (tenant, key),
            ).fetchone()
            return str(row[0]), str(row[1])

        return await self._write(job)

    async def release_idempotency_key(self, tenant: str, key: str, run_id: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM idempotency_keys WHERE tenant = ? AND key = ? AND run_id = ? "
                "AND taken_over_at IS NULL",
                (tenant, key, run_id),
            )

        await self._write(job)

    async def take_over_idempotency_key(
        self, tenant: str, key: str, run_id: str, *, stale_after: float
    ) -> Literal["taken", "recent", "gone"]:
        def job(conn: sqlite3.Connection) -> Literal["taken", "recent", "gone"]:
            now = time.time()  # the clock claim_idempotency_key stamps created_at with
            cur = conn.execute(
                "UPDATE idempotency_keys SET taken_over_at = ? "
                "WHERE tenant = ? AND key = ? AND run_id = ? "
                "AND COALESCE(taken_over_at, created_at) <= ?",
                (now, tenant, key, run_id, now - stale_after),
            )
            if cur.rowcount:
                return "taken"
            row = conn.execute(
                "SELECT 1 FROM idempotency_keys WHERE tenant = ? AND key = ? AND run_id = ?",
                (tenant, key, run_id),
            ).fetchone()
            return "recent" if row is not None else "gone"

        return await self._write(job)

    # -- token buckets shared by every process on the file -----------------------------------

    async def take_tokens(
        self, takes: Sequence[TokenTake], *, now: float | None = None
    ) -> TokenGrant:
        check_takes(takes)
        if not takes:
            return TokenGrant(True, ())

        def job(conn: sqlite3.Connection) -> TokenGrant:
            # A write job: it runs inside a BEGIN IMMEDIATE transaction, which holds the
            # file's write lock, so reading the levels and writing them back is atomic
            # across every process on the file. Processes on one file share one clock.
            at = time.time() if now is None else now
            marks = ",".join("?" * len(takes))
            found = {
                str(key): (float(level), float(then))
                for key, level, then in conn.execute(
                    f"SELECT key, level, at FROM token_buckets WHERE key IN ({marks})",
                    [t.key for t in takes],
                )
            }
            grant, after = settle_takes(takes, found, at)
            if after:
                conn.executemany(
                    "INSERT INTO token_buckets (key, level, at, rate, capacity, last_amount) "
                    "VALUES (?,?,?,?,?,?) ON CONFLICT (key) DO UPDATE SET level = excluded.level, "
                    "at = excluded.at, rate = excluded.rate, capacity = excluded.capacity, "
                    "last_amount = excluded.last_amount",
                    [(t.key, *after[t.key], t.rate, t.capacity, t.amount) for t in takes],
                )
            return grant

        return await self._write(job)


_HEADS: dict[str, bytes] = {}


def _head(kind: str) -> bytes:
    head = _HEADS.get(kind)
    if head is None:
        head = _HEADS[kind] = b'{"v":1,"type":' + json.dumps(kind).encode() + b","
    return head


def _take_lease(conn: sqlite3.Connection, run_id: str, owner: str, ttl: float, now: float) -> bool:
    """Lease one run to ``owner`` until ``now + ttl`` if it is free, expired or already its."""
    cur = conn.execute(
        "UPDATE runs SET lease_owner = ?, lease_expires_at = ? WHERE run_id = ? AND "
        "(lease_owner IS NULL OR lease_owner = ? OR lease_expires_at < ?)",
        (owner, now + ttl, run_id, owner, now),
    )
    return cur.rowcount == 1


def _pack(kind: str, data: bytes) -> bytes:
    """An event's JSON as stored: without the ``{"v":1,"type":"<type>",`` it begins with.

    The ``type`` column already says it, so the log does not store it twice (about 30
    bytes an event, a tenth of a turn). What remains begins with ``"`` where a JSON
    object begins with ``{``, so :func:`_unpack` knows which form it reads; JSON that
    does not begin so (another schema version, an event with no fields) is stored as is.
    The hash chain covers the JSON as written, not this form.
    """
    head = _head(kind)
    return data[len(head) :] if data.startswith(head) else data


def _unpack(kind: str, stored: bytes | memoryview) -> bytes:
    """The event's JSON from its stored form (see :func:`_pack`)."""
    data = bytes(stored)
    return data if data[:1] == b"{" else _head(kind) + data


_INSERT_EVENTS = "INSERT INTO events (run, seq, step, ts, type, data, hash) VALUES (?,?,?,?,?,?,?)"
"""An event row with its hash-chain link, in one INSERT."""

_ADVANCE = (
    "UPDATE runs SET last_seq = ?, updated_at = ?, "
    "status = CASE WHEN ? THEN ? ELSE status END, "
    "reason = CASE WHEN ? THEN ? ELSE reason END, "
    "wake_at = CASE WHEN ? THEN ? ELSE wake_at END, "
    "lease_owner = CASE WHEN ? THEN NULL ELSE lease_owner END, "
    "lease_expires_at = CASE WHEN ? THEN NULL ELSE lease_expires_at END "
    "WHERE id = ? AND last_seq = ? AND (? IS NULL OR lease_owner = ?)"
)
"""Move a run's summary row to the end of an append, only if the log ends where the
writer expects and the writer holds the lease: the check and the write are one
statement, in the append's transaction."""


_STEP = (
    "UPDATE runs SET last_seq = ?, updated_at = ? "
    "WHERE id = ? AND last_seq = ? AND (? IS NULL OR lease_owner = ?)"
)
"""``_ADVANCE`` for an append that changes nothing but the log's end (most steps): it sets
no indexed column, so SQLite rewrites no index entry and the commit writes fewer pages."""


def _advance(pk: int, append: _Append) -> tuple[str, tuple[Any, ...]]:
    """The statement and parameters that move a run's summary row to the end of an append."""
    if append.update is None:
        last = append.events[-1]
        return _STEP, (
            last.seq,
            last.ts,
            pk,
            append.events[0].seq - 1,
            append.owner,
            append.owner,
        )
    return _ADVANCE, _advance_params(pk, append)


def _advance_params(pk: int, append: _Append) -> tuple[Any, ...]:
    last = append.events[-1]
    update = append.update
    has_status = update is not None and update.status is not None
    release = update is not None and update.release_lease
    return (
        last.seq,
        last.ts,
        has_status,
        update.status if update is not None else None,
        has_status,
        update.reason if update is not None else None,
        has_status,
        update.wake_at if update is not None else None,
        release,
        release,
        pk,
        append.events[0].seq - 1,
        append.owner,
        append.owner,
    )


_WAITING = (
    "status = 'pending' AND "
    "(lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at < :now)"
)
"""A run waiting to be executed: ``pending``, with no live lease at ``:now``."""


def _count_waiting(conn: sqlite3.Connection, now: float, limit: int) -> int:
    """Runs ``pending`` with no live lease, counted up to ``limit``."""
    row = conn.execute(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM runs WHERE {_WAITING} LIMIT :limit)",
        {"now": now, "limit": limit},
    ).fetchone()
    return int(row[0])


def _tenant_queue(
    conn: sqlite3.Connection, now: float, tenant: str | None, limit: int
) -> tuple[int, int]:
    """The runs of ``tenant`` waiting (``pending``, no live lease), counted up to
    ``limit``, and how many tenants have one (no tenant is one more)."""
    mine = conn.execute(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM runs WHERE tenant IS :tenant AND {_WAITING} "
        "LIMIT :limit)",
        {"tenant": tenant, "now": now, "limit": limit},
    ).fetchone()
    tenants = conn.execute(
        f"SELECT COUNT(*) FROM (SELECT DISTINCT tenant FROM runs WHERE {_WAITING})",
        {"now": now},
    ).fetchone()
    return int(mine[0]), int(tenants[0])


def _as_store_error(exc: Exception) -> Exception:
    """A raw SQLite error from a job becomes a StoreError (transient when it is a lock)."""
    if isinstance(exc, sqlite3.Error):
        return StoreError(f"sqlite: {exc}", transient=_transient(exc), cause=type(exc).__name__)
    return exc


_TRANSIENT = ("locked", "busy", "disk i/o", "unable to open", "interrupted")


def _transient(exc: BaseException) -> bool:
    """Whether a SQLite failure goes away by itself (a lock held by another process, I/O)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    message = str(exc).lower()
    return any(word in message for word in _TRANSIENT)


def _check_append(conn: sqlite3.Connection, pk: int, append: _Append) -> None:
    """Say why an append's conditional UPDATE matched no row: a lost lease or a moved log.

    Runs inside the append's transaction, after ``_ADVANCE`` refused it.
    """
    row = conn.execute("SELECT last_seq, lease_owner FROM runs WHERE id = ?", (pk,)).fetchone()
    last_seq, lease_owner = row
    first = append.events[0].seq
    if append.owner is not None and lease_owner != append.owner:
        raise LeaseLostError(
            f"run {append.run_id}: {append.owner} no longer holds the lease "
            f"(held by {lease_owner or 'nobody'}); this process must stop driving the run",
            run_id=append.run_id,
            owner=append.owner,
            holder=lease_owner,
        )
    if last_seq != first - 1:
        raise ConcurrentWriteError(
            f"run {append.run_id}: expected to append after seq {first - 1}, but the log "
            f"ends at {last_seq}; another writer appended to this run",
            run_id=append.run_id,
            expected=first - 1,
            actual=last_seq,
        )


def _settle(items: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for fut, ok, value in items:
        if fut.cancelled():
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)
