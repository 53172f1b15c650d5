"""The hash chain over each run's events (issue 9, item 6): tampering names its first seq.

Real agents run on a SQLite file; the file is then changed with plain ``sqlite3`` the
way someone with access to the database would: one event's data edited, a middle row
deleted, the last row deleted, two rows' sequence numbers swapped, a hash stripped.
Each is caught at the right sequence number by ``verify_chain`` and ``audit_run``.
The chain's encoding is recomputed here from its documentation, independently of the
store's code, so a change of encoding cannot pass unnoticed.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import sqlite3
import struct
import time
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime, tool
from tether.models import ModelRequest
from tether.runtime import audit_run
from tether.store import EventRow, RunRecord, genesis_hash, open_store, verify_chain
from tether.testing import ScriptedModel, text, tool_call


@tool(effect="write", requires_approval=True)
def send_refund(order_id: str, amount_cents: int) -> str:
    """Refund an order."""
    return f"refunded {amount_cents} cents on {order_id}"


@tool
def look_up(order_id: str) -> str:
    """Read an order."""
    return f"order {order_id}: paid"


def _script(req: ModelRequest) -> Any:
    tool_turns = sum(1 for m in req.messages if m.role == "tool")
    if tool_turns == 0:
        return tool_call("look_up", order_id="A1")
    if tool_turns == 1:
        return tool_call("send_refund", order_id="A1", amount_cents=900)
    return text("refund sent")


def _agent() -> Agent:
    return Agent(name="refunds", model=ScriptedModel(_script), tools=[look_up, send_refund])


async def _approved_run(url: str) -> str:
    """A run that reads, asks for approval, is approved by ana with edited arguments, completes."""
    async with Runtime(url) as rt:
        run = await rt.start(_agent(), "refund order A1", tenant="acme")
        assert (await run.result()).status == "waiting"
        (pending,) = await run.pending_approvals()
        await rt.approve(
            run.run_id,
            pending.approval_id,
            by="ana",
            arguments={"order_id": "A1", "amount_cents": 500},
        )
        assert (await rt.get(run.run_id).result()).status == "completed"
        return run.run_id


async def _audit(url: str, run_id: str) -> Any:
    async with Runtime(url, recover=False) as rt:
        return await audit_run(rt, run_id)


def _db(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "tether.db"
    return f"sqlite:///{path}", path


def _rows(path: Path, run_id: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT e.seq, e.step, e.ts, e.type, e.data, e.hash FROM events e "
            "JOIN runs r ON r.id = e.run WHERE r.run_id = ? ORDER BY e.seq",
            (run_id,),
        ).fetchall()


def _tamper(path: Path, sql: str, *params: Any) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def _documented_hash(prev: bytes, run_id: str, row: tuple[Any, ...]) -> bytes:
    """The encoding as ``tether/store/_chain.py`` documents it, written out again."""
    seq, step, ts, kind, stored = row[:5]
    # The data column omits the `{"v":1,"type":"<type>",` head its type column implies;
    # the chain covers the event's JSON as written, head included.
    data = bytes(stored)
    if not data.startswith(b"{"):
        data = b'{"v":1,"type":"' + kind.encode() + b'",' + data
    rid, kind_b = run_id.encode(), kind.encode()
    return hashlib.sha256(
        b"tether.event.v1\x00"
        + prev
        + struct.pack(">q", seq)
        + struct.pack(">q", step)
        + struct.pack(">d", ts)
        + struct.pack(">I", len(rid))
        + struct.pack(">I", len(kind_b))
        + struct.pack(">Q", len(data))
        + rid
        + kind_b
        + bytes(data)
    ).digest()[:16]


# -- an untouched run --------------------------------------------------------------------------


async def test_every_event_links_to_the_one_before_in_the_documented_encoding(
    tmp_path: Path,
) -> None:
    url, path = _db(tmp_path)
    run_id = await _approved_run(url)
    rows = _rows(path, run_id)
    assert len(rows) >= 10
    prev = hashlib.sha256(b"tether.genesis.v1\x00" + run_id.encode()).digest()[:16]
    assert genesis_hash(run_id) == prev
    for row in rows:
        assert len(row[5]) == 16
        assert bytes(row[5]) == _documented_hash(prev, run_id, row), f"seq {row[0]}"
        prev = bytes(row[5])


async def test_an_untouched_run_verifies_and_names_who_approved(tmp_path: Path) -> None:
    url, path = _db(tmp_path)
    run_id = await _approved_run(url)
    report = await _audit(url, run_id)
    assert report.verified and report.first_bad_seq is None and report.problem is None
    assert report.unchained_before is None
    assert report.head == bytes(_rows(path, run_id)[-1][5]).hex()
    assert (report.agent, report.tenant, report.status) == ("refunds", "acme", "completed")
    kinds = [e.kind for e in report.entries]
    assert kinds[0] == "run.started" and kinds[-2:] == ["run.finished", "status"]
    assert kinds.index("approval.requested") < kinds.index("approval.approved")
    assert kinds.index("approval.approved") < kinds.index("tool.started")
    (approved,) = [e for e in report.entries if e.kind == "approval.approved"]
    assert approved.fields["by"] == "ana"
    assert approved.fields["arguments"] == {"order_id": "A1", "amount_cents": 500}
    assert "by ana with changed arguments" in approved.summary
    effects = {
        (e.fields["tool"], e.fields["effect"]) for e in report.entries if e.kind == "tool.completed"
    }
    assert effects == {("look_up", "read"), ("send_refund", "write")}
    assert [e.seq for e in report.entries] == sorted(e.seq for e in report.entries)
    body = report.to_json()
    assert body["verified"] is True and body["first_bad_seq"] is None
    assert any(e["fields"].get("by") == "ana" for e in body["entries"])


async def test_runs_committed_together_by_group_commit_each_verify(tmp_path: Path) -> None:
    """Many runs at once share transactions (the executemany path); every chain holds."""
    url, _ = _db(tmp_path)

    def answer(req: ModelRequest) -> Any:
        if not any(m.role == "tool" for m in req.messages):
            return tool_call("look_up", order_id="B2")
        return text("done")

    agent = Agent(name="many", model=ScriptedModel(answer), tools=[look_up])
    async with Runtime(url) as rt:
        handles = [await rt.start(agent, f"task {i}") for i in range(30)]
        results = await asyncio.gather(*(h.result() for h in handles))
        assert {r.status for r in results} == {"completed"}
        shared = rt.store.commit_count < rt.store.write_count  # type: ignore[attr-defined]
        reports = [await audit_run(rt, h.run_id) for h in handles]
    assert shared, "the runs never shared a commit; this test did not reach group commit"
    assert all(r.verified for r in reports), [r.problem for r in reports if not r.verified]


async def test_chains_hold_when_the_store_forgets_its_cached_heads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's per-run caches (primary key, chain head) are bounded: past the bound
    they start over, and later appends read the head back from the log instead."""
    from tether.store import _sqlite

    monkeypatch.setattr(_sqlite, "MAX_CACHED_RUNS", 4)
    url, _ = _db(tmp_path)

    gate = asyncio.Event()

    async def answer(req: ModelRequest) -> Any:
        # Every run stays in flight until all twelve started: a run that parks or ends
        # leaves the cache, so only runs being driven can fill it past the bound.
        await gate.wait()
        turns = sum(m.role == "tool" for m in req.messages)
        return tool_call("look_up", order_id=f"B{turns}") if turns < 3 else text("done")

    agent = Agent(name="forgetful", model=ScriptedModel(answer), tools=[look_up])
    async with Runtime(url) as rt:
        store = rt.store
        sizes: list[int] = []
        handles = []
        for i in range(12):
            handles.append(await rt.start(agent, f"task {i}"))
            sizes.append(len(store._run_ids))  # type: ignore[attr-defined]
        gate.set()
        results = await asyncio.gather(*(h.result() for h in handles))
        assert {r.status for r in results} == {"completed"}
        sizes.append(len(store._heads))  # type: ignore[attr-defined]
        reports = [await audit_run(rt, h.run_id) for h in handles]
    # Never more than the bound plus one transaction's worth of new runs.
    assert max(sizes) <= 4 + 12, sizes
    assert any(b < a for a, b in itertools.pairwise(sizes[:12])), f"never started over: {sizes}"
    assert all(r.verified for r in reports), [r.problem for r in reports if not r.verified]


# -- tampering ---------------------------------------------------------------------------------


async def test_changed_event_data_is_caught_at_its_seq(tmp_path: Path) -> None:
    url, path = _db(tmp_path)
    run_id = await _approved_run(url)
    rows = _rows(path, run_id)
    (decided,) = [r for r in rows if r[3] == "approval.decided"]
    forged = bytes(decided[4]).replace(b'"ana"', b'"eve"')
    assert forged != bytes(decided[4])
    _tamper(
        path,
        "UPDATE events SET data = ? WHERE seq = ? AND run = (SELECT id FROM runs WHERE run_id = ?)",
        forged,
        decided[0],
        run_id,
    )
    report = await _audit(url, run_id)
    assert not report.verified
    assert report.first_bad_seq == decided[0]
    assert "changed" in (report.problem or "")


async def test_a_deleted_middle_event_is_caught_at_its_seq(tmp_path: Path) -> None:
    url, path = _db(tmp_path)
    run_id = await _approved_run(url)
    _tamper(
        path,
        "DELETE FROM events WHERE seq = 4 AND run = (SELECT id FROM runs WHERE run_id = ?)",
        run_id,
    )
    report = await _audit(url, run_id)
    assert (report.verified, report.first_bad_seq) == (False, 4)
    assert "missing" in (report.problem or "")


async def test_a_deleted_last_event_is_caught_against_last_seq(tmp_path: Path) -> None:
    url, path = _db(tmp_path)
    run_id = await _approved_run(url)
    last = _rows(path, run_id)[-1][0]
    _tamper(
        path,
        "DELETE FROM events WHERE seq = ? AND run = (SELECT id FROM runs WHERE run_id = ?)",
        last,
        run_id,
    )
    report = await _audit(url, run_id)
    assert (report.verified, report.first_bad_seq) == (False, last)
    assert report.entries[-1].seq < last


async def test_two_swapped_events_are_caught_at_the_earlier_seq(tmp_path: Path) -> None:
    url, path = _db(tmp_path)
    run_id = await _approved_run(url)
    run = "(SELECT id FROM runs WHERE run_id = ?)"
    _tamper(path, f"UPDATE events SET seq = -1 WHERE seq = 3 AND run = {run}", run_id)
    _tamper(path, f"UPDATE events SET seq = 3 WHERE seq = 6 AND run = {run}", run_id)
    _tamper(path, f"UPDATE events SET seq = 6 WHERE seq = -1 AND run = {run}", run_id)
    report = await _audit(url, run_id)
    assert (report.verified, report.first_bad_seq) == (False, 3)


async def test_a_stripped_hash_in_a_chained_run_is_tampering(tmp_path: Path) -> None:
    """Removing the hashes cannot pass an event off as written before the chain existed."""
    url, path = _db(tmp_path)
    run_id = await _approved_run(url)
    _tamper(path, "UPDATE events SET hash = NULL WHERE seq <= 2")
    report = await _audit(url, run_id)
    assert (report.verified, report.first_bad_seq) == (False, 1)
    assert report.unchained_before is None


async def test_an_event_moved_to_another_run_is_caught(tmp_path: Path) -> None:
    url, path = _db(tmp_path)
    first = await _approved_run(url)
    second = await _approved_run(url)
    # Give the second run the first run's seq-2 row (hashes and all) in place of its own.
    with sqlite3.connect(path) as conn:
        ids = dict(conn.execute("SELECT run_id, id FROM runs").fetchall())
        conn.execute("DELETE FROM events WHERE run = ? AND seq = 2", (ids[second],))
        conn.execute(
            "INSERT INTO events SELECT ?, seq, step, ts, type, data, hash "
            "FROM events WHERE run = ? AND seq = 2",
            (ids[second], ids[first]),
        )
    report = await _audit(url, second)
    assert report.first_bad_seq == 2


async def test_unreadable_event_data_is_an_entry_not_a_crash(tmp_path: Path) -> None:
    url, path = _db(tmp_path)
    run_id = await _approved_run(url)
    _tamper(
        path,
        "UPDATE events SET data = ? WHERE seq = 2 AND run = (SELECT id FROM runs WHERE run_id = ?)",
        b"\xff not json",
        run_id,
    )
    report = await _audit(url, run_id)
    assert report.first_bad_seq == 2
    assert [e.kind for e in report.entries if e.seq == 2] == ["unreadable"]


# -- the writer's cached chain head ------------------------------------------------------------


def _record(run_id: str, created_at: float | None = None) -> RunRecord:
    now = time.time() if created_at is None else created_at
    return RunRecord(
        run_id=run_id,
        agent="a",
        agent_version="v",
        status="running",
        created_at=now,
        updated_at=now,
    )


def _row(seq: int, note: str = "") -> EventRow:
    return EventRow(seq, seq, 1000.0 + seq, "x.test", f'{{"seq":{seq},"note":"{note}"}}'.encode())


async def _verdict(url: str, run_id: str) -> Any:
    store = open_store(url)
    await store.open()
    try:
        chain = await store.load_event_chain(run_id)
    finally:
        await store.close()
    assert chain is not None
    return verify_chain(run_id, chain.rows, chain.last_seq, predates_chain=chain.predates_chain)


async def test_two_writers_on_one_file_keep_one_chain(tmp_path: Path) -> None:
    """A head cached by one process is not used after another process appended."""
    url, _ = _db(tmp_path)
    a, b = open_store(url), open_store(url)
    await a.open()
    await b.open()
    try:
        await a.create_run(_record("r"), [_row(1)])
        await a.append("r", [_row(2)])
        await b.append("r", [_row(3)])
        await a.append("r", [_row(4), _row(5)])  # a's cached head is seq 2: it must re-read
        await b.append("r", [_row(6)])
    finally:
        await a.close()
        await b.close()
    verdict = await _verdict(url, "r")
    assert verdict.ok and verdict.checked == 6, verdict


async def test_a_rolled_back_append_leaves_no_cached_head(tmp_path: Path) -> None:
    """An append rolled back with its batch must not leave its hash as the run's head."""
    url, _ = _db(tmp_path)
    a, b = open_store(url), open_store(url)
    await a.open()
    await b.open()
    try:
        await a.create_run(_record("r"), [_row(1)])

        def hold(conn: sqlite3.Connection) -> None:
            time.sleep(0.3)  # keep the writer busy so the next two jobs share a batch

        def poison(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA defer_foreign_keys=ON")  # legal now, refused at COMMIT
            conn.execute(
                "INSERT INTO events (run, seq, step, ts, type, data) "
                "VALUES (999999, 1, 0, 0, 'x', x'00')"
            )

        holding = asyncio.ensure_future(a._write(hold))  # type: ignore[attr-defined]
        await asyncio.sleep(0.05)
        lost = asyncio.ensure_future(a.append("r", [_row(2, "lost")]))
        poisoned = asyncio.ensure_future(a._write(poison))  # type: ignore[attr-defined]
        await holding
        results = await asyncio.gather(lost, poisoned, return_exceptions=True)
        assert all(isinstance(r, Exception) for r in results), results
        await b.append("r", [_row(2, "kept")])  # another process writes seq 2 differently
        await a.append("r", [_row(3)])
    finally:
        await a.close()
        await b.close()
    verdict = await _verdict(url, "r")
    assert verdict.ok and verdict.checked == 3, verdict


# -- a database written before the chain existed -----------------------------------------------


def _legacy_database(path: Path, run_id: str, events: int) -> None:
    """A store at schema version 2 (before API keys and the chain) holding one run."""
    folder = resources.files("tether.store.migrations.sqlite")
    conn = sqlite3.connect(path)
    try:
        for name in ("0001_init.sql", "0002_wake_at.sql"):
            conn.executescript((folder / name).read_text())
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version (version) VALUES (2)")
        old = time.time() - 86400
        conn.execute(
            "INSERT INTO runs (run_id, agent, agent_version, status, last_seq, created_at, "
            "updated_at) VALUES (?, 'a', 'v', 'waiting', ?, ?, ?)",
            (run_id, events, old, old),
        )
        for seq in range(1, events + 1):
            row = _row(seq, "legacy")
            conn.execute(
                "INSERT INTO events (run, seq, step, ts, type, data) VALUES (1, ?, ?, ?, ?, ?)",
                (row.seq, row.step, row.ts, row.type, row.data),
            )
        conn.commit()
    finally:
        conn.close()


async def test_a_run_from_before_the_chain_is_reported_unchained_not_tampered(
    tmp_path: Path,
) -> None:
    url, path = _db(tmp_path)
    _legacy_database(path, "old", 3)
    verdict = await _verdict(url, "old")  # opening upgrades the database
    assert (verdict.ok, verdict.first_bad_seq, verdict.unchained_before) == (True, None, 4)
    assert verdict.checked == 0


async def test_a_legacy_run_that_continues_is_chained_from_its_first_new_event(
    tmp_path: Path,
) -> None:
    url, path = _db(tmp_path)
    _legacy_database(path, "old", 3)
    store = open_store(url)
    await store.open()
    try:
        await store.append("old", [_row(4), _row(5)])
        await store.append("old", [_row(6)])
    finally:
        await store.close()
    verdict = await _verdict(url, "old")
    assert (verdict.ok, verdict.unchained_before, verdict.checked) == (True, 4, 3)
    rows = _rows(path, "old")
    # The first chained event starts a chain: it links to the genesis value.
    assert bytes(rows[3][5]) == _documented_hash(genesis_hash("old"), "old", rows[3])

    _tamper(path, "UPDATE events SET data = x'7b7d' WHERE seq = 5")
    verdict = await _verdict(url, "old")
    assert (verdict.ok, verdict.first_bad_seq, verdict.unchained_before) == (False, 5, 4)


async def test_the_upgrade_keeps_a_legacy_run_readable_and_new_runs_chained(
    tmp_path: Path,
) -> None:
    url, path = _db(tmp_path)
    _legacy_database(path, "old", 2)
    async with Runtime(url, recover=False) as rt:
        assert [r.seq for r in await rt.store.load_events("old")] == [1, 2]
    run_id = await _approved_run(url)
    report = await _audit(url, run_id)
    assert report.verified
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        (version,) = conn.execute("SELECT version FROM schema_version").fetchone()
    assert "event_chain" in tables
    assert version >= 4


# -- verify_chain on rows alone ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_seq", "first_bad"),
    [(3, None), (4, 4), (2, 3)],
    ids=["complete", "last-missing", "extra-row-beyond-summary"],
)
def test_verify_chain_compares_the_log_with_last_seq(last_seq: int, first_bad: int | None) -> None:
    from tether.store import event_hash, run_key

    prev, rows = genesis_hash("r"), []
    for seq in (1, 2, 3):
        data = f'{{"seq":{seq}}}'.encode()
        digest = event_hash(prev, run_key("r"), seq, 0, 1.5, "x", data)
        rows.append(EventRow(seq, 0, 1.5, "x", data, digest))
        prev = digest
    verdict = verify_chain("r", rows, last_seq)
    assert verdict.first_bad_seq == first_bad
    assert verdict.ok is (first_bad is None)
    assert verify_chain("r", [], 0).ok
    assert verify_chain("other-run", rows, 3).first_bad_seq == 1  # bound to its run id
