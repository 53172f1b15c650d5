"""Many runs in one process: 10,000 concurrent runs with slow models, and 10,000 parked.

Issue 10, item 6. Two phases on one fresh SQLite store (WAL, ``synchronous=FULL``),
parked runs first:

* **active**: ``--runs`` runs start together; each makes ``--turns`` turns of one model
  call that takes ``--model-latency`` seconds (an ``asyncio.sleep``, like waiting on a
  provider) and one tool call that takes ``--tool-latency`` seconds, then answers. The
  ideal turns/s is ``runs * turns / (turns * (model + tool) + model)`` (every run
  waiting on its model or tool all the time, no engine cost). Reported: turns/s, the
  fraction of ideal, event-loop lag p50/p99 (a probe that sleeps 10 ms and measures how
  late it wakes), peak RSS growth per active run.
* **suspended**: ``--runs`` runs each call a write tool that needs approval, and park.
  A parked run holds no task and no driver: only its rows in the store. Reported: RSS
  growth per suspended run (measured after they parked and a ``gc.collect()``), tasks
  and drivers left in memory, and the time to wake them all (approve every run; each
  resumes from the store and completes). Starting the runs in one burst drives all of
  them at once on their way to parking, and the allocator keeps that high-water mark;
  so ``--runs`` more runs then park on top, and their growth is reported too
  (``rss_bytes_per_suspended_run_marginal``): what a parked run itself keeps.
* **serving**: the active workload again, on a runtime that paces run steps as
  ``tether serve`` and ``tether worker`` do (``loop_slice``, 5 ms of run work per
  iteration of the loop; see ``tether.engine.LoopShare``). Unpaced, every run woken in
  the same iteration goes on at once, and the loop answers nothing else meanwhile.

Prints one JSON object with (at least) the keys ``runs``, ``turns_per_s``,
``ideal_turns_per_s``, ``loop_lag_p99_ms``, ``rss_bytes_per_active_run`` and
``rss_bytes_per_suspended_run``. Goals (issue 10): >= 90% of ideal turns/s, loop lag
p99 <= 50 ms, <= 20 KB per suspended run.

    python benchmarks/concurrency.py                 # 10,000 runs (several minutes)
    python benchmarks/concurrency.py --runs 1000     # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
try:
    import tether  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(_HERE.parent / "src"))

from tether import Agent, Runtime, tool  # noqa: E402
from tether.policy import default_scanner  # noqa: E402
from tether.runtime import SERVING_LOOP_SLICE  # noqa: E402
from tether.testing import ScriptedModel, text, tool_call  # noqa: E402


def _rss() -> int:
    """Resident set size now, in bytes (Linux /proc), else the peak from getrusage."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _NoRecord(list):  # type: ignore[type-arg]
    """The scripted model keeps every request by default (a test aid, not runtime cost)."""

    def append(self, item: Any) -> None:
        pass


def _active_agent(turns: int, model_latency: float, tool_latency: float) -> Agent:
    @tool
    async def fetch(q: str) -> str:
        """Fetch one fact."""
        await asyncio.sleep(tool_latency)
        return f"fact about {q}"

    async def script(request: Any) -> Any:
        await asyncio.sleep(model_latency)
        done = (len(request.messages) - 1) // 2
        return text("done") if done >= turns else tool_call("fetch", q=f"q{done}")

    model = ScriptedModel(script)
    model.requests = _NoRecord()
    return Agent(name="busy", model=model, tools=[fetch], instructions="Fetch, then answer.")


def _parking_agent() -> Agent:
    @tool(effect="write", requires_approval=True)
    async def refund(order_id: str) -> str:
        """Refund an order."""
        return f"refunded {order_id}"

    def script(request: Any) -> Any:
        if any(m.role == "tool" for m in request.messages):
            return text("refunded")
        return tool_call("refund", order_id="A1")

    model = ScriptedModel(script)
    model.requests = _NoRecord()
    return Agent(name="parker", model=model, tools=[refund], instructions="Refund on request.")


class _LagProbe:
    """How late a 10 ms sleep wakes up, sampled for as long as it runs."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.01)
            self.samples.append(max(0.0, loop.time() - t - 0.01) * 1000)

    def __enter__(self) -> _LagProbe:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    def quantile(self, q: float) -> float:
        if len(self.samples) < 2:
            return self.samples[0] if self.samples else 0.0
        return statistics.quantiles(self.samples, n=100, method="inclusive")[int(q * 100) - 1]


async def _active(rt: Runtime, args: argparse.Namespace) -> dict[str, Any]:
    agent = _active_agent(args.turns, args.model_latency, args.tool_latency)
    rt.register(agent)
    gc.collect()
    before = _rss()
    peak = before
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    with _LagProbe() as probe:
        handles = await asyncio.gather(*(rt.start(agent, f"task {i}") for i in range(args.runs)))

        async def sample_rss() -> None:
            nonlocal peak
            while True:
                peak = max(peak, _rss())
                await asyncio.sleep(0.25)

        sampler = asyncio.create_task(sample_rss())
        results = await asyncio.gather(*(h.result() for h in handles))
        sampler.cancel()
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    completed = sum(r.status == "completed" for r in results)
    turns = args.runs * args.turns
    per_run = args.turns * (args.model_latency + args.tool_latency) + args.model_latency
    ideal = args.runs * args.turns / per_run
    return {
        "runs": args.runs,
        "completed": completed,
        "turns": turns,
        "seconds": round(elapsed, 2),
        "turns_per_s": round(turns / elapsed, 1),
        "ideal_turns_per_s": round(ideal, 1),
        "fraction_of_ideal": round(turns / elapsed / ideal, 3),
        "cpu_us_per_turn": round(cpu / turns * 1e6, 1),
        "loop_lag_p50_ms": round(probe.quantile(0.50), 2),
        "loop_lag_p99_ms": round(probe.quantile(0.99), 2),
        "rss_bytes_per_active_run": int((peak - before) / args.runs),
    }


async def _suspended(rt: Runtime, runs: int) -> dict[str, Any]:
    agent = _parking_agent()
    rt.register(agent)
    gc.collect()
    before = _rss()
    handles = await asyncio.gather(*(rt.start(agent, f"refund {i}") for i in range(runs)))
    results = await asyncio.gather(*(h.result() for h in handles))
    parked = sum(r.status == "waiting" for r in results)
    del results
    # The gather that returned the results stays referenced by the loop's handle that
    # resumed this coroutine until it yields: let go of it before measuring.
    await asyncio.sleep(0)
    gc.collect()
    after = _rss()
    tasks = len(rt.active_runs)
    # As many again, on top. Starting runs in a burst drives all of them at once on the
    # way to parking: the allocator keeps that high-water mark after they park (freed
    # memory it does not hand back), and the figure above includes it. The second burst
    # reuses it, so its growth is what a parked run itself keeps in memory.
    more = await asyncio.gather(*(rt.start(agent, f"refund more {i}") for i in range(runs)))
    more_results = await asyncio.gather(*(h.result() for h in more))
    parked_more = sum(r.status == "waiting" for r in more_results)
    del more, more_results
    await asyncio.sleep(0)
    gc.collect()
    marginal = _rss()
    t0 = time.perf_counter()
    pending = await asyncio.gather(*(h.pending_approvals() for h in handles))
    await asyncio.gather(
        *(
            rt.approve(h.run_id, p[0].approval_id, by="bench")
            for h, p in zip(handles, pending, strict=True)
        )
    )
    done = await asyncio.gather(*(rt.get(h.run_id).result() for h in handles))
    wake = time.perf_counter() - t0
    return {
        "parked": parked,
        "rss_bytes_per_suspended_run": int((after - before) / runs),
        "rss_bytes_per_suspended_run_marginal": int((marginal - after) / runs),
        "parked_on_top": parked_more,
        "runs_in_memory_while_parked": tasks,
        "wake_all_seconds": round(wake, 2),
        "completed_after_approval": sum(r.status == "completed" for r in done),
    }


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tether-concurrency-") as tmp:
        async with Runtime(f"sqlite:///{tmp}/tether.db", durability="FULL") as rt:
            # The runtime builds the injection scanner's tables and reads its weights in
            # a thread as it starts (some 40 MB, once per process): measured from before
            # that ends, they would count as memory of the runs.
            await asyncio.to_thread(default_scanner().prepare)  # waits for a build under way
            # Parked runs first: their RSS is measured from a clean baseline (after the
            # active phase, memory the allocator hands back would make it negative).
            suspended = await _suspended(rt, args.runs)
            active = await _active(rt, args)
        # The same active workload as `tether serve` and `tether worker` run it: run steps
        # share the loop in slices, so it keeps answering while the crowd wakes.
        async with Runtime(
            f"sqlite:///{tmp}/serving.db", durability="FULL", loop_slice=SERVING_LOOP_SLICE
        ) as rt:
            serving = await _active(rt, args)
            serving["loop_slice_s"] = SERVING_LOOP_SLICE
            serving["steps_deferred"] = rt.governance.loop_share.deferred  # type: ignore[union-attr]
            # Memory is measured once, above: this phase reuses what the allocator kept.
            del serving["rss_bytes_per_active_run"]
    return {
        "benchmark": "concurrency",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "workload": {
            "model_latency_s": args.model_latency,
            "tool_latency_s": args.tool_latency,
            "turns_per_run": args.turns,
            "store": "SQLite file, WAL, synchronous=FULL",
        },
        **active,
        **suspended,
        "serving": serving,
        "targets": {
            "fraction_of_ideal": {
                "goal": 0.9,
                "pass": active["fraction_of_ideal"] >= 0.9,
                "serving_pass": serving["fraction_of_ideal"] >= 0.9,
            },
            "loop_lag_p99_ms": {
                "goal": 50,
                "pass": active["loop_lag_p99_ms"] <= 50,
                "serving_pass": serving["loop_lag_p99_ms"] <= 50,
            },
            "rss_bytes_per_suspended_run": {
                "goal": 20_000,
                "pass": suspended["rss_bytes_per_suspended_run"] <= 20_000,
                "marginal_pass": suspended["rss_bytes_per_suspended_run_marginal"] <= 20_000,
            },
        },
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="benchmarks/concurrency.py", description=__doc__)
    p.add_argument("--runs", type=int, default=10_000)
    p.add_argument("--turns", type=int, default=3, help="tool turns per run (default 3)")
    p.add_argument("--model-latency", type=float, default=1.0)
    p.add_argument("--tool-latency", type=float, default=0.05)
    args = p.parse_args(argv)
    print(json.dumps(asyncio.run(_main(args)), indent=2))


if __name__ == "__main__":
    main()
