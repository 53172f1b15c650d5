"""A write approved with edited arguments, cut off after its effect, is re-issued as edited.

On recovery the call is rebuilt from ``tool.started``, which holds the edit. On the old
code the gate compared it with the hash of the model's original arguments, refused it as
``approval_mismatch`` and told the model the refund was refused, though it had happened.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tether import Runtime
from tether.engine import ToolCompleted, ToolFailed

sys.path.insert(0, str(Path(__file__).parent))
from _edited_approval_worker import make_agent

WORKER = Path(__file__).with_name("_edited_approval_worker.py")


def _approve_and_crash(
    store: str, ledger: Path, run_id: str, approval_id: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, str(WORKER), store, str(ledger), run_id, approval_id],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


async def test_an_edited_write_cut_off_by_a_crash_is_reissued_with_the_edit(
    tmp_path: Path,
) -> None:
    store, ledger = f"sqlite:///{tmp_path}/t.db", tmp_path / "ledger.txt"
    agent = make_agent(ledger)
    async with Runtime(store, agents=[agent], lease_ttl=0.5) as rt:
        run = await rt.start(agent, "refund 90 dollars")
        assert (await run.result()).status == "waiting"
        (pending,) = await run.pending_approvals()
    crashed = await asyncio.to_thread(
        _approve_and_crash, store, ledger, run.run_id, pending.approval_id
    )
    assert crashed.returncode == 9, crashed.stderr
    assert ledger.read_text().split()[0] == "5000"  # the edited refund happened
    await asyncio.sleep(1.0)  # the dead worker's lease expires
    async with Runtime(store, agents=[agent], lease_ttl=0.5) as rt:
        result = await rt.get(run.run_id).result(timeout=30)
        events = [e.event async for e in rt.get(run.run_id).events(follow=False)]
    assert result.status == "completed", result.error
    assert [e for e in events if isinstance(e, ToolFailed)] == []
    (done,) = [e for e in events if isinstance(e, ToolCompleted)]
    assert done.result == "refunded 5000"
    assert result.output == "result: refunded 5000"
    assert len(ledger.read_text().splitlines()) == 1  # re-issued with its key: once
