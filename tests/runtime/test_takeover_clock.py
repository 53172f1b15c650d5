"""A run taken over from a dead worker does not count the time no worker drove it.

Found in session 8's review, fixed in session 9. A run's wall-time budget
(``Budget.max_wall_seconds``) counted from the ``run.status → running`` event of the
worker that started it, stamped on that worker's own clock. When the worker died and
another took the run over, the new one measured "now" on its own clock against that
stamp: the time the run lay orphaned (a whole lease TTL at least, hours if the fleet was
down) and any skew between the two machines' clocks were charged to the run, which then
failed its budget at its first step on the new worker.

Now events are stamped on the store's clock (``Store.clock()``: on Postgres the
database's, for every worker), and a worker that drives on a run its log leaves
``running`` records ``running → running`` (reason ``resumed``): the fold credits the
run's active time up to the previous owner's last event and starts counting again from
the takeover.

The dead worker here is a real process, SIGKILLed while its tool runs, whose clock runs
1,000 s behind (on SQLite its events carry that clock; on Postgres the database's).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from _skewed_worker import SKEW, WALL_BUDGET, agent

from tether import Runtime
from tether.engine import RunStatusChanged

WORKER = Path(__file__).with_name("_skewed_worker.py")


def _start_and_kill(store_url: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), store_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        assert run_id.startswith("run_"), proc.stderr.read() if proc.stderr else ""
        assert proc.stdout.readline().strip() == "tool started"
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


async def test_a_run_taken_over_from_a_dead_skewed_worker_keeps_its_wall_budget(
    any_store_url: str,
) -> None:
    run_id = _start_and_kill(any_store_url)
    async with Runtime(any_store_url, agents=[agent], lease_ttl=1.0) as rt:
        result = await rt.get(run_id).result(timeout=60)
        state = await rt.load_state(run_id)
        events = [rec async for rec in rt.get(run_id).events(follow=False)]
    assert result.status == "completed", result.error
    assert result.output == "done"
    assert state.tool_calls == 2
    statuses = [
        (rec.event.previous, rec.event.status, rec.event.reason)
        for rec in events
        if isinstance(rec.event, RunStatusChanged)
    ]
    assert statuses == [
        ("pending", "running", None),
        ("running", "running", "resumed"),
        ("running", "completed", None),
    ]
    # Both workers' driving time, not the orphaned stretch nor the skew between them.
    assert state.active_seconds < WALL_BUDGET < SKEW
    assert state.running_since is None
