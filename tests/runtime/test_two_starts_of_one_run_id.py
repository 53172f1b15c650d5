"""Two starts of one run id in one process: the one that loses does not unmark the other.

An HTTP retry that takes over a stale Idempotency-Key starts the very run id the key
names (red team 15, hole 05), so two ``start()`` calls of one run id can be under way in
one process. For a tenant with a concurrency cap, a start marks its run as starting so
that this process's own claim passes leave it alone until start decides who drives it.
The losing start (its insert finds the run already there) used to clear that mark in its
``finally`` while the winner was still deciding, and a claim pass could then adopt the
winner's run beside it: two drivers of one run in one process.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime
from tether.exceptions import ConcurrentWriteError
from tether.testing import ScriptedModel, text


def _agent() -> Agent:
    return Agent(name="capped", model=ScriptedModel([text("done")]), max_turns=2)


async def test_the_losing_start_leaves_the_winner_marked_as_starting(tmp_path: Path) -> None:
    agent = _agent()
    async with Runtime(
        f"sqlite:///{tmp_path}/t.db", agents=[agent], tenant_concurrency=1, recover=False
    ) as rt:
        store = rt.store
        real_create = store.create_run
        inserted = asyncio.Event()
        go_on = asyncio.Event()
        calls = 0

        async def create_run(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            result = await real_create(*args, **kwargs)
            if calls == 1:  # the winner: its run is in; hold it before start decides
                inserted.set()
                await go_on.wait()
            return result

        store.create_run = create_run  # type: ignore[method-assign]
        winner = asyncio.create_task(rt.start(agent, "hi", tenant="acme", run_id="run_same"))
        await inserted.wait()
        with pytest.raises(ConcurrentWriteError):
            await rt.start(agent, "hi", tenant="acme", run_id="run_same")
        # The winner has not decided yet: its run is still this process's to start, so a
        # claim pass here must not adopt it.
        assert "run_same" in rt._starting
        go_on.set()
        handle = await winner
        result = await handle.result(timeout=30)
        assert result.status == "completed"
        assert "run_same" not in rt._starting
