"""The scheduler's decisions as pure functions: fair share, priorities, caps, quarantine
counts; and priorities end to end on a worker runtime."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from tether import Runtime
from tether.engine import RunEvent, RunStatusChanged, SignalReceived, encode_event
from tether.runtime._fleet import (
    CLAIMED,
    CRASHED,
    RELEASED,
    Candidate,
    attempts_at,
    claimable,
    executing,
    fair_order,
    priority_of,
)
from tether.store import EventRow, RunRecord

sys.path.insert(0, str(Path(__file__).parent))
import fleet_agents


def _queue(tenant: str, n: int, *, priority: int = 5, start: float = 0.0) -> list[Candidate]:
    return [Candidate(f"{tenant}{i}", tenant, priority, start + i) for i in range(n)]


def test_round_robin_by_tenant_serves_a_small_tenant_behind_a_flood() -> None:
    """A's 200 older runs do not stand before B's 5: picks alternate while both wait."""
    picked = fair_order([*_queue("a", 200), *_queue("b", 5, start=1000)], 6)
    assert [c.tenant for c in picked] == ["a", "b", "a", "b", "a", "b"]
    assert [c.run_id for c in picked if c.tenant == "a"] == ["a0", "a1", "a2"]  # oldest first


def test_the_tenant_with_fewer_runs_executing_goes_first() -> None:
    """Load counted fleet-wide: a tenant already running 3 waits behind one running none."""
    picked = fair_order([*_queue("a", 5), *_queue("b", 5, start=100)], 3, running={"a": 3})
    assert [c.tenant for c in picked] == ["b", "b", "b"]


def test_ties_go_to_the_tenant_served_least_recently() -> None:
    """With one slot per pass, passes alternate between tenants instead of repeating A."""
    cands = [*_queue("a", 5), *_queue("b", 5, start=100)]
    first = fair_order(cands, 1)
    second = fair_order(cands, 1, last_served={first[0].tenant: 1})
    assert {first[0].tenant, second[0].tenant} == {"a", "b"}


def test_priority_comes_before_fairness_and_age() -> None:
    """Interactive runs are picked before normal ones, normal before batch."""
    cands = [
        *_queue("a", 3, priority=priority_of({"priority": "batch"})),
        *_queue("b", 2, priority=priority_of(None), start=50),
        *_queue("c", 1, priority=priority_of({"priority": "interactive"}), start=99),
    ]
    assert [c.run_id for c in fair_order(cands, 6)] == ["c0", "b0", "b1", "a0", "a1", "a2"]
    assert priority_of({"priority": 42}) == 42
    assert priority_of({"priority": "nonsense"}) == priority_of({"priority": True}) == 5


def test_a_tenant_at_its_cap_gets_nothing_more() -> None:
    """tenant_cap counts runs executing anywhere plus those picked in this pass."""
    cands = [*_queue("a", 10), *_queue("b", 10, start=100)]
    caps = {"a": 2, "b": None}
    picked = fair_order(cands, 8, running={"a": 1}, tenant_cap=caps.get)
    assert sum(c.tenant == "a" for c in picked) == 1
    assert sum(c.tenant == "b" for c in picked) == 7


def _record(run_id: str, status: str, owner: str | None, expires: float | None) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        agent="x",
        agent_version="v",
        status=status,
        created_at=0,
        updated_at=0,
        tenant="t",
        lease_owner=owner,
        lease_expires_at=expires,
    )


def test_claimable_means_needs_a_driver_and_nobody_holds_it() -> None:
    now = 100.0
    assert claimable(_record("a", "pending", None, None), now)
    assert claimable(_record("b", "running", "w1", 99.0), now)  # expired
    assert not claimable(_record("c", "running", "w1", 101.0), now)  # live
    assert not claimable(_record("d", "waiting", None, None), now)  # parked: a signal wakes it
    records = [_record("c", "running", "w1", 101.0), _record("b", "running", "w1", 99.0)]
    assert executing(records, now) == {"t": 1}


def _signal(seq: int, step: int, name: str, payload: object = None) -> EventRow:
    event = SignalReceived(name=name, payload=payload, by="w")
    return EventRow(seq, step, float(seq), event.type, encode_event(event))


def _created() -> EventRow:
    return EventRow(1, 0, 0.0, "run.created", b"{}")


def test_deaths_count_only_at_the_same_step_and_a_drain_starts_over() -> None:
    """Claims that found the run abandoned count; fresh claims and other steps do not."""
    rows = [
        _created(),
        _signal(2, 0, CLAIMED, {"fresh": True}),
        _signal(3, 1, CLAIMED, {"fresh": False}),
        _signal(4, 1, CRASHED, {"error": "ValueError: bad"}),
        _signal(5, 1, CLAIMED, {"fresh": False}),
    ]
    found = attempts_at(rows, 1)
    assert (found.deaths, found.fresh, found.error) == (2, False, "ValueError: bad")
    assert attempts_at(rows, 0).deaths == 0
    drained = attempts_at([*rows, _signal(6, 1, RELEASED, {"reason": "drain"})], 1)
    assert (drained.deaths, drained.fresh, drained.error) == (0, True, None)
    quarantined = RunStatusChanged(previous="running", status="quarantined", reason="poisoned")
    resumed = [
        *rows,
        EventRow(6, 1, 6.0, quarantined.type, encode_event(quarantined)),
        _signal(7, 1, "resume"),
    ]
    assert attempts_at(resumed, 1).deaths == 0  # a resumed run gets its attempts again


def test_a_worker_claims_interactive_runs_before_a_batch_backlog(store_url: str) -> None:
    """20 batch runs queued first, then 2 interactive ones: a one-slot worker takes the
    interactive ones first."""
    claimed: list[str] = []
    all_claimed = asyncio.Event()

    def note(run_id: str, events: Sequence[RunEvent]) -> None:
        if run_id not in claimed:
            claimed.append(run_id)
        if len(claimed) == 22:
            all_claimed.set()

    async def main() -> None:
        async with Runtime(store_url, worker=False) as client:
            quick = fleet_agents.quick
            for i in range(20):
                await client.start(quick, f"b{i}", metadata={"priority": "batch"})
            urgent = [
                (await client.start(quick, f"i{i}", metadata={"priority": "interactive"})).run_id
                for i in range(2)
            ]
            async with Runtime(
                store_url, agents=[quick], concurrency=1, claim_interval=0.01, observers=[note]
            ) as worker:
                await asyncio.wait_for(all_claimed.wait(), 60)
                for run_id in claimed:
                    await worker.get(run_id).result(timeout=60)
        assert set(claimed[:2]) == set(urgent)

    asyncio.run(main())
