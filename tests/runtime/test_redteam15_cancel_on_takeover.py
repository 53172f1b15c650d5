"""A cancel accepted while the run's worker was dead is applied by the worker that takes
the run over (red team 15, hole 06).

``cancel()`` on a run whose worker had just been killed (its lease still live) leaves a
request in the store for that worker and returns. The next worker to claim the run used
to ignore the request: it re-issued the idempotent write the dead worker was in (the
effect landed after the user's cancel), completed the run, and only then deleted the
request as served. Now a claimer applies the stored request first: the run ends
``cancelled`` and the write never runs again.

A real child process is killed with SIGKILL mid-write; nothing asserts a duration.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tether import Runtime
from tether.engine import RunFinished, SignalReceived, ToolStarted

sys.path.insert(0, str(Path(__file__).parent))
from _takeover_worker import LEASE_TTL, kill_mid_write, marks_of, payer


async def test_a_cancel_left_for_a_killed_worker_is_applied_by_the_next_one(
    any_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marks = tmp_path / "marks.txt"
    run_id = await asyncio.to_thread(kill_mid_write, any_store_url, marks)

    async with Runtime(any_store_url, worker=False) as client:
        await client.cancel(run_id, reason="user asked", by="ops")
        # The dead worker's lease was live: the cancel was left as a request for it.
        assert await client.store.get_flag(f"cancel:{run_id}") is not None
    assert marks_of(marks) == [m for m in marks_of(marks) if m.startswith("started")]

    monkeypatch.setenv("TETHER_TEST_MARKS", str(marks))
    monkeypatch.setenv("TETHER_TEST_PAY_SECONDS", "0")  # a re-issued write would land at once
    async with Runtime(
        any_store_url, agents=[payer], lease_ttl=LEASE_TTL, claim_interval=0.1
    ) as worker:
        result = await worker.get(run_id).result(timeout=120)
        events = [e.event async for e in worker.get(run_id).events(follow=False)]

    assert result.status == "cancelled"
    assert result.error is not None and "user asked" in result.error.message
    # The write the dead worker was in never ran again, and nothing ran after the cancel.
    assert len([m for m in marks_of(marks) if m.startswith("started")]) == 1
    assert not [m for m in marks_of(marks) if m.startswith("effect")]
    assert sum(isinstance(e, ToolStarted) for e in events) == 1
    cancel_at = next(
        i for i, e in enumerate(events) if isinstance(e, SignalReceived) and e.name == "cancel"
    )
    assert not [e for e in events[cancel_at:] if isinstance(e, ToolStarted)]
    finished = [e for e in events if isinstance(e, RunFinished)]
    assert [e.status for e in finished] == ["cancelled"]
