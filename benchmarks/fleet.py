"""A fleet of ``tether worker`` processes on one Postgres: throughput and recovery.

Issue 10's fleet targets. Starts a throwaway Postgres cluster the way the tests do
(``tests/_postgres.py``: ``initdb`` + ``pg_ctl`` in a temporary directory, 127.0.0.1,
``fsync`` on) and real ``tether worker --agents benchmarks/fleet.py`` processes; this file
is also the agents module they serve (``bench``, configured by environment variables).

* **throughput**: for 1, 2 and 4 workers, a fresh database with ``--runs`` pending runs
  of ``--turns`` turns (one model call and one tool call each; the model answers after
  ``--model-latency`` seconds, default 0). Turns/s is counted from the log (``model.
  completed`` events, by their commit times) over the steady window: the runs are held
  (leased to nobody alive) until every worker is serving, then let go at once; the
  window ends when 80% of them have completed. Also reported: the CPU seconds
  Postgres and the workers used in that window, and the machine's CPU use, because on a
  small machine the cores, not the design, decide the scaling.
* **recovery**: four workers drive ``--recovery-runs`` runs (1,000) that each take many
  steps with ``--recovery-latency`` of model latency. Once every run has made a step,
  every worker is SIGKILLed and four new ones start at once. Reported: the time from
  that restart until every unfinished run was claimed by a new worker (its driver
  records the claim before it drives: the run is progressing again; the goal is <= 2 s),
  and until every one has a new ``model.completed`` in its log, which adds one model
  call's latency. The lease TTL (``--lease-ttl``, 1 s) is part of it: the dead workers'
  leases must expire first.

Prints one JSON object. Nothing is asserted.

    python benchmarks/fleet.py                   # ~4 minutes
    python benchmarks/fleet.py --runs 300 --recovery-runs 300   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
try:
    import tether  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(_HERE.parent / "src"))

from tether import Agent, Runtime, tool  # noqa: E402
from tether.testing import ScriptedModel, text, tool_call  # noqa: E402


def make_agent(turns: int, latency: float) -> Agent:
    """``bench``: ``turns`` turns of one model call (``latency`` s) and one instant tool call."""

    @tool
    async def step(n: int) -> str:
        """Do step ``n``."""
        return f"did {n}"

    async def script(request: Any) -> Any:
        if latency:
            await asyncio.sleep(latency)
        done = sum(m.role == "tool" for m in request.messages)
        return text("done") if done >= turns else tool_call("step", n=done)

    return Agent(
        name="bench",
        model=ScriptedModel(script, keep_requests=False),
        tools=[step],
        max_turns=turns + 2,
    )


# What a worker serves: `tether worker --agents benchmarks/fleet.py` reads these.
bench = make_agent(
    int(os.environ.get("TETHER_FLEET_TURNS", "5")),
    float(os.environ.get("TETHER_FLEET_MODEL_LATENCY", "0")),
)

# -- measuring ---------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from the 3rd (state) on


def _cpu(pid: int, *, children: bool = False) -> float:
    """CPU seconds a process used (and its reaped children's, if asked)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / _TICK


def _postgres_cpu(cluster: Any) -> float:
    """CPU seconds of the whole cluster: the postmaster, its live and its reaped children."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    total = _cpu(postmaster, children=True)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None and int(fields[1]) == postmaster:
                total += _cpu(int(entry))
    return total


class Worker:
    """One ``tether worker`` process serving this file's agent."""

    def __init__(
        self, url: str, *, concurrency: int, lease_ttl: float, turns: int, latency: float
    ) -> None:
        self.serving_at: float | None = None
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tether.cli",
                "worker",
                "--agents",
                str(Path(__file__).resolve()),
                "--store",
                url,
                "--concurrency",
                str(concurrency),
                "--lease-ttl",
                str(lease_ttl),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={
                **os.environ,
                "TETHER_FLEET_TURNS": str(turns),
                "TETHER_FLEET_MODEL_LATENCY": str(latency),
                "PYTHONUNBUFFERED": "1",
                "COLUMNS": "300",
            },
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if self.serving_at is None and "serving" in line:
                self.serving_at = time.time()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def _statuses(url: str) -> dict[str, int]:
    return {s: int(n) for s, n in _query(url, "SELECT status, count(*) FROM runs GROUP BY 1")}


def _start_runs(url: str, agent: Agent, n: int) -> None:
    async def main() -> None:
        async with Runtime(url, worker=False) as client:
            for i in range(n):
                await client.start(agent, f"job {i}")

    asyncio.run(main())


def _wait(check: Any, what: str, deadline: float = 600.0) -> None:
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _throughput(cluster: Any, workers: int, args: argparse.Namespace, say: Any) -> dict[str, Any]:
    url = cluster.new_database()
    agent = make_agent(args.turns, args.model_latency)
    say(f"throughput, {workers} worker(s): starting {args.runs} runs")
    _start_runs(url, agent, args.runs)
    # Held by nobody alive until every worker is up, then let go at once: the window then
    # measures the fleet, not its members' start-up one after another.
    _query(url, "UPDATE runs SET lease_owner = 'held', lease_expires_at = 1e12 RETURNING 1")
    store_url = f"{url}?pool_size={args.pool_size}" if args.pool_size else url
    fleet = [
        Worker(
            store_url,
            concurrency=args.concurrency,
            lease_ttl=30,
            turns=args.turns,
            latency=args.model_latency,
        )
        for _ in range(workers)
    ]
    try:
        _wait(lambda: all(w.serving_at is not None for w in fleet), "the workers to serve")
        began = time.time()
        _query(
            url,
            "WITH freed AS (UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL "
            "RETURNING 1) SELECT pg_notify('tether_work', 'all'), count(*) FROM freed",
        )
        cpu0 = (_postgres_cpu(cluster), sum(_cpu(w.proc.pid) for w in fleet), time.monotonic())
        target = int(args.runs * 0.8)
        _wait(lambda: _statuses(url).get("completed", 0) >= target, "80% of the runs")
        ended = time.time()
        cpu1 = (_postgres_cpu(cluster), sum(_cpu(w.proc.pid) for w in fleet), time.monotonic())
        _wait(lambda: _statuses(url).get("completed", 0) >= args.runs, "every run")
    finally:
        for w in fleet:
            w.stop()
    ((turns,),) = _query(
        url,
        "SELECT count(*) FROM events WHERE type = 'model.completed' AND ts >= %s AND ts <= %s",
        (began, ended),
    )
    cluster.drop_database(url)
    window = ended - began
    pg_cpu, workers_cpu, elapsed = (b - a for a, b in zip(cpu0, cpu1, strict=True))
    return {
        "workers": workers,
        "turns": int(turns),
        "window_s": round(window, 2),
        "turns_per_s": round(turns / window, 1),
        "postgres_cpu_s": round(pg_cpu, 2),
        "workers_cpu_s": round(workers_cpu, 2),
        "postgres_cpu_share": round(pg_cpu / max(pg_cpu + workers_cpu, 1e-9), 2),
        "machine_cpu_busy": round((pg_cpu + workers_cpu) / (elapsed * (os.cpu_count() or 1)), 2),
    }


def _recovery(cluster: Any, args: argparse.Namespace, say: Any) -> dict[str, Any]:
    url = cluster.new_database()
    n = args.recovery_runs
    turns, latency = args.recovery_turns, args.recovery_latency
    agent = make_agent(turns, latency)

    def fleet() -> list[Worker]:
        return [
            Worker(
                url,
                # Room for every run with a quarter to spare: all are leased at once.
                concurrency=-(-n * 5 // (4 * args.recovery_workers)),
                lease_ttl=args.lease_ttl,
                turns=turns,
                latency=latency,
            )
            for _ in range(args.recovery_workers)
        ]

    first = fleet()
    second: list[Worker] = []
    try:
        _wait(lambda: all(w.serving_at is not None for w in first), "the workers to serve")
        say(f"recovery: starting {n} runs on {len(first)} workers")
        _start_runs(url, agent, n)

        def all_started() -> bool:
            # Every run has made a step (a fast run may have finished meanwhile: with a
            # short --recovery-latency, waiting for all of them to be running at once
            # never ended; the ones still unfinished at the kill are what is measured).
            rows = _query(
                url,
                "SELECT count(*) FROM runs r WHERE EXISTS (SELECT 1 FROM events e WHERE "
                "e.run = r.id AND e.type = 'model.completed')",
            )
            return int(rows[0][0]) >= n

        _wait(all_started, "every run to have made a step", deadline=180)
        for w in first:
            w.proc.send_signal(signal.SIGKILL)
        for w in first:
            w.stop()
        ((left,),) = _query(url, "SELECT count(*) FROM runs WHERE status <> 'completed'")
        say(f"recovery: killed every worker with {left} runs unfinished; restarting")
        restart = time.time()
        second = fleet()

        def progressed() -> int:
            rows = _query(
                url,
                "SELECT count(DISTINCT run) FROM events WHERE ts > %s AND type = 'model.completed'",
                (restart,),
            )
            return int(rows[0][0])

        _wait(lambda: progressed() >= left, "every run to progress again", deadline=300)
        firsts = _query(
            url,
            "SELECT min(ts) FILTER (WHERE type = 'model.completed'), "
            "min(ts) FILTER (WHERE type = 'signal.received') FROM events WHERE ts > %s "
            "GROUP BY run",
            (restart,),
        )
        serving = [w.serving_at - restart for w in second if w.serving_at is not None]
    finally:
        for w in [*first, *second]:
            w.stop(signal.SIGKILL)
    cluster.drop_database(url)
    progress = sorted(p - restart for p, _ in firsts if p is not None)
    claims = sorted(c - restart for _, c in firsts if c is not None)
    return {
        "runs_in_flight": int(left),
        "workers": args.recovery_workers,
        "lease_ttl_s": args.lease_ttl,
        "all_progressing_s": round(progress[-1], 2),
        "median_progressing_s": round(progress[len(progress) // 2], 2),
        "all_claimed_s": round(claims[-1], 2) if claims else None,
        "first_worker_serving_s": round(min(serving), 2) if serving else None,
        "goal_s": 2.0,
        "goal": "all_claimed_s <= goal_s (every run driven again); all_progressing_s adds "
        "one model call (--recovery-latency)",
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="benchmarks/fleet.py", description=__doc__)
    p.add_argument("--runs", type=int, default=3000)
    p.add_argument("--turns", type=int, default=5)
    p.add_argument("--model-latency", type=float, default=0.0)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument(
        "--pool-size", type=int, default=0, help="connections per worker (0: the default, 10)"
    )
    p.add_argument("--workers", default="1,2,4")
    p.add_argument("--recovery-runs", type=int, default=1000)
    p.add_argument("--recovery-workers", type=int, default=4)
    p.add_argument("--recovery-turns", type=int, default=60)
    p.add_argument("--recovery-latency", type=float, default=2.0)
    p.add_argument("--lease-ttl", type=float, default=1.0)
    args = p.parse_args(argv)

    from rich.console import Console

    sys.path.insert(0, str(_HERE.parent / "tests"))
    from _postgres import start_cluster, stop_cluster

    console = Console(stderr=True)
    say = console.log
    cluster = start_cluster()
    try:
        scaling = [_throughput(cluster, int(w), args, say) for w in args.workers.split(",")]
        for row in scaling:
            say(row)
        recovery = _recovery(cluster, args, say)
    finally:
        stop_cluster(cluster)
    base = scaling[0]["turns_per_s"]
    result = {
        "runs": args.runs,
        "turns_per_run": args.turns,
        "model_latency_s": args.model_latency,
        "pool_size": args.pool_size or 10,
        "cpus": os.cpu_count(),
        "scaling": scaling,
        "turns_per_s": {str(r["workers"]): r["turns_per_s"] for r in scaling},
        "scaling_multiple": {str(r["workers"]): round(r["turns_per_s"] / base, 2) for r in scaling},
        "bottleneck": _bottleneck(scaling),
        "recovery": recovery,
    }
    print(json.dumps(result, indent=2))


def _bottleneck(scaling: list[dict[str, Any]]) -> str:
    """Say what limits the largest fleet: the machine's CPUs, Postgres, or nothing seen."""
    top = scaling[-1]
    if top["machine_cpu_busy"] >= 0.85:
        share = top["postgres_cpu_share"]
        return (
            f"the machine's {os.cpu_count()} CPUs are saturated with {top['workers']} workers "
            f"(Postgres uses {share:.0%} of the CPU spent): more workers cannot help here"
        )
    if top["postgres_cpu_share"] >= 0.5:
        return "Postgres uses most of the CPU spent: it is the bottleneck"
    load = os.getloadavg()[0]
    return (
        f"the fleet and Postgres used {top['machine_cpu_busy']:.0%} of the CPUs (load average "
        f"{load:.1f} on {os.cpu_count()} CPUs counts other work too): each worker has at "
        "most pool_size store operations in flight, each waiting on a commit's fsync"
    )


if __name__ == "__main__":
    main()
