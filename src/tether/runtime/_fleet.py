"""What a worker decides when it claims runs: which ones, in what order, and which not.

Pure functions over what the store shows (run rows, a run's log), so every worker
sharing a store reaches the same decisions without talking to the others:

- **fair share**: among the runs waiting, a tenant with fewer runs executing (across the
  whole fleet, counted from live leases) is served first, round-robin, so a tenant that
  floods the queue does not starve another;
- **priorities**: ``metadata={"priority": "interactive"}`` runs are claimed before
  ordinary ones, and those before ``"batch"`` (an integer works too, higher first);
- **caps**: a per-tenant cap on runs executing at once, fleet-wide;
- **quarantine**: a run claimed again and again at the same step (its worker or its
  driver keeps dying there) is a poisoned run; after N attempts it is set aside.

The marks the quarantine counts are ``signal.received`` events in the run's own log,
so the count survives the processes that crashed.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tether.store import EventRow, RunRecord

CLAIMED = "tether.claimed"
"""Signal a worker records when it adopts a run (one per attempt)."""
RELEASED = "tether.released"
"""Signal a draining worker records when it gives a run back unharmed."""
CRASHED = "tether.crashed"
"""Signal recorded when a run's driver raised: the error, for the quarantine record."""

PRIORITIES: Mapping[str, int] = {"interactive": 10, "normal": 5, "batch": 0}
"""Named priorities in run metadata (``{"priority": "interactive"}``); higher goes first."""
DEFAULT_PRIORITY = PRIORITIES["normal"]


def priority_of(metadata: Mapping[str, Any] | None) -> int:
    """The claim priority a run's metadata asks for (unknown values count as normal)."""
    value = (metadata or {}).get("priority")
    if isinstance(value, bool):
        return DEFAULT_PRIORITY
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return PRIORITIES.get(value.lower(), DEFAULT_PRIORITY)
    return DEFAULT_PRIORITY


def claimable(record: RunRecord, now: float) -> bool:
    """Whether a worker may claim this run: it needs a driver and nobody holds it."""
    return record.status in ("pending", "running") and (
        record.lease_owner is None
        or record.lease_expires_at is None
        or record.lease_expires_at < now
    )


def executing(records: Sequence[RunRecord], now: float) -> dict[str | None, int]:
    """Runs per tenant that some worker drives right now (a live lease), fleet-wide."""
    counts: dict[str | None, int] = {}
    for record in records:
        if record.status in ("pending", "running") and not claimable(record, now):
            counts[record.tenant] = counts.get(record.tenant, 0) + 1
    return counts


@dataclass(frozen=True, slots=True)
class Candidate:
    """A claimable run as the scheduler sees it."""

    run_id: str
    tenant: str | None
    priority: int
    created_at: float


def fair_order(
    candidates: Sequence[Candidate],
    slots: int,
    *,
    running: Mapping[str | None, int] | None = None,
    tenant_cap: Callable[[str | None], int | None] | None = None,
    last_served: Mapping[str | None, int] | None = None,
) -> list[Candidate]:
    """Pick up to ``slots`` runs: priority first, then round-robin by tenant load.

    Within one priority level the next run goes to the tenant with the fewest runs
    executing (``running``, fleet-wide, plus those picked in this pass); on a tie, to the
    tenant this worker served least recently (``last_served``: a counter, higher is more
    recent), then to the one whose oldest run waited longest. Within a tenant, oldest
    first. A tenant at its cap (``tenant_cap(tenant)``) gets nothing more.
    """
    served = last_served or {}
    load: dict[str | None, int] = dict(running or {})
    levels: dict[int, dict[str | None, list[Candidate]]] = {}
    for cand in candidates:
        levels.setdefault(cand.priority, {}).setdefault(cand.tenant, []).append(cand)
    picked: list[Candidate] = []

    def turn(tenant: str | None, queue: list[Candidate]) -> tuple[int, int, float, str, str | None]:
        """A tenant's heap entry: least loaded, then least recently served, then oldest run."""
        return (
            load.get(tenant, 0),
            served.get(tenant, -1),
            queue[0].created_at,
            str(tenant),
            tenant,
        )

    for priority in sorted(levels, reverse=True):
        queues = {
            t: sorted(q, key=lambda c: (c.created_at, c.run_id))
            for t, q in levels[priority].items()
        }
        heap = [turn(t, q) for t, q in queues.items()]
        heapq.heapify(heap)
        while heap and len(picked) < slots:
            *_, tenant = heapq.heappop(heap)
            cap = tenant_cap(tenant) if tenant_cap is not None else None
            if cap is not None and load.get(tenant, 0) >= cap:
                continue  # this tenant waits for one of its runs to finish
            queue = queues[tenant]
            picked.append(queue.pop(0))
            load[tenant] = load.get(tenant, 0) + 1
            if queue:
                heapq.heappush(heap, turn(tenant, queue))
        if len(picked) >= slots:
            break
    return picked


@dataclass(frozen=True, slots=True)
class Attempts:
    """What a run's log says about the drivers that died with it at its current step.

    Attributes:
        deaths: Earlier claims at this step that found the run abandoned mid-drive.
        fresh: Whether the run was handed over cleanly this time (never driven, given back
            by a draining worker, or continued by a signal), so claiming it now does not
            mean its last driver died.
        error: The last error recorded at this step (``tether.crashed``), if any.
        interrupted: Whether the run was given back (a shutdown) during a model call.
        interrupted_tools: Whether it was given back while running tool calls.
    """

    deaths: int
    fresh: bool
    error: str | None
    interrupted: bool = False
    interrupted_tools: bool = False

    @property
    def unrecorded_call(self) -> bool:
        """Whether its last driver may have had a model call in flight the log does not
        show: it stopped mid-drive (the log does not end at a start, a signal or a clean
        release), or it was given back during a call."""
        return not self.fresh or self.interrupted

    @property
    def unrecorded_tools(self) -> bool:
        """Whether its last driver may have been running read tool calls whose results the
        log does not show: it stopped mid-drive, or it was given back while running them."""
        return not self.fresh or self.interrupted_tools


def _payload(row: EventRow) -> dict[str, Any]:
    try:
        data = json.loads(row.data)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def attempts_at(rows: Sequence[EventRow], step: int) -> Attempts:
    """Count the drivers that died with a run at ``step`` (from ``tether.*`` signals).

    Progress moves a run to a later step, so only deaths at the same step count: a run
    killed once at each of many steps is unlucky, not poisoned. A drain hands the run
    back unharmed and starts the count over; so does a quarantine (a person who resumes
    the run gets ``quarantine_after`` more attempts).
    """
    deaths = 0
    error: str | None = None
    for row in rows:
        if row.step != step or row.type not in ("signal.received", "run.status"):
            continue
        data = _payload(row)
        if row.type == "run.status":
            if data.get("status") == "quarantined":
                deaths, error = 0, None  # a person resumed it after this: count afresh
            continue
        name = data.get("name")
        found = data.get("payload")
        payload: dict[str, Any] = found if isinstance(found, dict) else {}
        if name == RELEASED:
            deaths, error = 0, None
        elif name == CLAIMED and not payload.get("fresh", False):
            deaths += 1
        elif name == CRASHED and isinstance(payload.get("error"), str):
            error = payload["error"]
    last = rows[-1] if rows else None
    fresh = last is None or last.type in ("run.created", "run.status")
    interrupted = interrupted_tools = False
    if last is not None and last.type == "signal.received":
        data = _payload(last)
        fresh = data.get("name") == RELEASED
        found = data.get("payload")
        if fresh and isinstance(found, dict):
            interrupted = found.get("in_model_call") is True
            interrupted_tools = found.get("in_tool_calls") is True
    return Attempts(deaths, fresh, error, interrupted, interrupted_tools)
