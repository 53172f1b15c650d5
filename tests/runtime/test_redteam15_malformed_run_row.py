"""One malformed ``runs`` row is that run's problem alone (red team 15, hole 08).

SQLite keeps whatever is written into a column. A row whose ``created_at`` was set to
``'yesterday'`` (by hand, by a buggy tool) reached the claim pass's fair ordering as a
string: ``TypeError`` there, so every ``tether worker`` on the store exited 70 and the
healthy runs beside it were never executed; ``tether runs`` crashed the same way. Rows are
now typed where they are read: the worker serves the whole store, and ``tether runs``
lists every run (the bad row with its other timestamp).

A real SQLite file, corrupted through ``sqlite3``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tether import Runtime
from tether.cli import app

sys.path.insert(0, str(Path(__file__).parent))
from _takeover_worker import payer

CORRUPTIONS = {
    "created_at text": "UPDATE runs SET created_at = 'yesterday' WHERE run_id = ?",
    "both times text": "UPDATE runs SET created_at = 'yesterday', updated_at = x'00ff' "
    "WHERE run_id = ?",
    "lease expiry text": "UPDATE runs SET lease_owner = 'ghost', lease_expires_at = 'garbage' "
    "WHERE run_id = ?",
}


async def _store_with_a_bad_row(tmp_path: Path, corruption: str) -> tuple[str, str, str]:
    db = tmp_path / "tether.db"
    url = f"sqlite:///{db}"
    async with Runtime(url, worker=False) as client:
        bad = (await client.start(payer, "the bad row")).run_id
        good = (await client.start(payer, "a healthy run")).run_id
    with closing(sqlite3.connect(db)) as conn:
        conn.execute(CORRUPTIONS[corruption], (bad,))
        conn.commit()
    return url, bad, good


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
async def test_a_worker_serves_the_store_beside_a_malformed_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corruption: str
) -> None:
    monkeypatch.setenv("TETHER_TEST_MARKS", str(tmp_path / "marks.txt"))
    url, bad, good = await _store_with_a_bad_row(tmp_path, corruption)
    async with Runtime(url, agents=[payer], recover=False) as worker:
        claimed = await worker.recover()
        assert good in claimed
        result = await worker.get(good).result(timeout=60)
        assert result.status == "completed"
        runs = {r.run_id: r for r in await worker.list_runs(limit=10)}
    assert set(runs) == {bad, good}
    record = runs[bad]
    assert isinstance(record.created_at, float) and isinstance(record.updated_at, float)
    if corruption == "lease expiry text":
        # As SQLite compares it (text above every number): a lease that holds, so the
        # run is not driven by a second worker while its owner may still be alive.
        assert bad not in claimed
    else:
        assert bad in claimed


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_tether_runs_lists_every_run_beside_a_malformed_row(
    tmp_path: Path, corruption: str
) -> None:
    url, bad, good = asyncio.run(_store_with_a_bad_row(tmp_path, corruption))
    result = CliRunner().invoke(app, ["runs", "--store", url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert bad in result.output and good in result.output
    if corruption == "created_at text":
        # Its creation time is shown as its other time, the one still readable.
        line = next(ln for ln in result.output.splitlines() if bad in ln)
        created, updated = line.split()[3:5]
        assert created == updated
