"""Crash recovery with a real process killed by SIGKILL mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tether import Runtime
from tether.engine import ToolCompleted, ToolStarted

sys.path.insert(0, str(Path(__file__).parent))
from crash_agent import PAYMENTS, make_agent

WORKER = Path(__file__).with_name("_crash_worker.py")


@pytest.fixture
def store_url(any_store_url: str) -> str:
    """Each backend of ``TETHER_TEST_STORES``: the crash tests hold for Postgres too."""
    return any_store_url


def _start_and_kill(store_url: str, ledger: Path, mode: str, *, after_lines: int) -> str:
    """Run the worker until the ledger has ``after_lines`` lines, then SIGKILL it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), store_url, str(ledger), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        assert run_id.startswith("run_"), proc.stderr.read() if proc.stderr else ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if ledger.exists() and len(ledger.read_text().splitlines()) >= after_lines:
                break
            time.sleep(0.01)
        else:
            pytest.fail("worker never reached the crash point")
        # The last line was just written: the tool is inside its post-effect sleep, so the
        # write happened but tool.completed is not committed. Kill now.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    return run_id


async def test_sigkill_mid_run_then_restart_completes_with_no_lost_step_and_no_duplicate_write(
    tmp_path: Path, store_url: str
) -> None:
    """An idempotent write cut off by SIGKILL is re-issued with the same key; nothing repeats."""
    ledger = tmp_path / "ledger.txt"
    run_id = _start_and_kill(store_url, ledger, "idempotent", after_lines=3)
    agent = make_agent(ledger, idempotent=True)
    async with Runtime(store_url, agents=[agent], lease_ttl=1.0) as rt:
        before = await rt.load_state(run_id)
        assert before.status == "running"
        # Recovery picks the run up once the dead worker's lease expires.
        result = await rt.get(run_id).result(timeout=30)
        events = [e async for e in rt.get(run_id).events(follow=False)]
    assert result.status == "completed", result.error
    assert result.output == f"recorded {PAYMENTS} payments"
    lines = ledger.read_text().splitlines()
    assert [int(line.split()[0]) for line in lines] == list(range(PAYMENTS))
    assert len({line.split()[1] for line in lines}) == PAYMENTS  # one key per payment
    completed = [e.event.arguments if False else e.event for e in events]
    done = [e for e in completed if isinstance(e, ToolCompleted)]
    assert sorted(int(d.result.split()[1]) for d in done) == list(range(PAYMENTS))
    starts = [e for e in completed if isinstance(e, ToolStarted)]
    # Every write was announced before it ran; the interrupted one was announced again
    # (committed under the new lease) when it was re-issued, with its recorded key.
    keys = [e.idempotency_key for e in starts]
    assert len(keys) == PAYMENTS + 1 and len(set(keys)) == PAYMENTS
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_sigkill_during_non_idempotent_write_escalates_instead_of_guessing(
    tmp_path: Path, store_url: str
) -> None:
    """A started, unfinished, non-idempotent write parks the run as an uncertain write."""
    ledger = tmp_path / "ledger.txt"
    run_id = _start_and_kill(store_url, ledger, "plain", after_lines=2)
    agent = make_agent(ledger, idempotent=False)
    async with Runtime(store_url, agents=[agent], lease_ttl=1.0) as rt:
        result = await rt.get(run_id).result(timeout=30)
        assert result.status == "waiting"
        assert result.wait_reason == "uncertain_write"
        assert result.wait_details is not None
        (uncertain,) = result.wait_details["calls"]
        assert uncertain["tool"] == "record_payment" and uncertain["arguments"] == {"n": 1}
        assert len(ledger.read_text().splitlines()) == 2  # not re-issued blindly

        # An operator checks the ledger, sees the write happened, and says so.
        await rt.signal(
            run_id,
            "resolve_write",
            {
                "call_id": uncertain["call_id"],
                "action": "completed",
                "result": "payment 1 recorded",
            },
            by="ops@example.com",
        )
        result = await rt.get(run_id).result(timeout=30)
    assert result.status == "completed", result.error
    numbers = [int(line.split()[0]) for line in ledger.read_text().splitlines()]
    assert numbers == list(range(PAYMENTS))
