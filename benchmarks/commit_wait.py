"""Where a sequential turn's wall time goes: the loop thread's CPU, and waiting for commits.

The engine overlaps a step's commit with the next step (``RunDriver.flush(wait=False)``)
and waits for it at the next flush. This script runs the ``benchmarks/engine.py``
workload (N=20 tool turns per run, zero-latency scripted model) sequentially on a fresh
SQLite store and reports, per turn:

    wall_us                  elapsed time
    process_cpu_us           CPU time of every thread
    loop_thread_cpu_us       CPU time of the event-loop thread alone
    waiting_for_commit_us    time a flush spent awaiting the previous, overlapped commit
    commit_not_done_share    share of flushes that found that commit still in flight

If the commit overlapped the step, ``waiting_for_commit_us`` would be near zero and
``wall_us`` near ``loop_thread_cpu_us``. It prints one JSON object.

    python benchmarks/commit_wait.py [--runs 50] [--durability FULL|NORMAL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE))
try:
    import tether  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(_HERE.parent / "src"))

from _engine_common import USER_INPUT  # noqa: E402
from _engine_tether import make_agent  # noqa: E402

from tether import Runtime  # noqa: E402
from tether.engine import RunDriver  # noqa: E402

N = 20


class _Probe:
    """Wraps ``RunDriver.flush`` to time the wait for the commit still in flight."""

    def __init__(self) -> None:
        self.waited = 0.0
        self.flushes = 0
        self.not_done = 0
        original = RunDriver.flush

        async def flush(driver: RunDriver, *, wait: bool = True) -> None:
            inflight = driver._inflight
            if inflight is not None:
                self.flushes += 1
                self.not_done += not inflight.done()
                started = time.perf_counter()
                await inflight
                self.waited += time.perf_counter() - started
                driver._inflight = None
            await original(driver, wait=wait)

        RunDriver.flush = flush  # type: ignore[method-assign]

    def reset(self) -> None:
        self.waited, self.flushes, self.not_done = 0.0, 0, 0


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    probe = _Probe()
    agent = make_agent(N)
    with tempfile.TemporaryDirectory(prefix="tether-commit-wait-") as tmp:
        async with Runtime(f"sqlite:///{tmp}/t.db", durability=args.durability) as rt:
            for _ in range(3):  # warm up (scanner tables, caches)
                await (await rt.start(agent, USER_INPUT)).result()
            await asyncio.sleep(0.5)
            probe.reset()
            cpu, loop_cpu, wall = time.process_time(), time.thread_time(), time.perf_counter()
            for _ in range(args.runs):
                await (await rt.start(agent, USER_INPUT)).result()
            wall = time.perf_counter() - wall
            loop_cpu = time.thread_time() - loop_cpu
            cpu = time.process_time() - cpu
    turns = args.runs * N
    share = round(probe.not_done / probe.flushes, 3) if probe.flushes else None
    return {
        "benchmark": "commit_wait",
        "durability": args.durability,
        "turns": turns,
        "wall_us": round(wall / turns * 1e6, 1),
        "process_cpu_us": round(cpu / turns * 1e6, 1),
        "loop_thread_cpu_us": round(loop_cpu / turns * 1e6, 1),
        "waiting_for_commit_us": round(probe.waited / turns * 1e6, 1),
        "commit_not_done_share": share,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="benchmarks/commit_wait.py", description=__doc__)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--durability", choices=("FULL", "NORMAL"), default="FULL")
    print(json.dumps(asyncio.run(_main(p.parse_args(argv))), indent=2))


if __name__ == "__main__":
    main()
