"""Leases are released only by their holder's own decision (issue 7, item 4).

On the old code a refused operation (a typo'd call id to ``approve``, a ``deny`` or a
signal on a run that is not waiting) released the lease of a run the same runtime was
driving; a second live process then adopted the run and every tool ran twice. Here
two real processes share a store: one drives a long run and keeps sending it refused
operations, the other has recovery on. Each tool must run once, in the first process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _lease_worker import CALLS

HERE = Path(__file__).parent
TTL = 0.5


def _spawn(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, str(HERE / script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _line(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else "worker exited"
    reply: dict[str, Any] = json.loads(line)
    return reply


def test_refused_operations_never_release_a_driven_runs_lease(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/t.db"
    ledger, stop = tmp_path / "ledger.txt", tmp_path / "stop"
    standby = _spawn("_lease_worker.py", "standby", store, str(ledger), str(TTL), str(stop))
    driver: subprocess.Popen[str] | None = None
    try:
        _line(standby)  # the standby runtime is up, with recovery every TTL
        driver = _spawn("_refused_worker.py", store, str(ledger), str(TTL))
        owner = _line(driver)["owner"]
        run_id = _line(driver)["run_id"]
        refused = _line(driver)["refused"]
        finished = _line(driver)
        assert driver.wait(timeout=60) == 0
        stop.touch()
        driving = _line(standby)["driving"]
        assert standby.wait(timeout=60) == 0
    finally:
        for proc in (standby, driver):
            if proc is not None:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=30)
                for stream in (proc.stdout, proc.stderr):
                    if stream is not None:
                        stream.close()
    assert finished["status"] == "completed", finished
    assert set(refused) == {"RunNotWaitingError"}, refused
    assert run_id not in driving
    pid = owner.split(":")[1]
    assert ledger.read_text().splitlines() == [f"{pid} {n}" for n in range(CALLS)]
