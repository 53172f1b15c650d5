"""A store wrapper that injects append faults, for the storage-fault tests.

``FaultyStore(inner, plan)`` delegates everything to ``inner``; each append asks
``plan(n, run_id, events)`` (``n`` counts appends from 1) what to do:

* ``None``: append normally;
* ``"before"``: fail with a transient ``StoreError`` and write nothing;
* ``"locked"``: the same, worded as SQLite's "database is locked";
* ``"after"``: write, then fail as if the acknowledgement were lost;
* ``"permanent"``: fail with a non-transient ``StoreError`` and write nothing;
* ``"conflict"``: refuse as if another writer had moved the log on
  (``ConcurrentWriteError``), writing nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tether.exceptions import ConcurrentWriteError, StoreError
from tether.store import EventRow, RunRecord, RunUpdate, Store

Plan = Callable[[int, str, Sequence[EventRow]], str | None]


class FaultyStore(Store):
    """Delegates to a real store; injects the append faults ``plan`` asks for."""

    def __init__(self, inner: Store, plan: Plan) -> None:
        self.inner = inner
        self.plan = plan
        self.url = inner.url
        self.appends = 0
        self.injected: list[str] = []

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def create_run(self, record: RunRecord, events: Sequence[EventRow]) -> None:
        await self.inner.create_run(record, events)

    async def append(
        self,
        run_id: str,
        events: Sequence[EventRow],
        update: RunUpdate | None = None,
        *,
        owner: str | None = None,
    ) -> None:
        self.appends += 1
        fault = self.plan(self.appends, run_id, events)
        if fault is not None:
            self.injected.append(fault)
        if fault in ("before", "locked"):
            raise StoreError(
                "sqlite commit failed: database is locked" if fault == "locked" else "injected",
                transient=True,
            )
        if fault == "permanent":
            raise StoreError("injected permanent failure", transient=False)
        if fault == "conflict":
            raise ConcurrentWriteError(
                f"injected: run {run_id} moved on under this writer", run_id=run_id
            )
        await self.inner.append(run_id, events, update, owner=owner)
        if fault == "after":
            raise StoreError(
                "injected: the commit landed but its acknowledgement was lost", transient=True
            )

    async def load_events(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[EventRow]:
        return await self.inner.load_events(run_id, after_seq=after_seq, limit=limit)

    async def get_run(self, run_id: str) -> RunRecord | None:
        return await self.inner.get_run(run_id)

    async def list_runs(
        self,
        *,
        statuses: Sequence[str] | None = None,
        agent: str | None = None,
        limit: int = 50,
        **filters: Any,
    ) -> list[RunRecord]:
        return await self.inner.list_runs(statuses=statuses, agent=agent, limit=limit, **filters)

    async def acquire_lease(self, run_id: str, owner: str, ttl: float) -> bool:
        return await self.inner.acquire_lease(run_id, owner, ttl)

    async def renew_leases(self, owner: str, run_ids: Sequence[str], ttl: float) -> list[str]:
        return await self.inner.renew_leases(owner, run_ids, ttl)

    async def release_lease(self, run_id: str, owner: str) -> None:
        await self.inner.release_lease(run_id, owner)

    async def claim_orphans(self, owner: str, ttl: float, *, limit: int = 100) -> list[str]:
        return await self.inner.claim_orphans(owner, ttl, limit=limit)

    async def claim_due(self, owner: str, ttl: float, now: float, *, limit: int = 100) -> list[str]:
        return await self.inner.claim_due(owner, ttl, now, limit=limit)

    async def put_blob(self, key: str, data: bytes) -> None:
        await self.inner.put_blob(key, data)

    async def get_blob(self, key: str) -> bytes | None:
        return await self.inner.get_blob(key)

    async def set_flag(self, name: str, value: str | None) -> None:
        await self.inner.set_flag(name, value)

    async def get_flag(self, name: str) -> str | None:
        return await self.inner.get_flag(name)

    async def list_flags(self, prefix: str) -> dict[str, str]:
        return await self.inner.list_flags(prefix)
