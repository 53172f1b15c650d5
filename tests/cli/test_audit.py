"""``tether audit RUN_ID [--verify] [--json]``: who approved what, and whether the log is intact.

A real agent runs on a SQLite file and is approved by ana; the file is then tampered
with through plain ``sqlite3``. ``--verify`` exits 5 (``EXIT_TAMPERED``) and names the
first bad sequence number for a changed, a deleted middle, a deleted last and a swapped
event; an untouched run exits 0; a run written before the chain existed is reported as
"not chained before seq N", not as tampering.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tether import Agent, Runtime, tool
from tether.cli import EXIT_COMPLETED, EXIT_TAMPERED, EXIT_USAGE, app
from tether.models import ModelRequest
from tether.testing import ScriptedModel, text, tool_call

ROOT = Path(__file__).resolve().parents[2]


def tether_process(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tether.cli ARGS`` in a fresh process, as a person would."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("TETHER_STORE", None)
    env.pop("TETHER_TRACEBACK", None)
    return subprocess.run(
        [sys.executable, "-m", "tether.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_error_line(stderr: str, *parts: str) -> None:
    """stderr is a single ``error:`` line with no traceback, mentioning every part."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for part in parts:
        assert part in lines[0], f"{part!r} not in {lines[0]!r}"


@tool(effect="write", requires_approval=True)
def close_account(account: str) -> str:
    """Close a customer account."""
    return f"closed {account}"


def _script(req: ModelRequest) -> Any:
    if not any(m.role == "tool" for m in req.messages):
        return tool_call("close_account", account="acct-7")
    return text("account closed")


async def _approved_run(url: str) -> str:
    agent = Agent(name="closer", model=ScriptedModel(_script), tools=[close_account])
    async with Runtime(url) as rt:
        run = await rt.start(agent, "close acct-7", tenant="acme")
        assert (await run.result()).status == "waiting"
        (pending,) = await run.pending_approvals()
        await rt.approve(run.run_id, pending.approval_id, by="ana")
        assert (await rt.get(run.run_id).result()).status == "completed"
        return run.run_id


@pytest.fixture
def approved(tmp_path: Path) -> tuple[str, Path, str]:
    """A completed run that ana approved: (store URL, database path, run id)."""
    path = tmp_path / "tether.db"
    url = f"sqlite:///{path}"
    return url, path, asyncio.run(_approved_run(url))


def tether(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _sql(path: Path, run_id: str, *statements: str) -> None:
    conn = sqlite3.connect(path)
    try:
        (pk,) = conn.execute("SELECT id FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        for statement in statements:
            conn.execute(statement.format(run=pk))
        conn.commit()
    finally:
        conn.close()


def _last_seq(path: Path, run_id: str) -> int:
    with sqlite3.connect(path) as conn:
        (last,) = conn.execute("SELECT last_seq FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return int(last)


def test_an_untouched_run_verifies_and_shows_who_approved(approved: tuple[str, Path, str]) -> None:
    url, _, run_id = approved
    result = tether("audit", run_id, "--store", url, "--verify")
    assert result.exit_code == EXIT_COMPLETED, result.output
    assert "chain intact" in result.stdout
    assert "approved by ana" in result.stdout
    assert "close_account started (write)" in result.stdout
    assert result.stderr == ""


def test_json_is_the_report_the_http_api_serves(approved: tuple[str, Path, str]) -> None:
    url, _, run_id = approved
    result = tether("audit", run_id, "--store", url, "--json")
    assert result.exit_code == EXIT_COMPLETED, result.output
    body = json.loads(result.stdout)
    assert (body["run_id"], body["verified"], body["first_bad_seq"]) == (run_id, True, None)
    (decided,) = [e for e in body["entries"] if e["kind"] == "approval.approved"]
    assert decided["fields"]["by"] == "ana"
    assert [e["seq"] for e in body["entries"]] == sorted(e["seq"] for e in body["entries"])


TAMPERING = {
    # name: (statements, first bad seq as a function of the run's last seq)
    "changed-data": (
        [
            "UPDATE events SET data = CAST(replace(CAST(data AS TEXT), 'ana', 'eve') AS BLOB) "
            "WHERE run = {run} AND type = 'approval.decided'"
        ],
        None,
    ),
    "deleted-middle": (["DELETE FROM events WHERE run = {run} AND seq = 5"], 5),
    "deleted-last": (
        [
            "DELETE FROM events WHERE run = {run} AND seq = (SELECT max(seq) "
            "FROM events WHERE run = {run})"
        ],
        -1,
    ),
    "swapped": (
        [
            "UPDATE events SET seq = -1 WHERE run = {run} AND seq = 2",
            "UPDATE events SET seq = 2 WHERE run = {run} AND seq = 3",
            "UPDATE events SET seq = 3 WHERE run = {run} AND seq = -1",
        ],
        2,
    ),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_verify_exits_5_and_names_the_first_bad_seq(
    case: str, approved: tuple[str, Path, str]
) -> None:
    url, path, run_id = approved
    statements, expected = TAMPERING[case]
    if expected is None:  # the approval's own seq
        with sqlite3.connect(path) as conn:
            (expected,) = conn.execute(
                "SELECT seq FROM events WHERE type = 'approval.decided'"
            ).fetchone()
    elif expected == -1:
        expected = _last_seq(path, run_id)
    _sql(path, run_id, *statements)

    result = tether("audit", run_id, "--store", url, "--verify")
    assert result.exit_code == EXIT_TAMPERED, result.output
    assert f"TAMPERED at seq {expected}" in result.stdout
    assert_one_error_line(result.stderr, f"event {expected}", "tampered")

    # Without --verify the record is still printed, with the verdict, and exits 0.
    plain = tether("audit", run_id, "--store", url)
    assert plain.exit_code == EXIT_COMPLETED, plain.output
    assert f"TAMPERED at seq {expected}" in plain.stdout


def test_verify_in_a_real_process_exits_5(approved: tuple[str, Path, str], tmp_path: Path) -> None:
    url, path, run_id = approved
    _sql(path, run_id, "DELETE FROM events WHERE run = {run} AND seq = 3")
    proc = tether_process("audit", run_id, "--store", url, "--verify", cwd=tmp_path)
    assert proc.returncode == EXIT_TAMPERED, proc.stderr
    assert_one_error_line(proc.stderr, "event 3 is missing")
    json_proc = tether_process("audit", run_id, "--store", url, "--json", cwd=tmp_path)
    assert json_proc.returncode == EXIT_COMPLETED, json_proc.stderr
    assert json.loads(json_proc.stdout)["first_bad_seq"] == 3


def test_a_database_from_before_the_chain_is_not_called_tampered(tmp_path: Path) -> None:
    """Rows written before the chain existed: "not chained before seq N", exit 0."""
    path = tmp_path / "old.db"
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
            "updated_at) VALUES ('old', 'a', 'v', 'completed', 2, ?, ?)",
            (old, old),
        )
        created = json.dumps(
            {"type": "run.created", "agent": "a", "agent_version": "v", "initial_state": "s"}
        )
        conn.execute(
            "INSERT INTO events VALUES (1, 1, 0, ?, 'run.created', ?)", (old, created.encode())
        )
        status = json.dumps({"type": "run.status", "previous": "pending", "status": "running"})
        conn.execute(
            "INSERT INTO events VALUES (1, 2, 0, ?, 'run.status', ?)", (old, status.encode())
        )
        conn.commit()
    finally:
        conn.close()
    url = f"sqlite:///{path}"
    result = tether("audit", "old", "--store", url, "--verify")
    assert result.exit_code == EXIT_COMPLETED, result.output
    assert "not chained before seq 3" in result.stdout
    assert "TAMPERED" not in result.stdout
    body = json.loads(tether("audit", "old", "--store", url, "--json").stdout)
    assert (body["verified"], body["first_bad_seq"], body["unchained_before"]) == (False, None, 3)


def test_an_unknown_run_is_one_error_line_with_a_hint(approved: tuple[str, Path, str]) -> None:
    url, _, _ = approved
    result = tether("audit", "run_nope", "--store", url, "--verify")
    assert result.exit_code == EXIT_USAGE
    assert_one_error_line(result.stderr, "run_nope", "tether runs")


def test_a_missing_store_is_not_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/absent.db"
    result = tether("audit", "run_x", "--store", url)
    assert result.exit_code == EXIT_USAGE
    assert_one_error_line(result.stderr, "no store")
    assert not (tmp_path / "absent.db").exists()


@tool(effect="write")
def wire_money(to: str) -> str:
    """Wire money."""
    return f"wired to {to}"


@tool
def look_up(q: str) -> str:
    """Look something up (a read that fails)."""
    raise ValueError("backend down")


def test_a_refused_write_is_shown_as_not_run_and_a_failed_read_as_a_read(tmp_path: Path) -> None:
    """Red team 14: a write the policy denied was labelled "(read)" in the audit: it never
    ran, so it is "not run"; a read that ran and failed is still a read."""
    from tether.policy import Policy, PolicyFile
    from tether.runtime._audit import audit_run

    rules = PolicyFile.loads(
        'version = 1\n[[rules]]\nname = "no-wires"\ntool = "wire_money"\naction = "deny"\n',
        source="deny.toml",
    )

    def script(req: ModelRequest) -> Any:
        if not any(m.role == "tool" for m in req.messages):
            return [tool_call("wire_money", to="mallory"), tool_call("look_up", q="x")]
        return text("done")

    async def go() -> list[Any]:
        agent = Agent(
            name="wirer",
            model=ScriptedModel(script),
            tools=[wire_money, look_up],
            policy=Policy(rules=rules),
        )
        async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
            run = await rt.start(agent, "wire it")
            await run.result()
            report = await audit_run(rt, run.run_id)
        return [e for e in report.entries if e.kind == "tool.failed"]

    failed = {e.fields["tool"]: e for e in asyncio.run(go())}
    assert failed["wire_money"].fields["effect"] == "not run"
    assert "wire_money failed (not run): denied" in failed["wire_money"].summary
    assert failed["look_up"].fields["effect"] == "read"
