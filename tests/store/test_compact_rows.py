"""SQLite keeps an event's JSON without the head its ``type`` column already says.

The log reads back exactly the JSON the engine wrote, for rows stored either way (a
database written before this form holds whole JSON), and the bytes saved are real.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from tether.store import EventRow, RunRecord, open_store


def _record(run_id: str) -> RunRecord:
    now = time.time()
    return RunRecord(
        run_id=run_id,
        agent="a",
        agent_version="v",
        status="running",
        created_at=now,
        updated_at=now,
    )


async def test_rows_read_back_as_written_in_either_stored_form(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    written = [
        EventRow(1, 0, 1.0, "run.created", b'{"v":1,"type":"run.created","agent":"a"}'),
        EventRow(2, 0, 2.0, "transition", b'{"v":1,"type":"transition","to":"think"}'),
        EventRow(3, 0, 3.0, "odd", b'{"v":2,"type":"odd","x":1}'),  # another version
        EventRow(4, 0, 4.0, "bare", b'{"v":1,"type":"bare"}'),  # no fields after the type
        EventRow(5, 1, 5.0, "quoted", b'{"v":1,"type":"quoted","s":"\\"{"}'),
    ]
    store = open_store(f"sqlite:///{path}")
    await store.open()
    try:
        await store.create_run(_record("r1"), written[:1])
        await store.append("r1", written[1:])
        # A row as a database from before this form holds it: the whole JSON.
        with sqlite3.connect(path) as conn:
            conn.execute(
                "INSERT INTO events (run, seq, step, ts, type, data) "
                "VALUES ((SELECT id FROM runs WHERE run_id = 'r1'), 6, 1, 6.0, 'transition', ?)",
                (b'{"v":1,"type":"transition","to":"act"}',),
            )
            conn.execute("UPDATE runs SET last_seq = 6 WHERE run_id = 'r1'")
        loaded = await store.load_events("r1")
    finally:
        await store.close()
    assert [r.data for r in loaded[:5]] == [r.data for r in written]
    assert loaded[5].data == b'{"v":1,"type":"transition","to":"act"}'
    with sqlite3.connect(path) as conn:
        stored = dict(conn.execute("SELECT seq, data FROM events ORDER BY seq").fetchall())
    assert stored[2] == b'"to":"think"}'  # the head is not stored twice
    assert stored[3] == written[2].data and stored[4] == written[3].data
