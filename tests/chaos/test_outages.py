"""A store that is away when a worker starts: the worker waits for it instead of dying.

A supervisor (systemd, Kubernetes, the chaos controller) restarts a dead worker at once;
during a Postgres restart a worker that gave up on its first connection would die in a
loop. These pin the two places start-up used to give up: opening the store (``tether
worker``) and the runtime's first recovery pass.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tether import Runtime
from tether.exceptions import StoreError
from tether.store import open_store

RUNTIME_TESTS = Path(__file__).resolve().parents[1] / "runtime"
sys.path.insert(0, str(RUNTIME_TESTS))
import fleet_agents  # noqa: E402

DEADLINE = 120.0  # bounds a hung test only


def _start_quick(url: str) -> str:
    async def main() -> str:
        async with Runtime(url, worker=False) as client:
            return (await client.start(fleet_agents.quick, "hello")).run_id

    return asyncio.run(main())


def _status(url: str, run_id: str) -> str | None:
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
            row = conn.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,)).fetchone()
    except psycopg.OperationalError:
        return None
    return str(row[0]) if row else None


@pytest.mark.postgres
def test_a_worker_started_while_postgres_is_down_waits_for_it_then_serves(
    postgres_cluster: Any, postgres_url: str, tmp_path: Path
) -> None:
    run_id = _start_quick(postgres_url)
    postgres_cluster.stop()
    worker: subprocess.Popen[str] | None = None
    try:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tether.cli",
                "worker",
                "--agents",
                str(RUNTIME_TESTS / "fleet_agents.py"),
                "--store",
                f"{postgres_url}?pool_timeout=2",
                "--lease-ttl",
                "1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "300"},
        )
        assert worker.stdout is not None
        first = worker.stdout.readline()
        assert "does not answer yet" in first, first + (worker.stdout.read() or "")
        assert worker.poll() is None  # still there, waiting
    finally:
        postgres_cluster.start()
    try:
        assert worker.stdout is not None
        for line in worker.stdout:
            if "serving" in line:
                break
        else:
            pytest.fail(f"the worker ended ({worker.wait()}) without serving")
        deadline = time.monotonic() + DEADLINE
        while _status(postgres_url, run_id) != "completed":
            assert time.monotonic() < deadline, "the worker did not complete the run"
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=DEADLINE) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        worker.stdout.close()


def test_a_runtime_whose_first_recovery_pass_meets_a_transient_store_failure_still_starts(
    store_url: str,
) -> None:
    """The store answered ``open`` and went away before the first claim pass (a restart):
    the runtime starts anyway and its recovery loop claims the waiting run later."""
    run_id = _start_quick(store_url)
    store = open_store(store_url)
    real_candidates = store.claim_candidates  # what a claim pass reads first
    failures = [StoreError("the server restarted (injected)", transient=True)]

    async def flaky_candidates(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await real_candidates(*args, **kwargs)

    store.claim_candidates = flaky_candidates  # type: ignore[method-assign]

    async def main() -> str:
        async with Runtime(store, agents=[fleet_agents.quick], claim_interval=0.05) as worker:
            result = await worker.get(run_id).result(timeout=DEADLINE)
            return result.status

    assert asyncio.run(main()) == "completed"
    assert failures == []  # the first pass did meet the failure
