"""Postgres store: psycopg 3 async over a pool, leases shared by workers on many machines.

Each append's first statement is a conditional UPDATE of the run's summary row: it
matches only if the log ends where the writer expects and the writer still holds the
lease, and it locks the row, so the check and the write cannot be separated by another
worker. The same statement returns the hash of the event the append links to, so the
hash chain costs no extra round trip. Appends made while a transaction is in flight
share the next one (group commit, as the SQLite store does): one UPDATE over all their
rows, one INSERT of all their events, one WAL flush; an append whose conditions fail
gets the error it would get alone, and its neighbours land.

Lease times use the database's clock (``clock_timestamp()``), never a worker's: one
clock decides when a lease has expired, whatever the skew between machines.
``claim_orphans`` and ``claim_due`` pick rows with ``FOR UPDATE SKIP LOCKED``, so two
workers claiming at once never wait for each other and never both claim one run.

A change that makes a run claimable (a new unleased run, a lease given back on a live
run, a timer set) sends ``NOTIFY tether_work`` in its transaction; :meth:`wait_for_work`
listens on a connection of its own and returns early when one arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from tether.exceptions import (
    ConcurrentWriteError,
    ConfigError,
    LeaseLostError,
    MissingExtraError,
    RunNotFoundError,
    SchemaVersionError,
    StoreError,
)
from tether.store._base import (
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
from tether.store._urls import safe_store_url

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg.rows import TupleRow
    from psycopg_pool import AsyncConnectionPool
except ImportError as exc:  # pragma: no cover - exercised without the extra only
    raise MissingExtraError("postgres", exc.name or "psycopg") from exc

log = logging.getLogger("tether.store")

T = TypeVar("T")
_Conn = psycopg.AsyncConnection[TupleRow]

CHANNEL = "tether_work"
"""The ``NOTIFY`` channel a change that makes a run claimable is announced on."""

_MIGRATION_LOCK = 0x7E7E_0001
"""Advisory lock key: two workers starting at once migrate one after the other."""

_CLAIMABLE = ("pending", "running")
_NOW = "extract(epoch FROM clock_timestamp())::float8"
_POOL_OPTIONS = ("pool_size", "pool_timeout")
_CLOCK_CHECK = 10.0
"""Seconds between two measurements of the database clock's offset (with lease renewals)."""


def _migrations() -> list[tuple[int, list[str]]]:
    return [
        (version, [s for s in sql.split(";") if s.strip()])
        for version, sql in migration_scripts("tether.store.migrations.postgres")
    ]


def _tenant_lock_key(tenant: str | None) -> str:
    """The text a tenant's advisory lock is hashed from (runs without a tenant share one)."""
    return "none" if tenant is None else f"t:{tenant}"


def _split_url(url: str) -> tuple[str, dict[str, str]]:
    """The libpq conninfo URL and Tether's own pool options (``pool_size``, ``pool_timeout``)."""
    parts = urlsplit(url)
    ours: dict[str, str] = {}
    rest: list[str] = []
    for pair in parts.query.split("&") if parts.query else []:
        # libpq's options pass through as written (re-encoding would turn spaces into "+").
        parsed = parse_qsl(pair, keep_blank_values=True)
        if parsed and parsed[0][0] in _POOL_OPTIONS:
            ours[parsed[0][0]] = parsed[0][1]
        else:
            rest.append(pair)
    return urlunsplit(parts._replace(query="&".join(rest))), ours


_NOT_TRANSIENT_CLASSES = ("28", "3D", "42")
"""Authorization, unknown database, and SQL errors: waiting will not fix those."""


_REFUSED_FOR_GOOD = (
    # The server's FATAL answers while connecting (3D000, 28000, 28P01, 42501): libpq
    # reports them as text only, with no SQLSTATE.
    re.compile(r'database ".*" does not exist'),
    re.compile(r'role ".*" does not exist'),
    re.compile(r"authentication failed for user"),
    re.compile(r"no pg_hba\.conf entry"),
    re.compile(r"permission denied for database"),
    re.compile(r"is not permitted to log in"),
    # libpq's own refusals of the connection settings, before any server is asked.
    re.compile(r"\binvalid \S+ value\b"),
    re.compile(r"invalid connection option"),
    re.compile(r"invalid URI query parameter"),
    re.compile(r"no password supplied"),
    re.compile(r"server does not support SSL, but SSL was required"),
)
"""Connection failures that waiting will not fix: the database, the role or its password,
or a connection setting is wrong."""


def _transient(exc: BaseException) -> bool:
    """Whether a Postgres failure goes away by itself: a lost connection, a server
    restarting or shutting down, a serialization failure or deadlock, no free connection."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate or ""
    if not state:
        # A failure to connect carries no SQLSTATE; its text tells a server that is not
        # up yet (refused, starting up, too many clients) from one that refuses for good.
        text = str(exc)
        return not any(pattern.search(text) for pattern in _REFUSED_FOR_GOOD)
    return not state.startswith(_NOT_TRANSIENT_CLASSES)


class PostgresStore(Store):
    """Runs in a Postgres database shared by every worker of a fleet.

    ``url`` is a libpq URL (``postgresql://user:pass@host:5432/db``, ``postgres://``
    works too); two query options are Tether's own and not passed on: ``pool_size``
    (most connections this process opens, default 10) and ``pool_timeout`` (seconds an
    operation waits for a free connection or a reconnect before it fails as a transient
    :class:`~tether.exceptions.StoreError`, default 10).
    """

    def __init__(self, url: str) -> None:
        self.url = safe_store_url(url)
        """The URL as it may be shown: its password is masked (it connects with ``url``)."""
        self._conninfo, options = _split_url(url)
        try:
            self.pool_size = int(options.get("pool_size", "10"))
            self.pool_timeout = float(options.get("pool_timeout", "10"))
        except ValueError:
            self.pool_size = self.pool_timeout = -1
        # inf (or nan) would pass a bare "> 0" and fail later, in open(), as a crash.
        if self.pool_size < 1 or not 0 < self.pool_timeout < math.inf:
            raise ConfigError(
                f"store URL {safe_store_url(url)!r}: pool_size must be a positive integer and "
                "pool_timeout a positive, finite number of seconds",
                url=safe_store_url(url),
            )
        self._where = safe_store_url(url)
        self._clock_offset = 0.0
        """The database's clock less this machine's, as last measured (see :meth:`clock`)."""
        self._clock_checked = -math.inf
        self._pool: AsyncConnectionPool[_Conn] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._work = asyncio.Event()
        self._listening = asyncio.Event()
        """Set while the listener's ``LISTEN`` is in place (a test waits for it)."""
        self._work_seen = 0
        self._work_count = 0
        # Group commit: appends queued while a transaction is in flight go out together.
        self._appends: list[_Append] = []
        self._appender: asyncio.Task[None] | None = None
        self.commit_count = 0
        """Append transactions committed (a group counts once)."""
        self.write_count = 0
        """Appends those transactions carried."""

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            # The migration runs on a connection of its own: a refused connection (no such
            # database, a wrong password) fails here with the server's own words.
            conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=int(self.pool_timeout) or 1
            )
            async with conn:
                await self._migrate(conn)
                await self._measure_clock(conn)
        except psycopg.Error as exc:
            raise self._error("cannot open", exc) from exc
        pool: AsyncConnectionPool[_Conn] = AsyncConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=self.pool_size,
            kwargs={"autocommit": True},
            # A connection is checked as it leaves the pool: after a Postgres restart the
            # dead ones are replaced instead of failing the next operations.
            check=_check_connection,
            timeout=self.pool_timeout,
            name="tether",
            open=False,
        )
        await pool.open(wait=False)
        self._pool = pool
        # Fresh wake-up events for this event loop (a store may be reopened in another).
        self._work, self._listening = asyncio.Event(), asyncio.Event()

    def clock(self) -> float:
        # The database's clock, which decides leases and timers, from this machine's and
        # the offset last measured (no round trip): a worker whose own clock is off stamps
        # and judges approval expiry on the same clock as every other worker.
        return time.time() + self._clock_offset

    async def _measure_clock(self, conn: _Conn) -> None:
        """Measure the database clock's offset from this machine's (to within half a
        round trip)."""
        sent = time.time()
        started = time.monotonic()
        row = await (await conn.execute(f"SELECT {_NOW}")).fetchone()
        elapsed = time.monotonic() - started
        if row is not None:
            self._clock_offset = float(row[0]) - (sent + elapsed / 2)
            self._clock_checked = time.monotonic()

    async def _migrate(self, conn: _Conn) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
            )
            row = await (await conn.execute("SELECT version FROM schema_version")).fetchone()
            current = int(row[0]) if row else 0
            migrations = _migrations()
            latest = migrations[-1][0] if migrations else 0
            if current > latest:
                raise SchemaVersionError(
                    f"database {self._where} is at schema version {current}; this Tether "
                    f"knows up to {latest}. Upgrade tether-runtime.",
                    version=current,
                    supported=latest,
                )
            for number, statements in migrations:
                if number > current:
                    for statement in statements:
                        await conn.execute(statement)
            if row is None:
                await conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (latest,))
            elif latest != current:
                await conn.execute("UPDATE schema_version SET version = %s", (latest,))

    async def close(self) -> None:
        appender, self._appender = self._appender, None
        if appender is not None:
            # Appends already queued are written (or fail) before the pool goes away.
            with contextlib.suppress(Exception):
                await asyncio.shield(appender)
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # -- running SQL -------------------------------------------------------------------------

    def _error(self, what: str, exc: psycopg.Error) -> StoreError:
        transient = _transient(exc)
        message = str(exc).strip() or type(exc).__name__
        return StoreError(
            f"postgres {self._where}: {what}: {message}",
            transient=transient,
            cause=type(exc).__name__,
            sqlstate=exc.sqlstate,
        )

    async def _run(self, what: str, fn: Callable[[_Conn], Awaitable[T]]) -> T:
        """Run ``fn`` on a pooled connection; a driver error becomes a StoreError."""
        pool = self._pool
        if pool is None:
            raise StoreError("store is not open; use `async with Runtime(...)` or await open()")
        try:
            async with pool.connection() as conn:
                return await fn(conn)
        except psycopg.Error as exc:
            raise self._error(what, exc) from exc

    async def _rows(
        self, what: str, sql: str, params: Sequence[Any] | Mapping[str, Any]
    ) -> list[TupleRow]:
        async def read(conn: _Conn) -> list[TupleRow]:
            return await (await conn.execute(sql, params)).fetchall()

        return await self._run(what, read)

    async def _one(self, what: str, sql: str, params: Sequence[Any]) -> TupleRow | None:
        rows = await self._rows(what, sql, params)
        return rows[0] if rows else None

    # -- runs and events ---------------------------------------------------------------------

    @staticmethod
    def _chained(
        pk: int, run_id: str, prev: bytes | None, events: Sequence[EventRow]
    ) -> list[tuple[Any, ...]]:
        """The rows to insert for ``events``, linked into the run's hash chain after ``prev``
        (the hash of the event before the first; the genesis value when there is none)."""
        links = chain_links(run_id, prev, events)
        return [
            (pk, e.seq, e.step, e.ts, e.type, e.data, link)
            for e, link in zip(events, links, strict=True)
        ]

    async def create_run(self, record: RunRecord, events: Sequence[EventRow]) -> None:
        await self._create_run(record, events, None)

    async def create_run_bounded(
        self, record: RunRecord, events: Sequence[EventRow], *, max_waiting: int
    ) -> None:
        # One transaction: an advisory lock taken for it serialises bounded creates across
        # every process, and under READ COMMITTED the count (a statement after the lock)
        # sees every run the previous holders inserted.
        await self._create_run(record, events, max_waiting)

    async def count_waiting(self, *, limit: int) -> int:
        rows = await self._rows("count_waiting", _COUNT_WAITING, {"limit": limit})
        return int(rows[0][0]) if rows else 0

    async def tenant_queue(self, tenant: str | None, *, limit: int) -> tuple[int, int]:
        rows = await self._rows("tenant_queue", _TENANT_QUEUE, {"tenant": tenant, "limit": limit})
        return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)

    async def _create_run(
        self, record: RunRecord, events: Sequence[EventRow], max_waiting: int | None
    ) -> None:
        async def job(conn: _Conn) -> None:
            async with conn.transaction():
                if max_waiting is not None:
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_QUEUE_LOCK,))
                    row = await (
                        await conn.execute(_COUNT_WAITING, {"limit": 2 * max_waiting})
                    ).fetchone()
                    waiting = int(row[0]) if row else 0
                    # A full queue still admits a tenant below its fair share (Store docs).
                    if waiting >= max_waiting:
                        share = await (
                            await conn.execute(
                                _TENANT_QUEUE,
                                {"tenant": record.tenant, "limit": 2 * max_waiting},
                            )
                        ).fetchone()
                        mine, tenants = (int(share[0]), int(share[1])) if share else (0, 0)
                        refuse_beyond_share(waiting, max_waiting, mine, tenants)
                cur = await conn.execute(
                    f"INSERT INTO runs ({RUN_COLUMNS}) VALUES "
                    "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
                    "ON CONFLICT (run_id) DO NOTHING RETURNING id",
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
                row = await cur.fetchone()
                if row is None:
                    raise ConcurrentWriteError(
                        f"run {record.run_id} already exists", run_id=record.run_id
                    )
                if events:
                    await cur.executemany(
                        _INSERT_EVENTS, self._chained(int(row[0]), record.run_id, None, events)
                    )
                if record.status in _CLAIMABLE and record.lease_owner is None:
                    await _notify(conn, record.run_id)

        await self._run("create_run", job)

    async def append(
        self,
        run_id: str,
        events: Sequence[EventRow],
        update: RunUpdate | None = None,
        *,
        owner: str | None = None,
    ) -> None:
        """Append as the base class says; appends made while a transaction is in flight
        commit together in the next one (group commit: one round trip pair and one WAL
        flush for hundreds of runs' steps), each still checked on its own."""
        if not events:
            return
        if self._pool is None:
            raise StoreError("store is not open; use `async with Runtime(...)` or await open()")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._appends.append(_Append(run_id, events, update, owner, done))
        if self._appender is None or self._appender.done():
            self._appender = loop.create_task(self._write_appends())
        # A caller cancelled while its append is being written does not stop the write
        # (as with SQLite's group commit): the log says whether it landed.
        await done

    async def _write_appends(self) -> None:
        """Write queued appends, a group per transaction, until none are left."""
        while self._appends:
            group: list[_Append] = []
            rest: list[_Append] = []
            seen: set[str] = set()
            for item in self._appends:
                # One append per run in a group (a run's next append waits for the one
                # before it anyway), and a bound on how long one transaction holds rows.
                if item.run_id in seen or len(group) >= _MAX_GROUP:
                    rest.append(item)
                else:
                    seen.add(item.run_id)
                    group.append(item)
            self._appends = rest
            try:
                if len(group) == 1:
                    await self._append_alone(group[0])
                else:
                    await self._append_group(group)
            except BaseException as exc:  # settle every waiter, then go on
                error = exc if isinstance(exc, Exception) else StoreError(f"append: {exc!r}")
                for item in group:
                    _fail(item.done, error)
                if not isinstance(exc, Exception):
                    for item in self._appends:
                        _fail(item.done, error)
                    self._appends = []
                    raise

    async def _append_alone(self, item: _Append) -> None:
        """One append, one transaction (the group statement, for a group of one)."""
        try:
            refused = await self._run("append", lambda conn: self._group_job(conn, [item]))
        except Exception as exc:
            _fail(item.done, exc)
            return
        error = refused.get(item.run_id)
        if error is not None:
            _fail(item.done, error)
            return
        self.commit_count += 1
        self.write_count += 1
        _succeed(item.done)

    async def _append_group(self, group: list[_Append]) -> None:
        """Several runs' appends in one transaction: one conditional UPDATE moves every
        summary row whose log ends where its writer expects (and whose lease the writer
        holds), locking them in id order as lease renewals do; the others fail alone, with
        the reason a single append would give. Any other failure of the group retries its
        appends one by one, so only the offending one fails."""
        try:
            refused = await self._run("append", lambda conn: self._group_job(conn, group))
        except StoreError as exc:
            if exc.transient:
                for item in group:
                    _fail(item.done, copy.copy(exc))
                return
            for item in group:
                await self._append_alone(item)
            return
        if len(refused) < len(group):
            self.commit_count += 1
            self.write_count += len(group) - len(refused)
        for item in group:
            error = refused.get(item.run_id)
            if error is None:
                _succeed(item.done)
            else:
                _fail(item.done, error)

    async def _group_job(self, conn: _Conn, group: list[_Append]) -> dict[str, Exception]:
        """The appends' transaction: two round trips (BEGIN and the conditional UPDATE, then
        the INSERT, the NOTIFY and the COMMIT), plus one to say why when some are refused.
        Returns the refused appends' errors by run id."""
        try:
            return await self._group_transaction(conn, group)
        except pg_errors.UniqueViolation as exc:
            if len(group) == 1:  # alone, the collision is this append's
                raise _collision(group[0]) from exc
            raise

    async def _group_transaction(self, conn: _Conn, group: list[_Append]) -> dict[str, Exception]:
        columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [], [], [])
        for item in group:
            for column, value in zip(columns, _group_values(item), strict=True):
                column.append(value)
        refused: dict[str, Exception] = {}
        async with conn.pipeline(), conn.transaction():
            cur = await conn.execute(_ADVANCE_GROUP, columns)
            moved = {row[0]: row[1:] for row in await cur.fetchall()}
            left = [item for item in group if item.run_id not in moved]
            if left:
                found = await (
                    await conn.execute(
                        "SELECT run_id, last_seq, lease_owner FROM runs WHERE run_id = ANY(%s)",
                        ([item.run_id for item in left],),
                    )
                ).fetchall()
                summary = {row[0]: (row[1], row[2]) for row in found}
                for item in left:
                    refused[item.run_id] = _refusal(
                        item.run_id,
                        item.owner,
                        item.events[0].seq,
                        summary.get(item.run_id),
                        self._where,
                    )
            rows: list[tuple[Any, ...]] = []
            announce: list[str] = []
            for item in group:
                if item.run_id not in moved:
                    continue
                pk, prev, status, lease_owner, wake_at = moved[item.run_id]
                rows += self._chained(int(pk), item.run_id, prev and bytes(prev), item.events)
                if _announces(item, status, lease_owner, wake_at):
                    announce.append(item.run_id)
            if rows:
                await cur.execute(
                    _INSERT_EVENT_ROWS, [list(column) for column in zip(*rows, strict=True)]
                )
            if announce:
                await conn.execute(_NOTIFY_MANY, (CHANNEL, announce))
        return refused

    async def load_events(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[EventRow]:
        rows = await self._rows(
            "load_events",
            "SELECT e.seq, e.step, e.ts, e.type, e.data FROM events e "
            "JOIN runs r ON r.id = e.run WHERE r.run_id = %s AND e.seq > %s ORDER BY e.seq "
            "LIMIT %s",
            (run_id, after_seq, limit),
        )
        return [EventRow(seq, step, ts, kind, bytes(data)) for seq, step, ts, kind, data in rows]

    async def load_event_chain(self, run_id: str) -> EventChain | None:
        async def read(conn: _Conn) -> EventChain | None:
            # One snapshot: the summary row and the log agree with each other.
            async with conn.transaction():
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                run = await (
                    await conn.execute(
                        "SELECT id, last_seq, created_at FROM runs WHERE run_id = %s", (run_id,)
                    )
                ).fetchone()
                if run is None:
                    return None
                rows = await (
                    await conn.execute(
                        "SELECT seq, step, ts, type, data, hash FROM events WHERE run = %s "
                        "ORDER BY seq",
                        (run[0],),
                    )
                ).fetchall()
                since_row = await (
                    await conn.execute("SELECT min(since) FROM event_chain")
                ).fetchone()
            since = since_row[0] if since_row else None
            return EventChain(
                run_id,
                [
                    EventRow(
                        seq, step, ts, kind, bytes(data), None if digest is None else bytes(digest)
                    )
                    for seq, step, ts, kind, data, digest in rows
                ],
                int(run[1]),
                predates_chain=since is None or float(run[2]) < float(since),
            )

        return await self._run("load_event_chain", read)

    async def get_run(self, run_id: str) -> RunRecord | None:
        row = await self._one(
            "get_run", f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = %s", (run_id,)
        )
        return run_record(row) if row else None

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
            clauses.append("status = ANY(%s)")
            params.append(list(statuses))
        if agent:
            clauses.append("agent = %s")
            params.append(agent)
        if tenant is not None:
            clauses.append("tenant = %s")
            params.append(tenant)
        if since is not None:
            clauses.append("created_at >= %s")
            params.append(since)
        if until is not None:
            clauses.append("created_at < %s")
            params.append(until)
        if cursor is not None:
            # Strictly after the previous page's last run in (created_at, run_id) DESC order.
            clauses.append("(created_at, run_id) < (%s, %s)")
            params.extend((cursor[0], cursor[1]))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        params.append(limit)
        rows = await self._rows(
            "list_runs",
            f"SELECT {RUN_COLUMNS} FROM runs {where} "
            "ORDER BY created_at DESC, run_id DESC LIMIT %s",
            params,
        )
        return [run_record(row) for row in rows]

    async def claim_candidates(
        self, *, agents: Sequence[str], per_tenant: int
    ) -> tuple[list[RunRecord], dict[str | None, int]]:
        names = list(dict.fromkeys(agents))

        async def read(conn: _Conn) -> tuple[list[RunRecord], dict[str | None, int]]:
            async with conn.transaction():  # one clock and snapshot for both
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                now = await (await conn.execute(f"SELECT {_NOW}")).fetchone()
                assert now is not None
                params = {"now": now[0], "agents": names, "per_tenant": per_tenant}
                rows = await (await conn.execute(_CANDIDATES, params)).fetchall() if names else []
                counts = await (await conn.execute(_EXECUTING, params)).fetchall()
            return [run_record(row) for row in rows], {t: int(n) for t, n in counts}

        return await self._run("claim_candidates", read)

    # -- leases ------------------------------------------------------------------------------

    async def acquire_lease(self, run_id: str, owner: str, ttl: float) -> bool:
        async def job(conn: _Conn) -> bool:
            cur = await conn.execute(
                f"WITH clock AS (SELECT {_NOW} AS now) "
                "UPDATE runs SET lease_owner = %(owner)s, lease_expires_at = clock.now + %(ttl)s "
                "FROM clock WHERE run_id = %(run_id)s AND (lease_owner IS NULL "
                "OR lease_owner = %(owner)s OR lease_expires_at < clock.now) RETURNING 1",
                {"owner": owner, "ttl": float(ttl), "run_id": run_id},
            )
            if await cur.fetchone() is not None:
                return True
            found = await (
                await conn.execute("SELECT 1 FROM runs WHERE run_id = %s", (run_id,))
            ).fetchone()
            if found is None:
                raise RunNotFoundError(f"no run {run_id!r} in {self._where}", run_id=run_id)
            return False

        return await self._run("acquire_lease", job)

    async def acquire_leases(self, run_ids: Sequence[str], owner: str, ttl: float) -> list[str]:
        if not run_ids:
            return []
        # One statement; rows are locked in id order (no deadlock between workers claiming
        # overlapping lists), and a row another worker is leasing right now is skipped:
        # it is being taken.
        free = "(lease_owner IS NULL OR lease_owner = %(owner)s OR lease_expires_at < clock.now)"
        rows = await self._rows(
            "acquire_leases",
            f"WITH clock AS (SELECT {_NOW} AS now), chosen AS (SELECT id FROM runs, clock "
            f"WHERE run_id = ANY(%(ids)s) AND {free} ORDER BY id FOR UPDATE OF runs SKIP LOCKED) "
            "UPDATE runs SET lease_owner = %(owner)s, lease_expires_at = clock.now + %(ttl)s "
            f"FROM clock WHERE runs.id IN (SELECT id FROM chosen) AND {free} RETURNING run_id",
            {"ids": list(run_ids), "owner": owner, "ttl": float(ttl)},
        )
        leased = {row[0] for row in rows}
        return [run_id for run_id in run_ids if run_id in leased]

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
        ids = list(dict.fromkeys(run_ids))

        async def job(conn: _Conn) -> set[str]:
            async with conn.transaction():
                rows = await (
                    await conn.execute(
                        "SELECT run_id, tenant FROM runs WHERE run_id = ANY(%s)", (ids,)
                    )
                ).fetchall()
                tenant_of: dict[str, str | None] = {r[0]: r[1] for r in rows}
                groups: dict[str | None, list[str]] = {}
                for run_id in ids:
                    if run_id in tenant_of:
                        groups.setdefault(tenant_of[run_id], []).append(run_id)
                # A transaction lock per capped tenant, taken in one order by everyone (no
                # deadlock): claims of one tenant are serialised across processes, and the
                # count below (a statement after the lock, READ COMMITTED) sees the leases
                # every earlier holder committed.
                capped = sorted((t for t in groups if t in caps), key=_tenant_lock_key)
                for tenant in capped:
                    await conn.execute(
                        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                        (_TENANT_LOCK, _tenant_lock_key(tenant)),
                    )
                leased: set[str] = set()
                for tenant, group in groups.items():
                    room: int | None = None
                    if tenant in caps:
                        row = await (
                            await conn.execute(
                                _LIVE_OF_TENANT, {"tenant": tenant, "ids": group, "owner": owner}
                            )
                        ).fetchone()
                        room = max(0, caps[tenant] - (int(row[0]) if row else 0))
                        if room == 0:
                            continue
                    taken = await (
                        await conn.execute(
                            _LEASE_IN_ORDER,
                            {"ids": group, "owner": owner, "ttl": float(ttl), "room": room},
                        )
                    ).fetchall()
                    leased.update(r[0] for r in taken)
                return leased

        leased = await self._run("acquire_leases_capped", job)
        return [run_id for run_id in ids if run_id in leased]

    async def load_logs(
        self, run_ids: Sequence[str], *, upto_seq: int | None = None
    ) -> dict[str, list[EventRow]]:
        if not run_ids:
            return {}
        rows = await self._rows(
            "load_logs",
            "SELECT r.run_id, e.seq, e.step, e.ts, e.type, e.data FROM events e "
            "JOIN runs r ON r.id = e.run WHERE r.run_id = ANY(%s) "
            "AND (%s::bigint IS NULL OR e.seq <= %s::bigint) ORDER BY e.run, e.seq",
            (list(run_ids), upto_seq, upto_seq),
        )
        logs: dict[str, list[EventRow]] = {}
        for run_id, seq, step, ts, kind, data in rows:
            logs.setdefault(run_id, []).append(EventRow(seq, step, ts, kind, bytes(data)))
        return logs

    async def renew_leases(self, owner: str, run_ids: Sequence[str], ttl: float) -> list[str]:
        if time.monotonic() - self._clock_checked >= _CLOCK_CHECK:
            # A worker's heartbeat: the clock offset is measured again now and then (a
            # machine's clock may be stepped, or drift, while it runs).
            await self._run("clock", self._measure_clock)
        if not run_ids:
            return []
        # The rows are locked in id order: two workers renewing overlapping lists cannot
        # deadlock on each other.
        rows = await self._rows(
            "renew_leases",
            f"UPDATE runs SET lease_expires_at = {_NOW} + %s WHERE id IN ("
            "SELECT id FROM runs WHERE lease_owner = %s AND run_id = ANY(%s) "
            "ORDER BY id FOR UPDATE) AND lease_owner = %s RETURNING run_id",
            (float(ttl), owner, list(run_ids), owner),
        )
        held = {row[0] for row in rows}
        return [run_id for run_id in run_ids if run_id in held]

    async def release_lease(self, run_id: str, owner: str) -> None:
        async def job(conn: _Conn) -> None:
            async with conn.transaction():
                row = await (
                    await conn.execute(
                        "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL "
                        "WHERE run_id = %s AND lease_owner = %s RETURNING status",
                        (run_id, owner),
                    )
                ).fetchone()
                if row is not None and row[0] in _CLAIMABLE:
                    await _notify(conn, run_id)  # a live run left behind: someone take it

        await self._run("release_lease", job)

    async def claim_orphans(self, owner: str, ttl: float, *, limit: int = 100) -> list[str]:
        rows = await self._rows(
            "claim_orphans",
            f"WITH clock AS (SELECT {_NOW} AS now), picked AS ("
            "SELECT runs.id FROM runs, clock WHERE status IN ('pending', 'running') AND "
            "(lease_owner IS NULL OR lease_expires_at < clock.now) "
            "ORDER BY updated_at LIMIT %(limit)s FOR UPDATE OF runs SKIP LOCKED) "
            "UPDATE runs SET lease_owner = %(owner)s, lease_expires_at = clock.now + %(ttl)s "
            "FROM picked, clock WHERE runs.id = picked.id RETURNING runs.run_id, runs.updated_at",
            {"limit": limit, "owner": owner, "ttl": float(ttl)},
        )
        return [row[0] for row in sorted(rows, key=lambda r: (r[1], r[0]))]

    async def claim_due(self, owner: str, ttl: float, now: float, *, limit: int = 100) -> list[str]:
        # ``now`` (the database's clock as the caller estimates it, :meth:`clock`) says
        # which timers are due: they were set on that clock too, whichever worker set
        # them. Whether a lease has expired, and until when the new one holds, is the
        # database's clock itself, as for every other claim: a worker whose clock runs
        # ahead must never take a run another worker still holds.
        rows = await self._rows(
            "claim_due",
            f"WITH clock AS (SELECT {_NOW} AS now), picked AS (SELECT runs.id FROM runs, clock "
            "WHERE wake_at IS NOT NULL AND wake_at <= %(now)s AND "
            "status IN ('waiting', 'escalated') AND "
            "(lease_owner IS NULL OR lease_owner = %(owner)s OR lease_expires_at < clock.now) "
            "ORDER BY wake_at LIMIT %(limit)s FOR UPDATE OF runs SKIP LOCKED) "
            "UPDATE runs SET lease_owner = %(owner)s, lease_expires_at = clock.now + %(ttl)s "
            "FROM picked, clock WHERE runs.id = picked.id RETURNING runs.run_id, runs.wake_at",
            {"now": float(now), "owner": owner, "limit": limit, "ttl": float(ttl)},
        )
        return [row[0] for row in sorted(rows, key=lambda r: (r[1], r[0]))]

    async def wait_for_work(self, timeout: float) -> None:  # noqa: ASYNC109  # a poll interval, not a deadline
        """Return when a run may have become claimable (``NOTIFY``), or after ``timeout``.

        A notification that arrived since the previous call returns at once, so one sent
        between a claim pass and this call is not missed. While the listening connection
        is down (Postgres restarting) this falls back to waiting out the timeout.
        """
        if self._pool is None:
            raise StoreError("store is not open; use `async with Runtime(...)` or await open()")
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="tether-pg-listen")
        if self._work_count != self._work_seen:
            self._work_seen = self._work_count
            return
        event = self._work
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        self._work_seen = self._work_count

    def _wake(self) -> None:
        self._work_count += 1
        event, self._work = self._work, asyncio.Event()
        event.set()

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, connect_timeout=int(self.pool_timeout) or 1
                )
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    backoff = 0.1
                    self._wake()  # anything may have changed while nobody listened
                    async for _ in conn.notifies():
                        self._wake()
            except psycopg.Error as exc:
                log.info("postgres listener for %s lost its connection: %s", self._where, exc)
            self._listening.clear()
            self._wake()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    # -- blobs and flags ---------------------------------------------------------------------

    async def put_blob(self, key: str, data: bytes) -> None:
        await self._rows(
            "put_blob",
            "INSERT INTO blobs (key, data) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING "
            "RETURNING 1",
            (key, data),
        )

    async def get_blob(self, key: str) -> bytes | None:
        row = await self._one("get_blob", "SELECT data FROM blobs WHERE key = %s", (key,))
        return bytes(row[0]) if row else None

    async def set_flag(self, name: str, value: str | None) -> None:
        if value is None:
            await self._rows("set_flag", "DELETE FROM flags WHERE name = %s RETURNING 1", (name,))
            return
        await self._rows(
            "set_flag",
            f"INSERT INTO flags (name, value, updated_at) VALUES (%s, %s, {_NOW}) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at RETURNING 1",
            (name, value),
        )

    async def get_flag(self, name: str) -> str | None:
        row = await self._one("get_flag", "SELECT value FROM flags WHERE name = %s", (name,))
        return str(row[0]) if row else None

    async def list_flags(self, prefix: str) -> dict[str, str]:
        rows = await self._rows(
            "list_flags",
            "SELECT name, value FROM flags WHERE left(name, %s) = %s",
            (len(prefix), prefix),
        )
        return {str(name): str(value) for name, value in rows}

    # -- API keys and idempotency keys (the HTTP API) ---------------------------------------

    async def create_api_key(self, key: ApiKey) -> None:
        await self._rows(
            "create_api_key",
            f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s) RETURNING 1",
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

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        row = await self._one(
            "get_api_key", f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id = %s", (key_id,)
        )
        return api_key(row) if row else None

    async def list_api_keys(self, *, tenant: str | None = None) -> list[ApiKey]:
        rows = await self._rows(
            "list_api_keys",
            f"SELECT {KEY_COLUMNS} FROM api_keys WHERE %(tenant)s::text IS NULL "
            "OR tenant = %(tenant)s ORDER BY created_at, key_id",
            {"tenant": tenant},
        )
        return [api_key(row) for row in rows]

    async def revoke_api_key(self, key_id: str, *, at: float | None = None) -> bool:
        async def job(conn: _Conn) -> bool:
            async with conn.transaction():
                await conn.execute(
                    "UPDATE api_keys SET revoked_at = "
                    f"COALESCE(%s, {_NOW}) WHERE key_id = %s AND revoked_at IS NULL",
                    (at, key_id),
                )
                found = await (
                    await conn.execute("SELECT 1 FROM api_keys WHERE key_id = %s", (key_id,))
                ).fetchone()
            return found is not None

        return await self._run("revoke_api_key", job)

    async def claim_idempotency_key(
        self, tenant: str, key: str, run_id: str, request_hash: str
    ) -> tuple[str, str]:
        async def job(conn: _Conn) -> tuple[str, str]:
            # Read committed: the INSERT waits for a concurrent claim of the same key to
            # settle, then either lands or meets its row, which the SELECT returns.
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO idempotency_keys (tenant, key, run_id, request_hash, created_at) "
                    f"VALUES (%s, %s, %s, %s, {_NOW}) ON CONFLICT (tenant, key) DO NOTHING",
                    (tenant, key, run_id, request_hash),
                )
                row = await (
                    await conn.execute(
                        "SELECT run_id, request_hash FROM idempotency_keys "
                        "WHERE tenant = %s AND key = %s",
                        (tenant, key),
                    )
                ).fetchone()
            assert row is not None
            return str(row[0]), str(row[1])

        return await self._run("claim_idempotency_key", job)

    async def release_idempotency_key(self, tenant: str, key: str, run_id: str) -> None:
        # A take-over's UPDATE and this DELETE lock the same row: whichever comes second
        # sees the first's outcome (the row gone, or marked taken over and so kept).
        await self._rows(
            "release_idempotency_key",
            "DELETE FROM idempotency_keys WHERE tenant = %s AND key = %s AND run_id = %s "
            "AND taken_over_at IS NULL RETURNING 1",
            (tenant, key, run_id),
        )

    async def take_over_idempotency_key(
        self, tenant: str, key: str, run_id: str, *, stale_after: float
    ) -> Literal["taken", "recent", "gone"]:
        async def job(conn: _Conn) -> Literal["taken", "recent", "gone"]:
            async with conn.transaction():
                taken = await (
                    await conn.execute(
                        f"UPDATE idempotency_keys SET taken_over_at = {_NOW} "
                        "WHERE tenant = %s AND key = %s AND run_id = %s "
                        f"AND COALESCE(taken_over_at, created_at) <= {_NOW} - %s RETURNING 1",
                        (tenant, key, run_id, stale_after),
                    )
                ).fetchone()
                if taken is not None:
                    return "taken"
                bound = await (
                    await conn.execute(
                        "SELECT 1 FROM idempotency_keys "
                        "WHERE tenant = %s AND key = %s AND run_id = %s",
                        (tenant, key, run_id),
                    )
                ).fetchone()
            return "recent" if bound is not None else "gone"

        return await self._run("take_over_idempotency_key", job)

    # -- token buckets shared by every worker --------------------------------------------------

    async def take_tokens(
        self, takes: Sequence[TokenTake], *, now: float | None = None
    ) -> TokenGrant:
        """Take from shared token buckets (see :meth:`Store.take_tokens`).

        A take that always goes through (``max_wait=inf``: pacing model calls, paying a
        debt) is one ``INSERT ... ON CONFLICT DO UPDATE`` over its buckets: each row is
        refilled and taken under its row lock, and the new levels come back. A take that
        may be refused must see every bucket before it changes any: its rows are locked
        (``FOR UPDATE``, in key order, so two takes never deadlock) and written back in
        one transaction of two round trips.
        """
        check_takes(takes)
        if not takes:
            return TokenGrant(True, ())
        ordered = sorted(takes, key=lambda t: t.key)
        columns = {
            "keys": [t.key for t in ordered],
            "amounts": [float(t.amount) for t in ordered],
            "rates": [float(t.rate) for t in ordered],
            "capacities": [float(t.capacity) for t in ordered],
            "now": now,
        }
        if all(math.isinf(t.max_wait) for t in takes):
            rows = await self._rows("take_tokens", _TAKE_ALWAYS, columns)
            levels = {str(key): float(level) for key, level in rows}
            waits = tuple(max(0.0, -levels[t.key] / t.rate) for t in takes)
            return TokenGrant(True, waits)

        async def job(conn: _Conn) -> TokenGrant:
            async with conn.pipeline(), conn.transaction():
                await conn.execute(_ADD_BUCKETS, columns)
                cur = await conn.execute(_LOCK_BUCKETS, columns)
                # The clock is read after the locks are held: a take that waited for
                # another's lock refills up to when it got it.
                clock = await conn.execute(_CLOCK, columns)
                locked = await cur.fetchall()
                row = await clock.fetchone()
                assert row is not None
                at = float(row[0])
                found = {str(key): (float(level), float(then)) for key, level, then in locked}
                grant, after = settle_takes(takes, found, at)
                if after:
                    await cur.executemany(
                        "UPDATE token_buckets SET level = %s, at = %s, rate = %s, "
                        "capacity = %s, last_amount = %s WHERE key = %s",
                        [(*after[t.key], t.rate, t.capacity, t.amount, t.key) for t in ordered],
                    )
            return grant

        return await self._run("take_tokens", job)


_CANDIDATES = (
    f"SELECT {RUN_COLUMNS} FROM (SELECT {RUN_COLUMNS}, ROW_NUMBER() OVER "
    "(PARTITION BY tenant ORDER BY created_at, run_id) AS place FROM runs "
    "WHERE status IN ('pending', 'running') AND (lease_owner IS NULL OR "
    "lease_expires_at IS NULL OR lease_expires_at < %(now)s) AND agent = ANY(%(agents)s)) "
    "AS waiting WHERE place <= %(per_tenant)s ORDER BY created_at, run_id"
)
"""Each tenant's oldest claimable runs of the agents named (see ``claim_candidates``)."""
_EXECUTING = (
    "SELECT tenant, COUNT(*) FROM runs WHERE status IN ('pending', 'running') AND "
    "lease_owner IS NOT NULL AND lease_expires_at >= %(now)s GROUP BY tenant"
)
"""Runs with a live lease per tenant (fleet-wide load, for fair share and caps)."""
_TENANT_LOCK = 0x7E7E_0002
"""First key of the per-tenant advisory locks of capped claims (the second: the tenant)."""
_LIVE_OF_TENANT = (
    "SELECT COUNT(*) FROM runs WHERE tenant IS NOT DISTINCT FROM %(tenant)s AND "
    "status IN ('pending', 'running') AND lease_owner IS NOT NULL AND "
    f"lease_expires_at >= {_NOW} AND NOT (run_id = ANY(%(ids)s) AND lease_owner = %(owner)s)"
)
"""A tenant's live leases, less those of the runs being claimed that the claimer holds."""
_FREE = "(lease_owner IS NULL OR lease_owner = %(owner)s OR lease_expires_at < clock.now)"
_LEASE_IN_ORDER = (
    f"WITH clock AS (SELECT {_NOW} AS now), chosen AS (SELECT id FROM runs, clock "
    f"WHERE run_id = ANY(%(ids)s) AND {_FREE} ORDER BY array_position(%(ids)s, run_id) "
    "LIMIT %(room)s FOR UPDATE OF runs SKIP LOCKED) "
    "UPDATE runs SET lease_owner = %(owner)s, lease_expires_at = clock.now + %(ttl)s "
    f"FROM clock WHERE runs.id IN (SELECT id FROM chosen) AND {_FREE} RETURNING run_id"
)
"""Lease the runs given, in their order, at most ``room`` of them (``NULL``: all)."""
_QUEUE_LOCK = 0x7E7E_0001
"""Advisory lock key of bounded run creation (``max_pending``): one queue per database."""
_WAITING = (
    "status = 'pending' AND (lease_owner IS NULL OR lease_expires_at IS NULL OR "
    f"lease_expires_at < {_NOW})"
)
"""A run waiting to be executed: ``pending``, with no live lease."""
_COUNT_WAITING = (
    f"SELECT COUNT(*) FROM (SELECT 1 FROM runs WHERE {_WAITING} LIMIT %(limit)s) AS waiting"
)
_TENANT_QUEUE = (
    "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM runs WHERE tenant IS NOT DISTINCT FROM "
    f"%(tenant)s AND {_WAITING} LIMIT %(limit)s) AS mine), "
    f"(SELECT COUNT(*) FROM (SELECT DISTINCT tenant FROM runs WHERE {_WAITING}) AS t)"
)
"""The tenant's waiting runs (up to a limit) and how many tenants have one (a full queue
admits a tenant below its fair share)."""
_INSERT_EVENTS = (
    "INSERT INTO events (run, seq, step, ts, type, data, hash) VALUES (%s,%s,%s,%s,%s,%s,%s)"
)
"""An event row with its hash-chain link, in one INSERT."""

_ADVANCE_GROUP = (
    "WITH input AS (SELECT * FROM unnest(%s::text[], %s::bigint[], %s::bigint[], "
    "%s::float8[], %s::boolean[], %s::text[], %s::text[], %s::float8[], %s::boolean[], "
    "%s::text[]) AS u(run_id, before, last, ts, has_status, status, reason, wake_at, "
    "release, owner)), "
    "locked AS (SELECT runs.id, input.* FROM runs JOIN input ON runs.run_id = input.run_id "
    "WHERE runs.last_seq = input.before "
    "AND (input.owner IS NULL OR runs.lease_owner = input.owner) "
    "ORDER BY runs.id FOR UPDATE OF runs) "
    "UPDATE runs SET last_seq = l.last, updated_at = l.ts, "
    "status = CASE WHEN l.has_status THEN l.status ELSE runs.status END, "
    "reason = CASE WHEN l.has_status THEN l.reason ELSE runs.reason END, "
    "wake_at = CASE WHEN l.has_status THEN l.wake_at ELSE runs.wake_at END, "
    "lease_owner = CASE WHEN l.release THEN NULL ELSE runs.lease_owner END, "
    "lease_expires_at = CASE WHEN l.release THEN NULL ELSE runs.lease_expires_at END "
    "FROM locked l WHERE runs.id = l.id AND runs.last_seq = l.before "
    "AND (l.owner IS NULL OR runs.lease_owner = l.owner) "
    "RETURNING runs.run_id, runs.id, "
    "(SELECT hash FROM events WHERE run = runs.id AND seq = l.before), "
    "runs.status, runs.lease_owner, runs.wake_at"
)
"""Move the summary rows of a group of appends (one row each, columns as the unnest
names them) to the ends of their appends, each only if the log ends where its writer
expects and the writer holds the lease: rows are locked in id order (as lease renewals
lock them) and stay locked until the appends commit; a row whose conditions fail is
not returned. Returns the hash each append's first event links to."""

_INSERT_EVENT_ROWS = (
    "INSERT INTO events (run, seq, step, ts, type, data, hash) SELECT * FROM unnest("
    "%s::bigint[], %s::bigint[], %s::bigint[], %s::float8[], %s::text[], %s::bytea[], "
    "%s::bytea[])"
)
"""Many event rows in one statement: one list per column."""

_NOTIFY_MANY = "SELECT pg_notify(%s, run_id) FROM unnest(%s::text[]) AS n(run_id)"


async def _check_connection(conn: _Conn) -> None:
    """A liveness check that costs no round trip: read what the server sent while the
    connection sat idle. A server that shut down or restarted has closed the socket, and
    reading says so (libpq's socket never blocks). Raising makes the pool drop it."""
    pgconn = conn.pgconn
    # The first read may return the server's goodbye ("terminating connection due to
    # administrator command"), the second then meets the closed socket and raises.
    for _ in range(2):
        pgconn.consume_input()  # raises OperationalError on a closed connection
        pgconn.is_busy()  # parses what was read
    if pgconn.status != psycopg.pq.ConnStatus.OK:
        raise psycopg.OperationalError("the connection is broken")


async def _notify(conn: _Conn, run_id: str) -> None:
    """Announce a claimable run; Postgres delivers it when the transaction commits."""
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, run_id))


_BUCKET_INPUT = (
    "FROM unnest(%(keys)s::text[], %(amounts)s::float8[], %(rates)s::float8[], "
    "%(capacities)s::float8[]) AS w(key, amount, rate, capacity), "
    f"(SELECT COALESCE(%(now)s::float8, {_NOW}) AS now) AS t ORDER BY w.key "
)
"""The takes as rows, in key order (every take locks its buckets in this order), and
the time: the caller's, else the database's."""

_TAKE_ALWAYS = (
    "INSERT INTO token_buckets AS b (key, level, at, rate, capacity, last_amount) "
    "SELECT w.key, w.capacity - w.amount, t.now, w.rate, w.capacity, w.amount "
    + _BUCKET_INPUT
    + "ON CONFLICT (key) DO UPDATE SET "
    "level = least(excluded.capacity, b.level + greatest(excluded.at - b.at, 0) * excluded.rate)"
    " - excluded.last_amount, "
    "at = greatest(b.at, excluded.at), rate = excluded.rate, capacity = excluded.capacity, "
    "last_amount = excluded.last_amount "
    "RETURNING b.key, b.level"
)
"""Refill each bucket up to now and take its amount, whatever the level: one statement,
each row locked only while it runs. A new bucket starts full. Returns the new levels."""

_ADD_BUCKETS = (
    "INSERT INTO token_buckets (key, level, at, rate, capacity, last_amount) "
    "SELECT w.key, w.capacity, t.now, w.rate, w.capacity, 0 "
    + _BUCKET_INPUT
    + "ON CONFLICT (key) DO NOTHING"
)
"""Create the buckets a take names that do not exist yet, full, so they can be locked."""

_LOCK_BUCKETS = (
    "SELECT key, level, at FROM token_buckets WHERE key = ANY(%(keys)s::text[]) "
    "ORDER BY key FOR UPDATE"
)

_CLOCK = f"SELECT COALESCE(%(now)s::float8, {_NOW})"


_MAX_GROUP = 500
"""Appends one group transaction carries at most."""


@dataclass(slots=True)
class _Append:
    """An append waiting for its group's transaction."""

    run_id: str
    events: Sequence[EventRow]
    update: RunUpdate | None
    owner: str | None
    done: asyncio.Future[None]


def _succeed(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


def _fail(done: asyncio.Future[None], error: BaseException) -> None:
    if not done.done():
        done.set_exception(error)


def _group_values(item: _Append) -> tuple[Any, ...]:
    """One append's row of :data:`_ADVANCE_GROUP`'s input, in its column order."""
    events, update = item.events, item.update
    return (
        item.run_id,
        events[0].seq - 1,
        events[-1].seq,
        events[-1].ts,
        update is not None and update.status is not None,
        update.status if update is not None else None,
        update.reason if update is not None else None,
        update.wake_at if update is not None else None,
        update is not None and update.release_lease,
        item.owner,
    )


def _announces(item: _Append, status: str, lease_owner: str | None, wake_at: Any) -> bool:
    """Whether an append leaves its run claimable or sets a timer: workers are told."""
    update = item.update
    has_status = update is not None and update.status is not None
    return (status in _CLAIMABLE and lease_owner is None) or (has_status and wake_at is not None)


def _collision(item: _Append) -> ConcurrentWriteError:
    events = item.events
    return ConcurrentWriteError(
        f"run {item.run_id}: events {events[0].seq}..{events[-1].seq} collide with "
        "events another writer appended; this process no longer owns the run",
        run_id=item.run_id,
    )


def _refusal(
    run_id: str, owner: str | None, first: int, summary: tuple[int, str | None] | None, where: str
) -> Exception:
    """Why an append's conditional UPDATE matched no row: no run, a lost lease, or a
    moved log (``summary``: the run's last seq and lease holder, ``None`` if no run)."""
    if summary is None:
        return RunNotFoundError(f"no run {run_id!r} in {where}", run_id=run_id)
    last_seq, lease_owner = summary
    if owner is not None and lease_owner != owner:
        return LeaseLostError(
            f"run {run_id}: {owner} no longer holds the lease "
            f"(held by {lease_owner or 'nobody'}); this process must stop driving the run",
            run_id=run_id,
            owner=owner,
            holder=lease_owner,
        )
    if last_seq != first - 1:
        return ConcurrentWriteError(
            f"run {run_id}: expected to append after seq {first - 1}, but the log "
            f"ends at {last_seq}; another writer appended to this run",
            run_id=run_id,
            expected=first - 1,
            actual=last_seq,
        )
    return ConcurrentWriteError(f"run {run_id}: the log moved", run_id=run_id)
