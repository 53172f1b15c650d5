"""A driver whose lease another process took stops at its next step boundary.

Every append checks the lease, so nothing a driver without its lease records can land;
but the heartbeat used to throw the renewal's answer away, so until its next append failed
the driver went on calling its model (and read tools) for a run someone else now drives:
paid calls for nothing, and reads racing the new owner's. Red team 10's reading of
``Runtime._heartbeat``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

from tether import Agent, Runtime, tool
from tether.testing import ScriptedModel, text, tool_call


async def test_a_driver_whose_lease_was_taken_calls_its_model_no_more(tmp_path: Path) -> None:
    calls: list[int] = []
    taken = asyncio.Event()

    @tool
    async def look(q: str) -> str:
        """Look something up."""
        return f"found {q}"

    async def script(request: Any) -> Any:
        calls.append(len(request.messages))
        if len(calls) == 1:
            await taken.wait()  # the model is thinking while another process takes the run
        if len(calls) < 5:
            return tool_call("look", q=str(len(calls)))
        return text("done")

    agent = Agent(name="reader", model=ScriptedModel(script), tools=[look])
    db = tmp_path / "t.db"
    async with Runtime(f"sqlite:///{db}", lease_ttl=0.3, recover=False) as rt:
        run = await rt.start(agent, "go")
        while not calls:  # noqa: ASYNC110  # the first model call has begun
            await asyncio.sleep(0.01)
        with sqlite3.connect(db) as conn:  # another worker's lease, for ten minutes
            conn.execute(
                "UPDATE runs SET lease_owner = 'another-worker', lease_expires_at = ? "
                "WHERE run_id = ?",
                (time.time() + 600, run.run_id),
            )
        await asyncio.sleep(1.0)  # a few heartbeats (every lease_ttl / 3) find it gone
        taken.set()
        for _ in range(500):
            if run.run_id not in rt._tasks:
                break
            await asyncio.sleep(0.01)
        assert run.run_id not in rt._tasks, "the driver never stopped"
    assert len(calls) == 1, calls  # the step in flight ended; no new model call began
