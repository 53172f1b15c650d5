"""``max_pending`` holds for a burst of concurrent starts (red team 5, hole 2).

The check used to be a count made before the insert: 50 concurrent ``start()`` calls
with ``max_pending=5`` all passed it and queued 50 runs (no 429 over HTTP either).
"""

from __future__ import annotations

import asyncio

from tether import Agent, Runtime
from tether.exceptions import RunQueueFullError
from tether.testing import ScriptedModel, text

quick = Agent(name="quick", model=ScriptedModel(lambda req: text("done")), max_turns=2)
MAX, BURST = 5, 50


async def test_a_burst_of_starts_queues_no_more_than_max_pending(store_url: str) -> None:
    async with Runtime(store_url, worker=False, max_pending=MAX) as client:
        await client.start(quick, "warm-up")  # one queued already

        async def one(i: int) -> RunQueueFullError | None:
            try:
                await client.start(quick, f"burst {i}")
            except RunQueueFullError as exc:
                return exc
            return None

        outcomes = await asyncio.gather(*(one(i) for i in range(BURST)))
        queued = await client.list_runs(statuses=["pending"], limit=1000)
    assert len(queued) == MAX
    refusals = [o for o in outcomes if o is not None]
    assert len(refusals) == BURST - (MAX - 1)
    for refusal in refusals:
        assert refusal.limit == MAX and refusal.pending == MAX
        assert refusal.retry_after >= 1.0  # the runtime's estimate, not the store's 0
