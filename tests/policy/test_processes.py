"""Policy across processes: durable approvals and a store-wide kill switch."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tether import Runtime

sys.path.insert(0, str(Path(__file__).parent))
from _policy_worker import make_agent

WORKER = Path(__file__).with_name("_policy_worker.py")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


async def _park_for_approval(store_url: str, ledger: Path) -> dict[str, str]:
    """In a separate process: start a 9000-cent refund, let it park for approval, exit."""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(WORKER), "start", store_url, str(ledger), "9000"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=True,
    )
    started: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return started


async def test_approval_wait_survives_process_exit_and_is_approved_elsewhere(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run parks for approval, its process exits, another process approves: it completes."""
    ledger = tmp_path / "ledger.txt"
    monkeypatch.setenv("TETHER_TEST_LEDGER", str(ledger))
    started = await _park_for_approval(store_url, ledger)
    assert started["status"] == "waiting"
    assert not ledger.exists()  # nothing ran without approval

    async with Runtime(store_url, agents=[make_agent()]) as rt:
        run = rt.get(started["run_id"])
        (pending,) = await run.pending_approvals()
        assert pending.arguments == {"order_id": "1234", "amount_cents": 9000}
        await rt.approve(run.run_id, pending.call_id, by="manager@example.com")
        result = await run.result(timeout=30)
    assert result.status == "completed"
    assert ledger.read_text().splitlines() == ["1234 9000"]


async def test_killswitch_set_in_one_process_denies_writes_in_another(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kill switch lives in the store: a running process sees it at its next write."""
    ledger = tmp_path / "ledger.txt"
    monkeypatch.setenv("TETHER_TEST_LEDGER", str(ledger))
    go = tmp_path / "go"
    proc = subprocess.Popen(  # noqa: ASYNC220  # started once; the waits below are threaded
        [sys.executable, str(WORKER), "write", store_url, str(ledger), str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        assert (await asyncio.to_thread(proc.stdout.readline)).strip() == "ready"
        async with Runtime(store_url, recover=False) as rt:
            await rt.set_killswitch(True, by="oncall")
        go.touch()
        out, err = await asyncio.to_thread(proc.communicate, timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    report = json.loads(out.strip().splitlines()[-1])
    assert report == {"completed": [], "failed": ["denied"], "sources": ["killswitch"]}, err
    assert not ledger.exists()

    async with Runtime(store_url, agents=[make_agent()]) as rt:
        await rt.set_killswitch(False)
        result = await (await rt.start(make_agent(), "refund 100")).result()
    assert result.status == "completed"
    assert ledger.read_text().splitlines() == ["1234 100"]


async def test_approval_recorded_where_the_agent_is_unknown_is_continued_by_a_runtime_that_has_it(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An approver without the agent's code records the decision; recovery elsewhere resumes."""
    ledger = tmp_path / "ledger.txt"
    monkeypatch.setenv("TETHER_TEST_LEDGER", str(ledger))
    run_id = (await _park_for_approval(store_url, ledger))["run_id"]

    async with Runtime(store_url, recover=False) as approver:  # e.g. `tether approve` alone
        (pending,) = await approver.get(run_id).pending_approvals()
        await approver.approve(run_id, pending.call_id, by="manager@example.com")
        assert (await approver.store.get_run(run_id)).status == "running"  # type: ignore[union-attr]
    assert not ledger.exists()

    async with Runtime(store_url, agents=[make_agent()]) as worker:  # recovery picks it up
        result = await worker.get(run_id).result(timeout=30)
    assert result.status == "completed"
    assert ledger.read_text().splitlines() == ["1234 9000"]
