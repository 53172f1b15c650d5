"""Durability as the README states it: pragmas per URL form, newer schemas, failed commits.

``PRAGMA synchronous`` is a per-connection setting, so it is read from the
store's own connections (the writer that commits, and a reader), not from a
fresh connection that would only show SQLite's default.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime, tool
from tether.engine import RunEvent
from tether.exceptions import ConfigError, SchemaVersionError, StoreError
from tether.models import ModelRequest
from tether.store import EventRow, RunRecord, RunUpdate, open_store
from tether.store._sqlite import SQLiteStore
from tether.testing import ScriptedModel, text, tool_call

# PRAGMA synchronous reads back as a number.
SYNCHRONOUS = {"NORMAL": 1, "FULL": 2}


async def _pragmas(store: SQLiteStore) -> dict[str, tuple[int, str]]:
    """``(synchronous, journal_mode)`` of the store's writer and of a reader connection."""

    def probe(conn: sqlite3.Connection) -> tuple[int, str]:
        sync = conn.execute("PRAGMA synchronous").fetchone()[0]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        return int(sync), str(mode).lower()

    return {"writer": await store._write(probe), "reader": await store._read(probe)}


@pytest.mark.parametrize(
    ("url", "file", "expected"),
    [
        ("sqlite:///rel.db", "rel.db", "FULL"),
        ("sqlite:///nested/dir/rel.db", "nested/dir/rel.db", "FULL"),
        ("sqlite:///{tmp}/abs.db", "abs.db", "FULL"),  # four slashes: an absolute path
        ("sqlite:///{tmp}/abs.db?synchronous=NORMAL", "abs.db", "NORMAL"),
        ("sqlite:///{tmp}/abs.db?synchronous=FULL", "abs.db", "FULL"),
        ("sqlite:///rel.db?synchronous=NORMAL", "rel.db", "NORMAL"),
    ],
)
async def test_url_forms_set_wal_and_the_synchronous_level(
    url: str, file: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every URL form opens the file it names, in WAL mode, at the durability it asks for."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    url = url.format(tmp=tmp_path)
    where = (tmp_path if url.startswith("sqlite:////") else cwd) / file
    async with Runtime(url, recover=False) as rt:
        store = rt.store
        assert isinstance(store, SQLiteStore)
        assert store.durability == expected
        pragmas = await _pragmas(store)
    assert pragmas == {
        "writer": (SYNCHRONOUS[expected], "wal"),
        "reader": (SYNCHRONOUS[expected], "wal"),
    }
    assert where.is_file(), f"{url} should have created {where}"
    with closing(sqlite3.connect(where)) as conn:  # WAL is a property of the file: it stays
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("durability", ["NORMAL", "FULL"])
async def test_runtime_durability_argument_sets_synchronous(
    durability: Any, store_url: str
) -> None:
    """``Runtime(store, durability=...)`` is the other way to choose, as the README says."""
    async with Runtime(store_url, durability=durability, recover=False) as rt:
        assert isinstance(rt.store, SQLiteStore)
        pragmas = await _pragmas(rt.store)
    assert pragmas["writer"] == (SYNCHRONOUS[durability], "wal")
    assert pragmas["reader"] == (SYNCHRONOUS[durability], "wal")


async def test_runtime_durability_argument_wins_over_the_url(tmp_path: Path) -> None:
    """An explicit ``durability=`` is what the code asked for; it overrides the URL's query."""
    url = f"sqlite:///{tmp_path}/t.db?synchronous=NORMAL"
    async with Runtime(url, durability="FULL", recover=False) as rt:
        assert isinstance(rt.store, SQLiteStore)
        assert (await _pragmas(rt.store))["writer"] == (SYNCHRONOUS["FULL"], "wal")


@pytest.mark.parametrize("value", ["OFF", "EXTRA", "fast"])
def test_unsupported_synchronous_levels_are_refused(value: str, tmp_path: Path) -> None:
    """Only FULL and NORMAL are offered; anything else is a configuration error, not a guess."""
    with pytest.raises(ConfigError, match="synchronous must be FULL or NORMAL"):
        open_store(f"sqlite:///{tmp_path}/t.db?synchronous={value}")


async def test_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    """A database written by a newer Tether fails fast with a clear error; nothing is changed."""
    path = tmp_path / "t.db"
    store = SQLiteStore(path)
    await store.open()
    await store.close()
    with closing(sqlite3.connect(path)) as conn, conn:
        (current,) = conn.execute("SELECT version FROM schema_version").fetchone()
        conn.execute("UPDATE schema_version SET version = ?", (current + 1,))

    with pytest.raises(SchemaVersionError, match=rf"schema version {current + 1}.*Upgrade") as err:
        await SQLiteStore(path).open()
    assert err.value.context["version"] == current + 1
    with pytest.raises(SchemaVersionError):
        async with Runtime(f"sqlite:///{path}", recover=False):
            pass
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(current + 1,)]


# -- failed commits ----------------------------------------------------------------------------


def _poison(path: Path, event_type: str) -> None:
    """Make every COMMIT that carries an event of ``event_type`` fail, until ``_heal``.

    The trigger inserts a row whose foreign key is checked only at COMMIT (a deferred
    constraint), so the statements succeed and the COMMIT itself is what fails.
    """
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executescript(
            f"""
            CREATE TABLE poison_switch (armed INTEGER);
            INSERT INTO poison_switch VALUES (1);
            CREATE TABLE poison (
                run INTEGER REFERENCES runs (id) DEFERRABLE INITIALLY DEFERRED
            );
            CREATE TRIGGER poison_commit AFTER INSERT ON events
            WHEN NEW.type = '{event_type}' AND EXISTS (SELECT 1 FROM poison_switch)
            BEGIN INSERT INTO poison (run) VALUES (-1); END;
            """
        )


def _heal(path: Path) -> None:
    """Let commits through again (the store recovered)."""
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DELETE FROM poison_switch")


def _row(seq: int, kind: str = "x.test") -> EventRow:
    return EventRow(seq, 0, time.time(), kind, f'{{"seq":{seq}}}'.encode())


async def test_a_failed_commit_surfaces_and_leaves_nothing_partial(tmp_path: Path) -> None:
    """COMMIT fails: the caller gets a StoreError, no event or status of it is visible."""
    path = tmp_path / "t.db"
    store = SQLiteStore(path)
    await store.open()
    try:
        now = time.time()
        record = RunRecord(
            run_id="r1", agent="a", agent_version="v", status="running", created_at=now,
            updated_at=now,
        )  # fmt: skip
        await store.create_run(record, [_row(1)])
        _poison(path, "boom")
        commits = store.commit_count

        with pytest.raises(StoreError, match="commit failed"):
            await store.append("r1", [_row(2), _row(3, "boom")], RunUpdate(status="failed"))

        assert [r.seq for r in await store.load_events("r1")] == [1]
        after = await store.get_run("r1")
        assert after is not None and (after.status, after.last_seq) == ("running", 1)
        assert store.commit_count == commits  # nothing was counted as committed
        # The writer survives: the next commit goes through.
        await store.append("r1", [_row(2)], RunUpdate(status="completed"))
        assert [r.seq for r in await store.load_events("r1")] == [1, 2]
    finally:
        await store.close()


@tool
def lookup_order(order_id: str) -> dict[str, str]:
    """Look up an order."""
    return {"order_id": order_id, "status": "shipped"}


WRITES: list[str] = []


@tool(effect="write", idempotent=True)
def refund_order(order_id: str) -> str:
    """Refund an order."""
    WRITES.append(order_id)
    return "refunded"


def _script(name: str) -> Any:
    def script(req: ModelRequest) -> Any:
        if req.messages[-1].role == "tool":
            return text("done")
        return tool_call(name, order_id="1234")

    return script


async def _log_of(rt: Runtime, run_id: str) -> list[RunEvent]:
    events = [e async for e in rt.get(run_id).events(follow=False)]
    record = await rt.store.get_run(run_id)
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), f"gap in the log: {seqs}"
    assert record is not None and record.last_seq == seqs[-1], "summary row disagrees with log"
    return events


@pytest.mark.parametrize(
    ("tool_name", "poisoned"),
    [("lookup_order", "tool.completed"), ("refund_order", "tool.started")],
)
async def test_a_step_whose_commit_fails_is_not_on_record_and_the_run_goes_on_from_its_log(
    tool_name: str, poisoned: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """While COMMIT fails nothing of the step is visible; once it works the run continues.

    The failure is reported (naming the failed commit), the log stays a gapless
    prefix the summary row agrees with, and after the store recovers the run
    completes from its log: the failed step is recorded once, and a write whose
    ``tool.started`` could not be committed never ran before it was, and runs once.
    """
    WRITES.clear()
    path = tmp_path / "t.db"
    agent = Agent(
        name="committer",
        model=ScriptedModel(_script(tool_name)),
        tools=[lookup_order, refund_order],
    )
    async with Runtime(f"sqlite:///{path}", recover=False) as rt:
        _poison(path, poisoned)
        run = await rt.start(agent, "where is 1234?")
        deadline = time.monotonic() + 60
        while not any("commit failed" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "a failing commit was never reported"
            record = await rt.store.get_run(run.run_id)
            assert record is not None and record.status in ("pending", "running"), (
                f"the run stopped ({record}) instead of waiting for the store"
            )
            await asyncio.sleep(0.02)
        during = await _log_of(rt, run.run_id)
        assert poisoned not in [e.type for e in during]
        assert WRITES == []
        _heal(path)
        result = await run.result(timeout=60)
        after = await _log_of(rt, run.run_id)
    assert result.status == "completed", result
    assert [e.type for e in after].count(poisoned) == 1
    assert [e.type for e in after].count("tool.completed") == 1
    expected_writes = ["1234"] if tool_name == "refund_order" else []
    assert list(WRITES) == expected_writes
