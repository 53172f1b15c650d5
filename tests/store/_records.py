"""Run records and event rows for store tests that need nothing particular in them."""

from __future__ import annotations

import json
import time

from tether.store import EventRow, RunRecord


def run_record(run_id: str, *, status: str = "running", owner: str | None = None) -> RunRecord:
    """A run's summary row, leased for 30 s to ``owner`` when one is given."""
    now = time.time()
    return RunRecord(
        run_id=run_id,
        agent="agent",
        agent_version="v1",
        status=status,
        created_at=now,
        updated_at=now,
        lease_owner=owner,
        lease_expires_at=now + 30 if owner else None,
    )


def event_rows(first: int, count: int, kind: str = "x.test") -> list[EventRow]:
    """``count`` events from seq ``first``, each holding its own seq."""
    return [
        EventRow(seq, 0, time.time(), kind, json.dumps({"seq": seq}).encode())
        for seq in range(first, first + count)
    ]
