"""The chaos controller and its verdict, shared by ``test_chaos.py`` and ``benchmarks/chaos.py``.

:func:`run_chaos` starts a fleet of worker processes (forked by ``_forkserver.py``, each
one ``tether worker``'s own loop) on a Postgres database, starts ``runs`` runs of
``chaos_agents.shopper`` from a pure client, then, until every run has stopped:

- every few hundred milliseconds SIGKILLs a random worker and forks a replacement;
- once, when ``restart_postgres_at`` of the runs have completed, restarts Postgres
  (``pg_ctl restart``, in a thread, so the kills go on through the outage);
- meanwhile the model and the tools fail at ``fault_rate`` per kind of fault.

Then it stops the fleet and reads what the database holds: each run's status and
event log (gapless ``1..last_seq``, an intact hash chain), the effects the write tool
applied (at most one per idempotency key, one per logical order, each matching a
completed call in its run's log), and how long each run ran from its first claim to its
end against its pinned wall-time budget. Nothing here asserts; :class:`ChaosReport`
holds the counts and the test or benchmark judges them.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import chaos_agents
import psycopg

from tether import Runtime
from tether.policy import Budget
from tether.store import open_store, verify_chain

HERE = Path(__file__).resolve().parent
FORKSERVER = HERE / "_forkserver.py"
CLAIMED = "tether.claimed"


@dataclass
class ChaosConfig:
    """The size and the violence of one chaos run."""

    runs: int = 200
    workers: int = 3
    concurrency: int = 40
    lease_ttl: float = 1.0
    kill_every: tuple[float, float] = (0.2, 0.6)
    """A worker is killed after a pause drawn uniformly from this range (seconds)."""
    restart_postgres_at: float = 0.4
    """Fraction of the runs completed when Postgres is restarted (once)."""
    fault_rate: float = 0.05
    """Probability of each kind of fault per model call and per tool call."""
    budget_s: float = 60.0
    """Each run's pinned wall-time budget (``Budget.max_wall_seconds``)."""
    deadline_s: float = 600.0
    """Bounds a hung chaos run; only a bug makes it matter."""


@dataclass
class ChaosReport:
    """What a chaos run did and what the database shows afterwards."""

    runs: int
    statuses: dict[str, int]
    kills: int = 0
    postgres_restarts: int = 0
    postgres_restart_s: float = 0.0
    completed_at_restart: int = 0
    """Runs completed when Postgres was restarted (fewer than ``runs``: it was mid-run)."""
    wall_s: float = 0.0
    duplicate_keys: int = 0
    """Effects beyond the first with one idempotency key."""
    duplicate_orders: int = 0
    """Effects beyond the first for one logical order (a write re-issued under a new key)."""
    unaccounted_effects: int = 0
    """Effects without a completed call in their run's log, and completed calls without one."""
    gaps: int = 0
    """Runs whose events are not exactly ``1..last_seq``."""
    broken_chains: int = 0
    hung: int = 0
    """Runs not stopped by the deadline, or that ran longer than their budget."""
    max_run_s: float = 0.0
    """Longest time from a run's first claim to its last event."""
    takeovers: int = 0
    """Claims of a run whose previous driver died holding it."""
    replayed_writes: int = 0
    """Invocations of the write tool with a key it had already seen (retries, re-issues)."""
    model_failures: int = 0
    tool_failures: int = 0
    unexpected_exits: list[str] = field(default_factory=list)
    """Workers that ended without being killed (``pid:code``)."""
    log_excerpts: str = field(default="", repr=False)
    """Error lines from the workers' logs (for a failure message)."""

    @property
    def completed(self) -> int:
        return self.statuses.get("completed", 0)

    @property
    def duplicates(self) -> int:
        return self.duplicate_keys + self.duplicate_orders

    def summary(self) -> str:
        return (
            f"chaos: runs={self.runs} completed={self.completed} kills={self.kills} "
            f"postgres_restarts={self.postgres_restarts} "
            f"(at {self.completed_at_restart} completed) duplicates={self.duplicates} "
            f"gaps={self.gaps} broken_chains={self.broken_chains} "
            f"unaccounted_effects={self.unaccounted_effects} hung={self.hung} "
            f"takeovers={self.takeovers} replayed_writes={self.replayed_writes} "
            f"model_failures={self.model_failures} tool_failures={self.tool_failures} "
            f"max_run_s={self.max_run_s:.1f} wall_s={self.wall_s:.1f} "
            f"statuses={dict(sorted(self.statuses.items()))}"
        )

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        del found["log_excerpts"]
        return {**found, "completed": self.completed, "duplicates": self.duplicates}


class Fleet:
    """Worker processes forked by ``_forkserver.py``; kills go through it (it reaps)."""

    def __init__(
        self,
        agents_module: str,
        store_url: str,
        *,
        lease_ttl: float,
        concurrency: int,
        log_dir: Path,
        env: dict[str, str],
    ) -> None:
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = (log_dir / "forkserver.log").open("w")
        self.server = subprocess.Popen(
            [
                sys.executable,
                str(FORKSERVER),
                agents_module,
                store_url,
                str(lease_ttl),
                str(concurrency),
                str(log_dir),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env={**os.environ, **env},
        )
        self.alive: list[int] = []
        self.kills = 0
        self.unexpected: list[str] = []
        assert self.server.stdout is not None
        self.versions = dict(item.split("=", 1) for item in self.server.stdout.readline().split())
        """Agent name to the version the workers serve."""
        if not self.versions:
            self.close()
            log = (log_dir / "forkserver.log").read_text()
            raise RuntimeError(f"the fork server did not start: {log[-3000:]}")

    def _ask(self, command: str) -> str:
        assert self.server.stdin is not None and self.server.stdout is not None
        self.server.stdin.write(command + "\n")
        self.server.stdin.flush()
        answer = self.server.stdout.readline().strip()
        if not answer and self.server.poll() is not None:
            log = (self.log_dir / "forkserver.log").read_text()
            raise RuntimeError(f"the fork server died ({self.server.returncode}): {log[-3000:]}")
        return answer

    def spawn(self) -> int:
        pid = int(self._ask("spawn"))
        self.alive.append(pid)
        return pid

    def kill(self, pid: int) -> None:
        self.alive.remove(pid)
        _, code = self._ask(f"kill {pid}").split()
        self.kills += 1
        if int(code) != -9:  # it had ended on its own before the kill
            self.unexpected.append(f"{pid}:{code}")

    def kill_random(self, rng: random.Random) -> None:
        self.kill(rng.choice(self.alive))
        self.spawn()

    def check_exits(self) -> None:
        for item in self._ask("exits").split():
            pid = int(item.split(":")[0])
            if pid in self.alive:
                self.alive.remove(pid)
            self.unexpected.append(item)

    def close(self) -> None:
        if self.server.poll() is None:
            assert self.server.stdin is not None
            self.server.stdin.close()
            try:
                self.server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        for stream in (self.server.stdout, self.server.stdin):
            if stream is not None and not stream.closed:
                stream.close()
        self._log.close()

    def log_excerpts(self, limit: int = 4000) -> str:
        """Error lines from the workers' logs, for a failure message."""
        lines: list[str] = []
        for path in sorted(self.log_dir.glob("*.log")):
            for line in path.read_text(errors="replace").splitlines():
                if "Error" in line or "ERROR" in line or "Traceback" in line:
                    lines.append(f"{path.name}: {line}")
        text = "\n".join(lines)
        return text[-limit:]


def prepare_ledger(url: str) -> None:
    """Create the write tool's tables beside the store's."""
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in chaos_agents.LEDGER_SCHEMA.split(";"):
            conn.execute(statement)


def start_runs(url: str, inputs: list[str], budget_s: float) -> list[str]:
    """Start runs from a pure client (``worker=False``): the fleet executes them."""

    async def main() -> list[str]:
        async with Runtime(url, worker=False) as client:
            budget = Budget(max_wall_seconds=budget_s)
            return [
                (await client.start(chaos_agents.shopper, text, budget=budget)).run_id
                for text in inputs
            ]

    return asyncio.run(main())


def count_statuses(url: str) -> dict[str, int] | None:
    """Runs per status, or ``None`` while the database does not answer (a restart)."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
            rows = conn.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall()
    except psycopg.OperationalError:
        return None
    return {str(status): int(n) for status, n in rows}


def run_chaos(
    cluster: Any,
    url: str,
    config: ChaosConfig,
    log_dir: Path,
    *,
    progress: Callable[[int, int, int], None] | None = None,
    seed: int | None = None,
) -> ChaosReport:
    """Run the chaos described above; ``progress(completed, runs, kills)`` is told as it goes."""
    rng = random.Random(seed)
    prepare_ledger(url)
    fleet = Fleet(
        "chaos_agents",
        url,
        lease_ttl=config.lease_ttl,
        concurrency=config.concurrency,
        log_dir=log_dir,
        env={
            "TETHER_CHAOS_LEDGER": url,
            "TETHER_CHAOS_FAULT_RATE": str(config.fault_rate),
        },
    )
    restart: threading.Thread | None = None
    restart_s = 0.0
    completed_at_restart = 0
    started = time.monotonic()
    statuses: dict[str, int] = {}
    try:
        if fleet.versions.get("shopper") != chaos_agents.shopper.version:
            raise RuntimeError(
                f"the workers serve shopper version {fleet.versions.get('shopper')}, this "
                f"process defines {chaos_agents.shopper.version}: the code changed between "
                "the two imports"
            )
        for _ in range(config.workers):
            fleet.spawn()
        run_ids = start_runs(url, [f"order-{i}" for i in range(config.runs)], config.budget_s)
        deadline = time.monotonic() + config.deadline_s

        def restart_postgres() -> None:
            nonlocal restart_s
            began = time.monotonic()
            cluster.restart()
            restart_s = time.monotonic() - began

        while time.monotonic() < deadline:
            time.sleep(rng.uniform(*config.kill_every))
            fleet.kill_random(rng)
            fleet.check_exits()
            while len(fleet.alive) < config.workers:  # one that died on its own
                fleet.spawn()
            counted = count_statuses(url)
            if counted is None:
                continue
            statuses = counted
            done = statuses.get("completed", 0)
            if progress is not None:
                progress(done, config.runs, fleet.kills)
            if restart is None and done >= config.restart_postgres_at * config.runs:
                completed_at_restart = done
                restart = threading.Thread(target=restart_postgres, name="pg-restart")
                restart.start()
            if not statuses.get("pending") and not statuses.get("running"):
                break  # every run stopped (completed, or stuck in a state nobody drives)
        if restart is not None:
            restart.join()
        fleet.check_exits()
    finally:
        fleet.close()
    report = ChaosReport(
        runs=config.runs,
        statuses=count_statuses(url) or statuses,
        kills=fleet.kills,
        postgres_restarts=int(restart is not None),
        postgres_restart_s=restart_s,
        completed_at_restart=completed_at_restart,
        wall_s=time.monotonic() - started,
        unexpected_exits=fleet.unexpected,
    )
    _judge(url, run_ids, config, report)
    report.log_excerpts = fleet.log_excerpts()
    return report


def _judge(url: str, run_ids: list[str], config: ChaosConfig, report: ChaosReport) -> None:
    """Fill in the verdict from what the database holds."""
    with psycopg.connect(url, autocommit=True) as conn:
        events = conn.execute(
            "SELECT r.run_id, r.last_seq, e.seq, e.ts, e.type, e.data "
            "FROM runs r JOIN events e ON e.run = r.id ORDER BY r.id, e.seq"
        ).fetchall()
        effects = conn.execute("SELECT key, order_id, run_id FROM chaos_effects").fetchall()
        invocations, keys = conn.execute(
            "SELECT count(*), count(DISTINCT key) FROM chaos_invocations"
        ).fetchone() or (0, 0)
    report.replayed_writes = int(invocations) - int(keys)
    report.duplicate_keys = sum(n - 1 for n in Counter(k for k, _, _ in effects).values())
    report.duplicate_orders = sum(n - 1 for n in Counter(o for _, o, _ in effects).values())

    logs: dict[str, list[tuple[int, int, float, str, dict[str, Any]]]] = {}
    for run_id, last_seq, seq, ts, kind, data in events:
        logs.setdefault(run_id, []).append((int(last_seq), int(seq), float(ts), kind, data))
    effect_keys: dict[str, set[str]] = {}
    for key, _, run_id in effects:
        effect_keys.setdefault(run_id, set()).add(key)
    now = time.time()
    for run_id in run_ids:
        rows = logs.get(run_id, [])
        last_seq = rows[0][0] if rows else -1
        if [seq for _, seq, _, _, _ in rows] != list(range(1, last_seq + 1)):
            report.gaps += 1
        keys_of: dict[str, str] = {}
        completed: set[str] = set()
        first_claim: float | None = None
        finished: float | None = None
        for _, _, ts, kind, raw in rows:
            if kind not in ("tool.started", "tool.completed", "signal.received", "run.finished"):
                if kind == "model.failed":
                    report.model_failures += 1
                elif kind == "tool.failed":
                    report.tool_failures += 1
                continue
            data = json.loads(bytes(raw))
            if kind == "tool.started" and data.get("tool") == "charge":
                keys_of[data["call_id"]] = data["idempotency_key"]
            elif kind == "tool.completed" and data.get("tool") == "charge":
                completed.add(keys_of.get(data["call_id"], f"<no tool.started for {data}>"))
            elif kind == "signal.received" and data.get("name") == CLAIMED:
                first_claim = ts if first_claim is None else first_claim
                if not (data.get("payload") or {}).get("fresh", False):
                    report.takeovers += 1
            elif kind == "run.finished":
                finished = ts
        report.unaccounted_effects += len(completed ^ effect_keys.get(run_id, set()))
        if first_claim is not None:
            ran = (finished if finished is not None else now) - first_claim
            report.max_run_s = max(report.max_run_s, ran)
            if finished is None or ran > config.budget_s:
                report.hung += 1
        else:
            report.hung += 1  # never claimed at all
    report.broken_chains = asyncio.run(_broken_chains(url, run_ids))


async def _broken_chains(url: str, run_ids: list[str]) -> int:
    store = open_store(url)
    await store.open()
    broken = 0
    try:
        for run_id in run_ids:
            chain = await store.load_event_chain(run_id)
            if chain is None or not verify_chain(run_id, chain.rows, chain.last_seq).ok:
                broken += 1
    finally:
        await store.close()
    return broken
