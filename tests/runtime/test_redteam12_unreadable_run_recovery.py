"""Red team 12, hole 06: one run this code cannot read stopped recovery of every run.

A claim pass reads each candidate's ``run.created`` for its priority. One run whose first
event was written by a newer Tether (``"v": 2``, a rolling upgrade) or edited by hand
raised out of the whole pass: ``async with Runtime(...)`` failed (its first pass runs at
open), and a worker already up logged "recovery pass failed" on every pass while healthy
orphans waited forever. Now such a run gets the default priority, and claiming it is what
refuses it, for that run alone.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tether import Agent, Runtime
from tether.testing import ScriptedModel, text

agent = Agent(name="plain", model=ScriptedModel(lambda req: text("done")))


async def test_an_unreadable_run_does_not_stop_the_others_being_recovered(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/t.db"
    async with Runtime(url, agents=[agent], worker=False) as client:  # creates, drives nothing
        healthy = await client.start(agent, "run A")
        newer = await client.start(agent, "run B")
    with sqlite3.connect(tmp_path / "t.db") as conn:
        (pk,) = conn.execute("SELECT id FROM runs WHERE run_id = ?", (newer.run_id,)).fetchone()
        (stored,) = conn.execute(
            "SELECT data FROM events WHERE run = ? AND seq = 1", (pk,)
        ).fetchone()
        stored = bytes(stored)
        whole = stored if stored[:1] == b"{" else b'{"v":1,"type":"run.created",' + stored
        event = json.loads(whole)
        event["v"] = 2  # what the next schema version writes
        conn.execute(
            "UPDATE events SET data = ? WHERE run = ? AND seq = 1", (json.dumps(event).encode(), pk)
        )
    async with Runtime(url, agents=[agent]) as worker:  # its first claim pass runs here
        result = await worker.get(healthy.run_id).result(timeout=30)
        left = await worker.get_run(newer.run_id)
    assert result.status == "completed" and result.output == "done"
    assert left is not None and left.status == "pending"  # set aside, not driven
