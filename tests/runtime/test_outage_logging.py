"""A store outage is said once per background pass, not as a traceback on every pass.

With Postgres down, the recovery, timer and cancel passes of a worker fail several times
a second. Each used to log the same connection error with its full traceback, every
time: minutes of an outage buried the log. Now a transient store error is one warning
line per pass kind (again only if its message changes), and the pass says when the store
answers again. A defect that is not a store outage keeps its traceback.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tether import Agent, Runtime
from tether.testing import ScriptedModel, text

agent = Agent(name="plain", model=ScriptedModel(lambda req: text("done")))


async def test_a_postgres_outage_is_one_line_per_pass_not_a_traceback_each_time(
    postgres_cluster: Any, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tether.runtime")
    # A pass waits up to pool_timeout for a connection: 0.2 s, so each pass of a 2 s
    # outage fails instead of waiting it out.
    url = f"{postgres_url}?pool_timeout=0.2"
    async with Runtime(
        url, agents=[agent], timer_interval=0.05, claim_interval=0.05, lease_ttl=2.0
    ) as rt:
        await asyncio.sleep(0.2)  # passes running against a healthy store
        await asyncio.to_thread(postgres_cluster.stop)
        try:
            await asyncio.sleep(2.0)  # each kind of pass fails several times meanwhile
        finally:
            await asyncio.to_thread(postgres_cluster.start)
        back = False
        for _ in range(100):  # until every pass has seen the store answer again
            await asyncio.sleep(0.1)
            said = [r.getMessage() for r in caplog.records]
            back = sum("answers again" in m for m in said) >= 2
            if back:
                break
        assert back, said
        handle = await rt.start(agent, "after the outage")
        assert (await handle.result(timeout=30)).output == "done"
    records = [r for r in caplog.records if r.name == "tether.runtime"]
    outage = [r for r in records if "the store is unavailable" in r.getMessage()]
    assert outage, [r.getMessage() for r in records]
    assert all(r.exc_info is None for r in records), "a traceback was logged"
    for kind in ("recovery", "timer"):
        said = [r for r in outage if r.getMessage().startswith(f"{kind} pass:")]
        # One line for the outage, and one more only if the error's message changed
        # (the connection refused, then the pool timing out on it).
        assert 1 <= len(said) <= 3, [r.getMessage() for r in said]
    assert not [r for r in records if r.getMessage().endswith("pass failed")]
