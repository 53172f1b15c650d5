"""A fleet of ``tether worker`` processes on one SQLite store, and the clients that feed it.

Real processes, real signals: a pure-client runtime starts runs that only workers
execute; workers share the runs; a SIGKILLed worker's runs finish on another with each
write applied once; SIGTERM drains (every run finishes its step and is given back); a
run that kills every worker that drives it is quarantined. Several worker processes on
one SQLite file work correctly (WAL, leases): the file passes ``integrity_check`` and
every run's log is gapless.

Nothing asserts a duration: waits poll the store with deadlines that only bound a hung
test.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from tether import Runtime
from tether.exceptions import RunQueueFullError
from tether.runtime._fleet import CLAIMED, RELEASED
from tether.store import RunRecord, open_store

sys.path.insert(0, str(Path(__file__).parent))
import fleet_agents
from fleet_worker import DEADLINE, Worker, workers
from fleet_worker import poll as _poll

AGENTS = Path(fleet_agents.__file__)


def _runs(db: Path) -> list[RunRecord]:
    with closing(sqlite3.connect(db, timeout=60)) as conn:
        rows = conn.execute(
            "SELECT run_id, agent, status, tenant, lease_owner, lease_expires_at FROM runs"
        ).fetchall()
    return [
        RunRecord(
            run_id=r[0],
            agent=r[1],
            agent_version="",
            status=r[2],
            created_at=0,
            updated_at=0,
            tenant=r[3],
            lease_owner=r[4],
            lease_expires_at=r[5],
        )
        for r in rows
    ]


def _log(db: Path, run_id: str) -> list[tuple[int, str, dict[str, object]]]:
    """A run's events as the store gives them back: ``(seq, type, JSON)``."""

    async def read() -> list[tuple[int, str, dict[str, object]]]:
        store = open_store(f"sqlite:///{db}")
        await store.open()
        try:
            rows = await store.load_events(run_id)
        finally:
            await store.close()
        return [(row.seq, row.type, json.loads(row.data)) for row in rows]

    return asyncio.run(read())


def _effects(ledger: Path) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(ledger, timeout=60)) as conn:
        return conn.execute("SELECT key, run FROM effects").fetchall()


def _start(store_url: str, agent: str, inputs: list[str], **kw: object) -> list[str]:
    """Start runs from a pure client (``worker=False``) and return their ids."""

    async def main() -> list[str]:
        async with Runtime(store_url, worker=False) as client:
            target = getattr(fleet_agents, agent)
            handles = [await client.start(target, text, **kw) for text in inputs]  # type: ignore[arg-type]
            return [h.run_id for h in handles]

    return asyncio.run(main())


def _check_store(db: Path, run_ids: list[str]) -> None:
    """The shared file is sound and every run's log is gapless."""
    with closing(sqlite3.connect(db, timeout=60)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    for run_id in run_ids:
        seqs = [seq for seq, _, _ in _log(db, run_id)]
        assert seqs == list(range(1, len(seqs) + 1)), run_id


def _db(store_url: str) -> Path:
    return Path(store_url.removeprefix("sqlite:///"))


def test_a_pure_client_executes_nothing_and_a_worker_process_runs_what_it_started(
    tmp_path: Path, store_url: str
) -> None:
    """Runs a ``worker=False`` runtime starts stay pending and unleased until a worker
    claims them; the worker completes each one, applying each charge once."""
    ledger, db = tmp_path / "ledger.db", _db(store_url)

    async def client_side() -> list[str]:
        async with Runtime(store_url, worker=False) as client:
            runs = [await client.start(fleet_agents.payer, f"order-{i}") for i in range(4)]
            assert client.active_runs == frozenset()
            assert await client.recover() == []  # a client never claims
            for run in runs:
                record = await client.get_run(run.run_id)
                assert record is not None
                assert (record.status, record.lease_owner) == ("pending", None)
            return [r.run_id for r in runs]

    run_ids = asyncio.run(client_side())
    with workers(Worker(store_url, ledger)) as (worker,):
        _poll(lambda: all(r.status == "completed" for r in _runs(db)), "the worker to finish")
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0
    assert sorted(run for _, run in _effects(ledger)) == sorted(f"order-{i}" for i in range(4))
    for run_id in run_ids:
        markers = [d for _, kind, d in _log(db, run_id) if d.get("name") == CLAIMED]
        assert len(markers) == 1 and markers[0]["by"] == worker.owner


def test_three_workers_on_one_sqlite_file_share_runs_and_a_killed_ones_runs_finish_elsewhere(
    tmp_path: Path, store_url: str
) -> None:
    """SIGKILL a worker holding runs: the others take them over after its leases expire
    and finish them; every charge is applied exactly once, the file stays sound."""
    ledger, db = tmp_path / "ledger.db", _db(store_url)
    orders = [f"order-{i}" for i in range(24)]
    slow = {"TETHER_TEST_LOOKUP_SECONDS": "1.0"}
    # 8 slots each for 24 runs: no worker can take them all, so all three share them.
    with workers(*(Worker(store_url, ledger, concurrency=8, **slow) for _ in range(3))) as fleet:
        run_ids = _start(store_url, "payer", orders)
        victim = fleet[0]

        def victim_holds_runs() -> bool:
            return any(r.lease_owner == victim.owner for r in _runs(db) if r.status == "running")

        _poll(victim_holds_runs, "the first worker to drive runs")
        held = {r.run_id for r in _runs(db) if r.lease_owner == victim.owner}
        victim.signal(signal.SIGKILL)
        assert victim.wait() == -signal.SIGKILL
        _poll(lambda: all(r.status == "completed" for r in _runs(db)), "every run to complete")
        drivers = {
            d["by"]
            for run_id in run_ids
            for _, _, d in _log(db, run_id)
            if d.get("name") == CLAIMED
        }
        assert drivers == {w.owner for w in fleet}  # the three shared the runs
    effects = _effects(ledger)
    assert sorted(run for _, run in effects) == sorted(orders)  # one effect per run
    assert len({key for key, _ in effects}) == len(orders)
    _check_store(db, run_ids)
    # The victim's unfinished runs were adopted by a survivor that found them abandoned.
    survivors = {w.owner for w in fleet[1:]}
    adopted = [
        d
        for run_id in held
        for _, _, d in _log(db, run_id)
        if d.get("name") == CLAIMED and d["by"] in survivors
    ]
    assert adopted, "no run of the killed worker was taken over"
    assert any(not d["payload"]["fresh"] for d in adopted)  # type: ignore[index]


def test_sigterm_drains_runs_back_to_the_store_and_a_new_worker_finishes_them(
    tmp_path: Path, store_url: str
) -> None:
    """The first SIGTERM lets each run finish its step and gives it back (``running``,
    unleased, a ``tether.released`` mark); the worker exits 0; another finishes them."""
    ledger, db = tmp_path / "ledger.db", _db(store_url)
    orders = [f"order-{i}" for i in range(6)]
    run_ids = _start(store_url, "payer", orders)
    slow = {"TETHER_TEST_LOOKUP_SECONDS": "1.0"}
    with workers(Worker(store_url, ledger, **slow)) as (first,):
        _poll(
            lambda: all(r.lease_owner == first.owner for r in _runs(db)),
            "the worker to claim every run",
        )
        first.signal(signal.SIGTERM)
        assert first.wait() == 0
        assert "drained" in first.output()
    left = [r for r in _runs(db) if r.status != "completed"]
    assert left, "every run finished before the drain; nothing was given back"
    for record in left:
        assert record.status in ("pending", "running")
        assert record.lease_owner is None  # given back, not left to expire
        last = _log(db, record.run_id)[-1][2]
        assert last.get("name") == RELEASED
    with workers(Worker(store_url, ledger)) as (second,):
        _poll(lambda: all(r.status == "completed" for r in _runs(db)), "every run to complete")
        second.signal(signal.SIGTERM)
        second.signal(signal.SIGTERM)  # a second SIGTERM exits at once
        assert second.wait() in (0, -signal.SIGTERM)
    assert sorted(run for _, run in _effects(ledger)) == sorted(orders)
    _check_store(db, run_ids)


def test_a_second_sigterm_exits_at_once_and_the_runs_still_complete_elsewhere(
    tmp_path: Path, store_url: str
) -> None:
    """SIGTERM twice: the worker dies of it without waiting for steps; leases expire and another
    worker finishes every run, each charge applied once."""
    ledger, db = tmp_path / "ledger.db", _db(store_url)
    orders = [f"order-{i}" for i in range(4)]
    run_ids = _start(store_url, "payer", orders)
    with workers(Worker(store_url, ledger, TETHER_TEST_LOOKUP_SECONDS="5")) as (first,):
        _poll(
            lambda: all(r.lease_owner == first.owner for r in _runs(db)),
            "the worker to claim every run",
        )
        first.signal(signal.SIGTERM)
        first.read_until("draining")  # two signals sent at once may arrive as one
        first.signal(signal.SIGTERM)
        assert first.wait() == -signal.SIGTERM
    with workers(Worker(store_url, ledger)):
        _poll(lambda: all(r.status == "completed" for r in _runs(db)), "every run to complete")
    assert sorted(run for _, run in _effects(ledger)) == sorted(orders)
    _check_store(db, run_ids)


def test_a_run_that_kills_every_worker_is_quarantined_after_three_deaths(
    tmp_path: Path, store_url: str
) -> None:
    """Each worker that drives the poisoned run dies (SIGKILL from its tool); after three
    deaths at one step the next worker quarantines it, with the count recorded, instead of
    dying too; ``tether runs --status quarantined`` lists it."""
    ledger, db = tmp_path / "ledger.db", _db(store_url)
    (run_id,) = _start(store_url, "poison", ["boom"])
    deaths = 0
    for _ in range(8):  # bounded: quarantine must stop the crash loop
        with workers(Worker(store_url, ledger, ttl=0.5)) as (worker,):
            _poll(
                lambda: worker.proc.poll() is not None or _runs(db)[0].status == "quarantined",
                "the worker to die or the run to be quarantined",
            )
            if worker.proc.poll() is not None:
                assert worker.proc.returncode == -signal.SIGKILL
                deaths += 1
                continue
            worker.signal(signal.SIGTERM)
            assert worker.wait() == 0
            break
    record = _runs(db)[0]
    assert record.status == "quarantined"
    # Three at the poisoned step; up to two more at the step before it when the kill beats
    # that step's overlapped commit (each such death is counted at that step instead).
    assert 3 <= deaths <= 5
    status = [d for _, kind, d in _log(db, run_id) if kind == "run.status"][-1]
    assert status["status"] == "quarantined"
    assert status["details"]["attempts"] == 3  # type: ignore[index]
    assert "killed or crashed" in status["details"]["error"]  # type: ignore[index]
    listed = subprocess.run(
        [sys.executable, "-m", "tether.cli", "runs", "--status", "quarantined"],
        capture_output=True,
        text=True,
        env={**os.environ, "TETHER_STORE": store_url, "COLUMNS": "200"},
        timeout=DEADLINE,
    )
    assert listed.returncode == 0, listed.stderr
    assert run_id in listed.stdout

    async def resume() -> None:  # after fixing the cause, a person sends it back
        async with Runtime(store_url, worker=False) as client:
            await client.signal(run_id, "resume", by="ops")

    asyncio.run(resume())
    record = _runs(db)[0]
    assert (record.status, record.lease_owner) == ("running", None)  # claimable again


def test_a_client_with_max_pending_refuses_new_runs_with_a_typed_error(store_url: str) -> None:
    """Past ``max_pending`` runs waiting, ``start`` raises RunQueueFullError (retry_after)."""

    async def main() -> None:
        async with Runtime(store_url, worker=False, max_pending=3) as client:
            for i in range(3):
                await client.start(fleet_agents.quick, f"q{i}")
            with pytest.raises(RunQueueFullError) as refused:
                await client.start(fleet_agents.quick, "one too many")
            assert refused.value.retry_after > 0
            assert (refused.value.pending, refused.value.limit) == (3, 3)
            assert "tether worker" in str(refused.value)
            assert len(await client.list_runs()) == 3  # the refused run was never created
        async with Runtime(store_url, agents=[fleet_agents.quick], concurrency=10) as worker:
            await worker.recover()
            for record in await worker.list_runs():
                await worker.get(record.run_id).result(timeout=DEADLINE)
        async with Runtime(store_url, worker=False, max_pending=3) as client:
            await client.start(fleet_agents.quick, "room again")

    asyncio.run(main())


def test_a_worker_with_a_queue_claims_again_as_slots_free_not_after_its_interval(
    store_url: str,
) -> None:
    """12 queued runs, 2 slots, an hour between claim passes: finished runs free slots
    with runs left over, so the worker looks again at once and drives the whole queue."""

    async def main() -> None:
        async with Runtime(store_url, worker=False) as client:
            queued = [await client.start(fleet_agents.quick, f"q{i}") for i in range(12)]
            async with Runtime(
                store_url, agents=[fleet_agents.quick], concurrency=2, claim_interval=3600
            ):
                for run in queued:
                    assert (await run.result(timeout=DEADLINE)).status == "completed"

    asyncio.run(main())


def test_a_flooding_tenant_does_not_starve_another(store_url: str, tmp_path: Path) -> None:
    """Tenant A queues 200 runs before tenant B queues 5; a worker driving 2 at a time
    finishes all of B's while most of A's backlog still waits."""

    async def main() -> None:
        async with Runtime(store_url, worker=False) as client:
            a = [await client.start(fleet_agents.quick, f"a{i}", tenant="a") for i in range(200)]
            b = [await client.start(fleet_agents.quick, f"b{i}", tenant="b") for i in range(5)]
            async with Runtime(
                store_url, agents=[fleet_agents.quick], concurrency=2, claim_interval=0.01
            ):
                for run in b:
                    assert (await run.result(timeout=DEADLINE)).status == "completed"
            # Counted from the store's times, not when this client noticed: the worker
            # goes on with A's backlog meanwhile.
            records = await client.list_runs(limit=500)
            b_done = max(r.updated_at for r in records if r.tenant == "b")
            done_a = [
                r
                for r in records
                if r.tenant == "a" and r.status == "completed" and r.updated_at <= b_done
            ]
            assert len(a) == 200
            assert len(done_a) <= 20, f"{len(done_a)} of A's runs ran before B's 5"

    asyncio.run(main())


def test_a_client_that_approves_a_run_hands_it_to_a_worker_instead_of_driving_it(
    tmp_path: Path, store_url: str
) -> None:
    """A pure client knows the agent (it started the run) yet, on approval, gives the run
    back unleased; the worker process executes the approved refund, once."""
    ledger, db = tmp_path / "ledger.db", _db(store_url)

    async def start_and_approve() -> str:
        async with Runtime(store_url, worker=False) as client:
            run = await client.start(fleet_agents.refunder, "order-7")
            parked = await run.result(timeout=DEADLINE)  # the worker parks it for approval
            assert parked.status == "waiting"
            state = await client.load_state(run.run_id)
            approval = state.pending_approvals[0].request.approval_id
            await client.approve(run.run_id, approval, by="ops")
            assert client.active_runs == frozenset()  # approved, but not driven here
            return run.run_id

    with workers(Worker(store_url, ledger)) as (worker,):
        run_id = asyncio.run(start_and_approve())
        _poll(lambda: _runs(db)[0].status == "completed", "the worker to finish the refund")
    assert [run for _, run in _effects(ledger)] == ["order-7"]
    drivers = {d["by"] for _, _, d in _log(db, run_id) if d.get("name") == CLAIMED}
    assert drivers == {worker.owner}  # claimed twice (started, then approved), one worker


def test_serve_no_worker_runs_the_api_alone_and_a_worker_executes_its_runs(
    tmp_path: Path, store_url: str
) -> None:
    """``tether serve --no-worker`` starts runs it never executes; a worker does."""
    import httpx

    ledger, db = tmp_path / "ledger.db", _db(store_url)
    env = {**os.environ, "TETHER_TEST_LEDGER": str(ledger), "PYTHONUNBUFFERED": "1"}
    cli = [sys.executable, "-m", "tether.cli"]
    made = subprocess.run(
        [
            *cli,
            "keys",
            "create",
            "--store",
            store_url,
            "--tenant",
            "acme",
            "--scopes",
            "runs:read,runs:write",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=DEADLINE,
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    serve = subprocess.Popen(
        [
            *cli,
            "serve",
            "--no-worker",
            "--agents",
            str(AGENTS),
            "--store",
            store_url,
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert serve.stdout is not None
        found = re.search(r"on (http://127\.0\.0\.1:\d+)", serve.stdout.readline())
        assert found is not None
        assert "API only (--no-worker)" in serve.stdout.readline()
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=found.group(1), headers=auth, timeout=30) as api:
            _poll(lambda: _healthy(api), "the server to answer")
            run = api.post("/v1/runs", json={"agent": "quick", "input": "hi"}).json()
            assert run["status"] == "pending"
            record = _runs(db)[0]
            assert (record.status, record.lease_owner) == ("pending", None)
            with workers(Worker(store_url, ledger)):
                _poll(
                    lambda: api.get(f"/v1/runs/{run['run_id']}").json()["status"] == "completed",
                    "the worker to complete the run",
                )
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=DEADLINE) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        if serve.stdout is not None:
            serve.stdout.close()


def _healthy(api: object) -> bool:
    import httpx

    assert isinstance(api, httpx.Client)
    try:
        return api.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False
