"""An idempotent write re-issued after its worker died goes through the rate limits and
breakers like a fresh call (red team 15, hole 04).

The re-issue path ran the gate (kill switch, rules, budget) but never asked the tool's
guard: it took no rate-limit token and ignored an open breaker, so a write limited to one
call an hour ran twice within seconds across a takeover. Now the re-issue takes a token
from the same shared bucket; with none left (the limit has no ``max_wait``) the tool is not
invoked again, and the run waits for a person as an uncertain write: the dead worker's
attempt may have happened, so the call is not failed either (a model told "rate limited"
would call again under a new idempotency key, and the write could happen twice).

A real child worker is killed with SIGKILL inside the write (after it took the hour's
only token); nothing asserts a duration.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tether import Runtime
from tether.engine import ToolFailed, ToolStarted

sys.path.insert(0, str(Path(__file__).parent))
from _takeover_worker import LEASE_TTL, kill_mid_write, limited_payer, marks_of


async def test_a_reissued_write_takes_a_rate_limit_token(
    any_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marks = tmp_path / "marks.txt"
    run_id = await asyncio.to_thread(kill_mid_write, any_store_url, marks, "limited_payer")
    assert len(marks_of(marks)) == 1  # the dead worker's call, under the hour's one token

    monkeypatch.setenv("TETHER_TEST_MARKS", str(marks))
    monkeypatch.setenv("TETHER_TEST_PAY_SECONDS", "0")
    async with Runtime(
        any_store_url, agents=[limited_payer], lease_ttl=LEASE_TTL, claim_interval=0.1
    ) as worker:
        result = await worker.get(run_id).result(timeout=120)
        events = [e.event async for e in worker.get(run_id).events(follow=False)]

    # The bucket was empty: the re-issue was refused, and the tool not invoked again.
    assert [m.split()[0] for m in marks_of(marks)] == ["started"]
    assert sum(isinstance(e, ToolStarted) for e in events) == 1
    assert not [e for e in events if isinstance(e, ToolFailed)]
    # Nor failed: it may have happened, so a person says whether it did.
    assert (result.status, result.wait_reason) == ("waiting", "uncertain_write"), result
    assert result.wait_details is not None
    (item,) = result.wait_details["calls"]
    assert item["tool"] == "pay" and "refused" in item["problem"], item
