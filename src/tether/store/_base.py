"""The ``Store`` interface every backend implements, and the URL factory that picks one.

A store knows nothing about event semantics: it persists rows of bytes
atomically, keeps one summary row per run, leases runs to processes and holds
content-addressed blobs (shared prompt prefixes). Backends pass the same
conformance suite (``tests/store``).
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from tether.exceptions import RunNotFoundError, RunQueueFullError
from tether.store._buckets import TokenGrant, TokenTake
from tether.store._keys import ApiKey

Durability = Literal["FULL", "NORMAL"]
RunCursor = tuple[float, str]
"""A place in a newest-first run listing: ``(created_at, run_id)`` of the last run seen."""


@dataclass(frozen=True, slots=True, init=False)
class EventRow:
    """One persisted event: its sequence number, step, time, type and JSON bytes.

    ``hash`` is the event's link in its run's hash chain (``tether.store._chain``).
    Writers leave it ``None``: the store computes it as it inserts the row. Only
    :meth:`Store.load_event_chain` reads it back.
    """

    seq: int
    step: int
    ts: float
    type: str
    data: bytes
    hash: bytes | None = None

    def __init__(
        self, seq: int, step: int, ts: float, type: str, data: bytes, hash: bytes | None = None
    ) -> None:
        # One per event: each slot set through its own setter, which is what the frozen
        # dataclass __init__ reaches through object.__setattr__, at a third of the cost.
        _set_row_seq(self, seq)
        _set_row_step(self, step)
        _set_row_ts(self, ts)
        _set_row_type(self, type)
        _set_row_data(self, data)
        _set_row_hash(self, hash)


_set_row_seq = EventRow.__dict__["seq"].__set__  # the slots' descriptors
_set_row_step = EventRow.__dict__["step"].__set__
_set_row_ts = EventRow.__dict__["ts"].__set__
_set_row_type = EventRow.__dict__["type"].__set__
_set_row_data = EventRow.__dict__["data"].__set__
_set_row_hash = EventRow.__dict__["hash"].__set__


@dataclass(kw_only=True, slots=True)
class RunRecord:
    """The summary row of a run, for listing and leasing without reading its log."""

    run_id: str
    agent: str
    agent_version: str
    status: str
    created_at: float
    updated_at: float
    tenant: str | None = None
    parent_run_id: str | None = None
    reason: str | None = None
    last_seq: int = 0
    lease_owner: str | None = None
    lease_expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class EventChain:
    """A run's whole stored log with its hashes, for verification.

    ``predates_chain``: the run was created before its store began chaining events, so
    rows without hashes at its start are legacy, not tampering.
    """

    run_id: str
    rows: list[EventRow]
    last_seq: int
    predates_chain: bool = False


@dataclass(frozen=True, slots=True)
class RunUpdate:
    """Changes to a run's summary row committed together with its events.

    A status change also sets ``wake_at`` (cleared when ``None``): the time a
    runtime must look at the parked run again, e.g. when an approval expires.
    """

    status: str | None = None
    reason: str | None = None
    wake_at: float | None = None
    release_lease: bool = False
    """Give the writer's lease back in the same transaction (a run that stops or parks)."""


def _unleased(owner: str | None, expires_at: float | None, now: float) -> bool:
    """Whether a run has no live lease at ``now``."""
    return owner is None or expires_at is None or expires_at < now


def fair_share(max_waiting: int, mine: int, tenants: int) -> int:
    """A tenant's share of a full queue of ``max_waiting``: an equal part for each tenant
    with a run waiting (``tenants``, counting this one even when ``mine`` is 0), rounded
    up, so every tenant gets at least one place."""
    return -(-max_waiting // max(1, tenants + (0 if mine else 1)))


def queue_admits(waiting: int, max_waiting: int, mine: int, tenants: int) -> bool:
    """Whether a new run of a tenant may join a queue of ``waiting`` runs (see
    :func:`refuse_beyond_share`)."""
    if waiting < max_waiting:
        return True
    return waiting < 2 * max_waiting and mine < fair_share(max_waiting, mine, tenants)


def refuse_beyond_share(waiting: int, max_waiting: int, mine: int, tenants: int) -> None:
    """Raise :class:`RunQueueFullError` unless a new run of a tenant may join the queue.

    Below ``max_waiting`` anyone may. A full queue still admits a tenant below its
    :func:`fair_share`, up to twice ``max_waiting`` in all: one tenant flooding the queue
    keeps the others neither out nor to a single place, and the queue stays bounded.
    ``waiting`` is counted up to ``2 * max_waiting``; ``mine`` is this tenant's waiting
    runs, ``tenants`` how many tenants have one.
    """
    if queue_admits(waiting, max_waiting, mine, tenants):
        return
    raise RunQueueFullError(
        f"{waiting} runs already wait to be executed (max_pending={max_waiting}); "
        f"{mine} of them are this tenant's, its share of a full queue is "
        f"{fair_share(max_waiting, mine, tenants)}",
        retry_after=0.0,
        pending=waiting,
        limit=max_waiting,
    )


class Store(ABC):
    """Durable home of runs. Every method is safe to call from many coroutines at once."""

    url: str
    _bounded_lock: asyncio.Lock | None = None

    @abstractmethod
    async def open(self) -> None:
        """Connect and apply pending migrations."""

    @abstractmethod
    async def close(self) -> None:
        """Flush pending commits and release connections."""

    @abstractmethod
    async def create_run(self, record: RunRecord, events: Sequence[EventRow]) -> None:
        """Insert a new run and its first events in one transaction."""

    async def create_run_bounded(
        self, record: RunRecord, events: Sequence[EventRow], *, max_waiting: int
    ) -> None:
        """:meth:`create_run`, refused when ``max_waiting`` runs already wait to be executed
        (``pending`` with no live lease): backpressure that a burst cannot overrun.

        A full queue still admits a run of a tenant (``record.tenant``; runs without one
        count as one tenant) below its fair share (:func:`refuse_beyond_share`): one
        tenant flooding the queue cannot keep the others out, nor to one place each. The
        queue is then bounded by twice ``max_waiting``.

        The count and the insert are one step: two creates at once never both pass on
        the last free place. This default serialises them within this store object only
        (count, then create); SQLite and Postgres override it with one transaction, which
        holds across every process on the store.

        Raises:
            RunQueueFullError: the queue is full (``pending`` says how many wait;
                ``retry_after`` is 0: the caller knows better when to come back).
        """
        async with self._bounded_create_lock():
            waiting = await self.count_waiting(limit=2 * max_waiting)
            if waiting >= max_waiting:
                mine, tenants = await self.tenant_queue(record.tenant, limit=2 * max_waiting)
                refuse_beyond_share(waiting, max_waiting, mine, tenants)
            await self.create_run(record, events)

    async def tenant_queue(self, tenant: str | None, *, limit: int) -> tuple[int, int]:
        """The runs of ``tenant`` waiting to be executed (``pending``, no live lease),
        counted up to ``limit``, and how many tenants have a run waiting (``None`` is the
        runs without a tenant: one more tenant)."""
        mine = 0
        tenants: set[str | None] = set()
        async for run in self._waiting_runs():
            tenants.add(run.tenant)
            mine += run.tenant == tenant
        return min(mine, limit), len(tenants)

    async def count_waiting(self, *, limit: int) -> int:
        """Runs waiting to be executed (``pending``, no live lease), counted up to ``limit``."""
        waiting = 0
        async for _run in self._waiting_runs():
            waiting += 1
            if waiting >= limit:
                break
        return waiting

    async def _waiting_runs(self) -> AsyncIterator[RunRecord]:
        """The runs waiting to be executed, a page of ``list_runs`` at a time (the default
        the SQL stores replace with a count in SQL)."""
        now = time.time()
        cursor: RunCursor | None = None
        while True:
            page = await self.list_runs(statuses=["pending"], limit=500, cursor=cursor)
            for run in page:
                if _unleased(run.lease_owner, run.lease_expires_at, now):
                    yield run
            if len(page) < 500:
                return
            cursor = (page[-1].created_at, page[-1].run_id)

    def _bounded_create_lock(self) -> asyncio.Lock:
        if self._bounded_lock is None:
            self._bounded_lock = asyncio.Lock()
        return self._bounded_lock

    @abstractmethod
    async def append(
        self,
        run_id: str,
        events: Sequence[EventRow],
        update: RunUpdate | None = None,
        *,
        owner: str | None = None,
    ) -> None:
        """Append events (and update the summary row) atomically.

        In the same transaction the store checks that the run's last sequence number is
        ``events[0].seq - 1`` (nothing was appended behind the writer's back) and, when
        ``owner`` is given, that ``owner`` still holds the run's lease. A writer that lost
        its lease can therefore never write.

        Raises:
            ConcurrentWriteError: the sequence does not follow on, or an event with one of
                these sequence numbers exists: another writer owns the run.
            LeaseLostError: ``owner`` no longer holds the lease (a ConcurrentWriteError).
            RunNotFoundError: no such run.
            StoreError: the store could not commit (locked, I/O error); nothing is
                known to be written, and the same append may be retried.
        """

    @abstractmethod
    async def load_events(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[EventRow]:
        """Events of a run with ``seq > after_seq``, in order; the first ``limit`` of them
        when ``limit`` is given (``limit=1``: a run's first event, without its log)."""

    async def load_event_chain(self, run_id: str) -> EventChain | None:
        """A run's stored events with their hashes, or ``None`` if there is no such run.

        A backend that does not chain events returns rows without hashes, marked as
        predating the chain: verification then reports them as not chained.
        """
        record = await self.get_run(run_id)
        if record is None:
            return None
        rows = await self.load_events(run_id)
        return EventChain(run_id, rows, record.last_seq, predates_chain=True)

    @abstractmethod
    async def get_run(self, run_id: str) -> RunRecord | None:
        """The summary row of a run, or ``None``."""

    @abstractmethod
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
        """Runs, newest first (by ``created_at``, then ``run_id``), optionally filtered.

        ``since``/``until`` bound ``created_at`` (inclusive, exclusive); ``cursor`` is the
        ``(created_at, run_id)`` of the last run of the previous page: only runs after
        it in this order are returned.
        """

    async def claim_candidates(
        self, *, agents: Sequence[str], per_tenant: int
    ) -> tuple[list[RunRecord], dict[str | None, int]]:
        """What a claim pass chooses from, whatever the size of the queue.

        Returns, first, each tenant's oldest ``per_tenant`` claimable runs (``pending``
        or ``running`` with no live lease) of the agents named, oldest first within a
        tenant: a tenant that floods the queue cannot hide another's runs, as a window
        of the newest runs did. Second, the runs each tenant has executing (a live
        lease), fleet-wide, for fair share and tenant caps.

        This default pages through every live run; SQLite and Postgres override it with
        a per-tenant query.
        """
        now = time.time()
        wanted = set(agents)
        queues: dict[str | None, list[RunRecord]] = {}
        executing: dict[str | None, int] = {}
        cursor: RunCursor | None = None
        while True:
            page = await self.list_runs(statuses=["pending", "running"], limit=500, cursor=cursor)
            for r in page:
                if r.lease_owner is not None and (r.lease_expires_at or 0) >= now:
                    executing[r.tenant] = executing.get(r.tenant, 0) + 1
                elif r.agent in wanted:
                    queues.setdefault(r.tenant, []).append(r)
            if len(page) < 500:
                break
            cursor = (page[-1].created_at, page[-1].run_id)
        chosen: list[RunRecord] = []
        for queue in queues.values():
            queue.sort(key=lambda r: (r.created_at, r.run_id))
            chosen += queue[:per_tenant]
        return chosen, executing

    @abstractmethod
    async def acquire_lease(self, run_id: str, owner: str, ttl: float) -> bool:
        """Lease a run to ``owner`` if it is free, expired or already theirs."""

    async def acquire_leases(self, run_ids: Sequence[str], owner: str, ttl: float) -> list[str]:
        """:meth:`acquire_lease` for many runs at once: the ids now leased to ``owner``, in
        the order given. Runs that do not exist are left out, not an error.

        This default takes them one by one; a backend overrides it with one round trip.
        """
        leased = []
        for run_id in run_ids:
            try:
                if await self.acquire_lease(run_id, owner, ttl):
                    leased.append(run_id)
            except RunNotFoundError:
                continue
        return leased

    async def acquire_leases_capped(
        self,
        run_ids: Sequence[str],
        owner: str,
        ttl: float,
        *,
        caps: Mapping[str | None, int],
    ) -> list[str]:
        """:meth:`acquire_leases`, never past a tenant's cap on runs executing at once.

        ``caps`` maps a tenant (``None``: runs without one) to the most of its runs that
        may hold a live lease, fleet-wide; tenants not in it have no cap. The count and
        the leases are one step, so two workers claiming at once cannot both take a
        tenant's last place. Runs are taken in the order given.

        This default holds within this store object only (count, then lease, under a
        lock); SQLite and Postgres override it with one transaction.
        """
        async with self._bounded_create_lock():
            _, load = await self.claim_candidates(agents=[], per_tenant=0)
            leased: list[str] = []
            for run_id in run_ids:
                record = await self.get_run(run_id)
                if record is None:
                    continue
                tenant, now = record.tenant, time.time()
                held = (
                    record.lease_owner == owner
                    and (record.lease_expires_at or 0) >= now
                    and record.status in ("pending", "running")
                )
                if held:  # counted once granted, like any other run (as on Postgres)
                    load[tenant] = load.get(tenant, 0) - 1
                cap = caps.get(tenant)
                if cap is not None and load.get(tenant, 0) >= cap:
                    if held:
                        load[tenant] += 1  # still held: still counted for the next ones
                    continue
                if await self.acquire_lease(run_id, owner, ttl):
                    leased.append(run_id)
                    load[tenant] = load.get(tenant, 0) + 1
            return leased

    async def load_logs(
        self, run_ids: Sequence[str], *, upto_seq: int | None = None
    ) -> dict[str, list[EventRow]]:
        """The log of each run, by id (runs that do not exist are left out): whole, or its
        events with ``seq <= upto_seq`` (``upto_seq=1``: each run's ``run.created``).

        This default reads them one by one; a backend overrides it with one query.
        """
        logs = {}
        for run_id in run_ids:
            rows = await self.load_events(run_id, limit=upto_seq)
            if rows:
                logs[run_id] = rows
        return logs

    def clock(self) -> float:
        """Now, in unix seconds, on the clock this store decides leases and timers by.

        Costs no round trip. The default is this machine's clock (SQLite: every process
        sharing the file is on one machine). A store shared by machines answers with its
        own clock, estimated here (Postgres: an offset measured when it opens and again
        as leases are renewed): times compared across workers (approval expiry, a
        decision's time, timers) are stamped and judged on it, so a worker whose clock
        runs fast cannot expire another worker's approval requests early.
        """
        return time.time()

    @abstractmethod
    async def renew_leases(self, owner: str, run_ids: Sequence[str], ttl: float) -> list[str]:
        """Extend ``owner``'s leases; returns the ids it still holds."""

    @abstractmethod
    async def release_lease(self, run_id: str, owner: str) -> None:
        """Give a lease back (no-op if ``owner`` does not hold it)."""

    @abstractmethod
    async def claim_orphans(self, owner: str, ttl: float, *, limit: int = 100) -> list[str]:
        """Lease runs left ``running`` whose lease expired (a crashed process); return their ids."""

    @abstractmethod
    async def claim_due(self, owner: str, ttl: float, now: float, *, limit: int = 100) -> list[str]:
        """Lease parked runs whose timer (``wake_at``) is due at ``now``; return their ids.

        ``now`` is on this store's :meth:`clock`, as the timers were set.
        """

    async def wait_for_work(self, timeout: float) -> None:  # noqa: ASYNC109  # a poll interval, not a deadline
        """Wait until a run may have become claimable, or at most ``timeout`` seconds.

        A recovery loop calls this between claim passes. A backend that is told about
        new work (Postgres ``LISTEN/NOTIFY``: a new unleased run, a lease given back on a
        live run, a timer set) returns early; this default polls: it sleeps the timeout.
        """
        await asyncio.sleep(timeout)

    @abstractmethod
    async def put_blob(self, key: str, data: bytes) -> None:
        """Store content-addressed bytes once (idempotent)."""

    @abstractmethod
    async def get_blob(self, key: str) -> bytes | None:
        """Bytes stored under ``key``, or ``None``."""

    @abstractmethod
    async def set_flag(self, name: str, value: str | None) -> None:
        """Set (or clear with ``None``) a runtime-wide flag shared by every process."""

    @abstractmethod
    async def get_flag(self, name: str) -> str | None:
        """Read a runtime-wide flag."""

    @abstractmethod
    async def list_flags(self, prefix: str) -> dict[str, str]:
        """Every flag whose name starts with ``prefix`` (e.g. cancel requests)."""

    # -- the HTTP API's keys (optional: a backend without them cannot serve HTTP) -------------

    async def create_api_key(self, key: ApiKey) -> None:
        """Store a new API key (its hash, tenant and scopes)."""
        raise NotImplementedError(f"{type(self).__name__} does not store API keys")

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        """The API key with this id (revoked ones too), or ``None``."""
        raise NotImplementedError(f"{type(self).__name__} does not store API keys")

    async def list_api_keys(self, *, tenant: str | None = None) -> list[ApiKey]:
        """API keys, oldest first, optionally of one tenant (revoked ones too)."""
        raise NotImplementedError(f"{type(self).__name__} does not store API keys")

    async def revoke_api_key(self, key_id: str, *, at: float | None = None) -> bool:
        """Revoke a key; ``False`` if there is no such key (revoking twice is fine)."""
        raise NotImplementedError(f"{type(self).__name__} does not store API keys")

    async def claim_idempotency_key(
        self, tenant: str, key: str, run_id: str, request_hash: str
    ) -> tuple[str, str]:
        """Bind ``(tenant, key)`` to ``run_id`` unless it is bound already.

        Returns the ``(run_id, request_hash)`` the key is bound to: this call's own if it
        won, the first caller's otherwise. Two concurrent claims never both win.
        """
        raise NotImplementedError(f"{type(self).__name__} does not store idempotency keys")

    async def release_idempotency_key(self, tenant: str, key: str, run_id: str) -> None:
        """Unbind a key this caller claimed for ``run_id`` (its run could not be started).

        A key a retry has taken over (:meth:`take_over_idempotency_key`) stays bound: the
        taker may be creating ``run_id`` at this very moment.
        """
        raise NotImplementedError(f"{type(self).__name__} does not store idempotency keys")

    async def take_over_idempotency_key(
        self, tenant: str, key: str, run_id: str, *, stale_after: float
    ) -> Literal["taken", "recent", "gone"]:
        """Let a retry start the run a key's first request never created.

        ``"taken"`` if ``(tenant, key)`` is still bound to ``run_id`` and was claimed (or
        last taken over) at least ``stale_after`` seconds ago on the store's clock: it is
        now marked taken over, so it is never released, and the caller starts ``run_id``
        itself (the runs table's primary key lets one creator of it win). ``"recent"`` if
        it is bound but younger (nothing changed); ``"gone"`` if it was released.
        """
        raise NotImplementedError(f"{type(self).__name__} does not store idempotency keys")

    # -- token buckets shared by every process (fleet-wide rate limits) ---------------------

    async def take_tokens(
        self, takes: Sequence[TokenTake], *, now: float | None = None
    ) -> TokenGrant:
        """Take tokens from one or several shared token buckets: all of them, or none.

        Atomic across every process on the store: two workers taking the last token
        at once never both get it. Each bucket refills at its take's ``rate`` up to its
        ``capacity`` (a new bucket starts full); a take within its ``max_wait`` reserves
        its tokens (the level may go below zero) and the caller waits the returned
        seconds before using them (see ``tether.store._buckets``).

        Args:
            takes: One per bucket; a bucket may appear once.
            now: The time in epoch seconds (default: the store's clock, the database's
                for Postgres, so every machine agrees).

        Raises:
            StoreError: the store could not be reached (the take may or may not have
                happened).
        """
        raise NotImplementedError(f"{type(self).__name__} does not keep token buckets")
