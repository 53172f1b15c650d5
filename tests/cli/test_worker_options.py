"""``tether worker`` fleet options reach the worker's Runtime and change what it does.

Real ``tether worker`` processes on a temporary SQLite store, fed by a pure-client
runtime, the way ``tests/runtime/test_fleet.py`` runs them (and with its agents):
``--quarantine-after 1`` sets a poisoned run aside after one death instead of three;
``--tenant-concurrency 1`` keeps a tenant's runs from executing together while another
tenant's run executes alongside; ``--claim-interval`` is reported and the queue still
drains. Bad values are click usage errors (exit 2) naming the option, before anything is
opened. (Backpressure, ``--max-pending``, belongs to ``tether serve``, which starts runs:
tests/server/test_serve_cli.py.)

Nothing asserts a duration: waits poll the store with deadlines that only bound a hung
test.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import signal
import sqlite3
import sys
import textwrap
from contextlib import closing
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

from tether import Agent, Runtime
from tether.cli import EXIT_USAGE, app
from tether.exceptions import ApprovalError
from tether.store import open_store

RUNTIME_TESTS = Path(__file__).resolve().parents[1] / "runtime"
sys.path.insert(0, str(RUNTIME_TESTS))
import fleet_agents  # noqa: E402
from fleet_worker import Worker, workers  # noqa: E402
from fleet_worker import poll as _poll  # noqa: E402

FLEET_AGENTS = Path(fleet_agents.__file__)

# An agent whose one tool stays inside for a while and records, per run, the most runs
# of its own tenant (and of any tenant) it saw inside at once. It leaves early only once
# it sees a run of its own tenant inside with it: the cap was broken, so waiting on is
# pointless.
HOLDER_AGENTS = '''
from __future__ import annotations

import os
import sqlite3
import time

from tether import Agent, ToolContext, tool
from tether.testing import ScriptedModel, text, tool_call

HOLD_SECONDS = 1.0


def _ledger() -> sqlite3.Connection:
    conn = sqlite3.connect(os.environ["TETHER_TEST_LEDGER"], timeout=60, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS inside (run TEXT PRIMARY KEY, tenant TEXT)")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS seen (run TEXT PRIMARY KEY, tenant TEXT, same INT, any INT)"
    )
    return conn


@tool(retry=None)
def hold(ctx: ToolContext) -> str:
    """Stay inside for a while, counting who else is inside."""
    conn = _ledger()
    try:
        conn.execute("INSERT OR REPLACE INTO inside VALUES (?, ?)", (ctx.run_id, ctx.tenant))
        same = every = 1
        until = time.monotonic() + HOLD_SECONDS
        while same < 2 and time.monotonic() < until:
            every = max(every, conn.execute("SELECT COUNT(*) FROM inside").fetchone()[0])
            same = max(
                same,
                conn.execute(
                    "SELECT COUNT(*) FROM inside WHERE tenant = ?", (ctx.tenant,)
                ).fetchone()[0],
            )
            time.sleep(0.02)
        conn.execute(
            "INSERT OR REPLACE INTO seen VALUES (?, ?, ?, ?)",
            (ctx.run_id, ctx.tenant, same, every),
        )
        conn.execute("DELETE FROM inside WHERE run = ?", (ctx.run_id,))
    finally:
        conn.close()
    return "held"


def _hold(req):
    if req.messages[-1].role == "tool":
        return text("done")
    return tool_call("hold")


holder = Agent(name="holder", model=ScriptedModel(_hold), tools=[hold], max_turns=4)
'''


def _worker(store_url: str, ledger: Path, *options: str, agents: Path = FLEET_AGENTS) -> Worker:
    """A worker with only the options given (the command's own defaults otherwise)."""
    return Worker(store_url, ledger, *options, agents=agents, ttl=None, concurrency=None)


def _db(store_url: str) -> Path:
    return Path(store_url.removeprefix("sqlite:///"))


def _statuses(store_url: str) -> dict[str, str]:
    with closing(sqlite3.connect(_db(store_url), timeout=60)) as conn:
        return dict(conn.execute("SELECT run_id, status FROM runs").fetchall())


def _start(store_url: str, agent: Agent, inputs: list[tuple[str, str | None]]) -> list[str]:
    """Start runs of ``agent`` (input, tenant) from a pure client; their ids."""

    async def main() -> list[str]:
        async with Runtime(store_url, worker=False) as client:
            return [
                (await client.start(agent, text, tenant=tenant)).run_id for text, tenant in inputs
            ]

    return asyncio.run(main())


def _status_events(store_url: str, run_id: str) -> list[dict[str, object]]:
    async def read() -> list[dict[str, object]]:
        store = open_store(store_url)
        await store.open()
        try:
            rows = await store.load_events(run_id)
        finally:
            await store.close()
        return [json.loads(row.data) for row in rows if row.type == "run.status"]

    return asyncio.run(read())


def _load(path: Path) -> ModuleType:
    """Import the agents file the worker serves, so the client starts the same agent."""
    spec = importlib.util.spec_from_file_location(f"worker_options_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quarantine_after_one_sets_a_poisoned_run_aside_after_a_single_death(
    tmp_path: Path, store_url: str
) -> None:
    """``--quarantine-after 1``: the first worker dies driving the poisoned run (SIGKILL from
    its tool); the next one quarantines it with ``attempts`` 1 instead of dying too, where
    the default would take three deaths."""
    ledger = tmp_path / "ledger.db"
    (run_id,) = _start(store_url, fleet_agents.poison, [("boom", None)])
    options = ("--lease-ttl", "0.5", "--quarantine-after", "1")
    with workers(_worker(store_url, ledger, *options)) as (first,):
        assert "quarantine after 1" in first.line
        _poll(lambda: first.proc.poll() is not None, "the first worker to die of the run")
        assert first.proc.returncode == -signal.SIGKILL
    assert _statuses(store_url)[run_id] in ("pending", "running")
    with workers(_worker(store_url, ledger, *options)) as (second,):
        _poll(
            lambda: second.proc.poll() is not None or _statuses(store_url)[run_id] == "quarantined",
            "the second worker to quarantine the run",
        )
        assert second.proc.poll() is None, "the second worker died of the run too"
        assert second.drain() == 0
    (status,) = [e for e in _status_events(store_url, run_id) if e["status"] == "quarantined"]
    assert status["details"]["attempts"] == 1  # type: ignore[index]
    assert "killed or crashed" in status["details"]["error"]  # type: ignore[index]

    async def lift_without_the_right() -> None:
        # Lifting the quarantine is an operator's call (red team 9, hole 02): the run's own
        # client (a key without approvals:write) resumed it, and the next worker died.
        async with Runtime(store_url, worker=False) as client:
            with pytest.raises(ApprovalError) as refused:
                await client.signal(run_id, "resume", may_decide=False)
            assert refused.value.context["may_decide"] is False
            with pytest.raises(ApprovalError):
                await client.signal(run_id, "input", "try again", may_decide=False)

    asyncio.run(lift_without_the_right())
    assert _statuses(store_url)[run_id] == "quarantined"


def test_tenant_concurrency_keeps_one_tenants_runs_apart_while_another_tenant_runs_alongside(
    tmp_path: Path, store_url: str
) -> None:
    """``--tenant-concurrency 1``: acme's three runs never execute together, though the
    worker has slots for all of them; globex's run executes alongside one of acme's (so
    the window in which acme's runs could have met was real)."""
    agents_file, ledger = tmp_path / "holder_agents.py", tmp_path / "ledger.db"
    agents_file.write_text(textwrap.dedent(HOLDER_AGENTS))
    holder = _load(agents_file).holder
    acme = _start(store_url, holder, [(f"a{i}", "acme") for i in range(3)])
    (globex,) = _start(store_url, holder, [("g0", "globex")])
    options = ("--lease-ttl", "1", "--concurrency", "10", "--tenant-concurrency", "1")
    with workers(_worker(store_url, ledger, *options, agents=agents_file)) as (worker,):
        assert "tenant concurrency 1" in worker.line
        _poll(
            lambda: all(s == "completed" for s in _statuses(store_url).values()),
            "the worker to complete every run",
        )
        assert worker.drain() == 0
    with closing(sqlite3.connect(ledger, timeout=60)) as conn:
        seen = {
            run: (same, every)
            for run, same, every in conn.execute("SELECT run, same, any FROM seen")
        }
    assert set(seen) == {*acme, globex}
    assert [seen[run][0] for run in acme] == [1, 1, 1]  # never two of acme's inside at once
    assert max(every for _, every in seen.values()) >= 2  # globex's ran alongside acme's


def test_claim_interval_reaches_the_worker_and_it_drains_the_queue(
    tmp_path: Path, store_url: str
) -> None:
    """``--claim-interval 0.05``: the startup line reports it, and the queue is claimed and
    completed."""
    run_ids = _start(store_url, fleet_agents.quick, [(f"q{i}", None) for i in range(3)])
    options = ("--claim-interval", "0.05")
    with workers(_worker(store_url, tmp_path / "ledger.db", *options)) as (worker,):
        assert "claim interval 0.05 s" in worker.line
        assert "quarantine after 3" in worker.line  # the default, shown too
        _poll(
            lambda: [_statuses(store_url)[r] for r in run_ids] == ["completed"] * 3,
            "the worker to complete the queue",
        )
        assert worker.drain() == 0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--quarantine-after", "0"),
        ("--claim-interval", "-1"),
        ("--claim-interval", "0"),
        ("--claim-interval", "nan"),
        ("--claim-interval", "inf"),
        # Red team 15, hole 02: a lease that never expires keeps a dead worker's runs.
        ("--lease-ttl", "inf"),
        ("--lease-ttl", "nan"),
        ("--lease-ttl", "1e308"),
        ("--lease-ttl", "0"),
        ("--lease-ttl", "-1"),
        ("--tenant-concurrency", "0"),
        ("--tenant-concurrency", "many"),
    ],
)
def test_a_bad_fleet_option_is_a_usage_error_naming_it_before_the_store_is_touched(
    tmp_path: Path, option: str, value: str
) -> None:
    """Exit 2 with click's ``Invalid value for '--option'`` and no traceback; no store file."""
    db = tmp_path / "never.db"
    result = CliRunner().invoke(
        app,
        ["worker", "--agents", str(FLEET_AGENTS), "--store", f"sqlite:///{db}", option, value],
    )
    assert result.exit_code == EXIT_USAGE == 2, result.output
    assert f"Invalid value for '{option}'" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    assert not db.exists()
