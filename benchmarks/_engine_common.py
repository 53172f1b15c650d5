"""Shared pieces of ``benchmarks/engine.py``: the workload, timing budgets, store sizing.

Both systems run the same workload: a ReAct agent whose zero-latency model calls
one instant tool ``N`` times and then answers. The system prompt is 2,048
characters and every tool result ~200 bytes. A *turn* is one model call that
asked for a tool plus that tool's execution; the final answering model call is
not counted, on either side.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SENTENCE = (
    "You are a careful research assistant. Use the lookup tool to gather facts one at a "
    "time, cite what each lookup returned, never invent data, and answer only when the "
    "evidence is complete. "
)
INSTRUCTIONS = (_SENTENCE * (2048 // len(_SENTENCE) + 1))[:2048]
"""The 2 KB system prompt both agents get."""

USER_INPUT = "Find the facts and answer."
FINAL_ANSWER = "done"
TOOL_NAME = "lookup"
TOOL_DESCRIPTION = "Look up one fact by query."
_FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "


def tool_result(q: str) -> str:
    """The ~200-byte tool result (exactly 200 characters, varies with the query)."""
    head = f"result for {q}: "
    return (head + _FILLER * 4)[:200]


def turn_query(turn: int) -> str:
    """The tool argument the model sends on turn ``turn`` (0-based)."""
    return f"q{turn}"


TURN_DEFINITION = (
    "one model call that requested a tool plus that tool's execution; each run has N such "
    "turns and then one final answering model call, which is not counted (same on both sides)"
)


@dataclass
class Budget:
    """How much work a configuration does."""

    seq_min_seconds: float = 2.0
    seq_min_turns: int = 2000
    seq_min_runs: int = 2
    tether_concurrent_runs: int = 1000
    langgraph_concurrent_runs: dict[int, int] = field(default_factory=dict)
    langgraph_concurrent_default: int = 200

    def lg_concurrent(self, n: int) -> int:
        return self.langgraph_concurrent_runs.get(n, self.langgraph_concurrent_default)

    def sequential_done(self, elapsed: float, runs: int, turns: int) -> bool:
        """Stop a sequential measurement after >= min seconds or >= min turns."""
        if runs < self.seq_min_runs:
            return False
        return elapsed >= self.seq_min_seconds or turns >= self.seq_min_turns


class Stopwatch:
    """Wall time and this process's CPU time (all threads) since it was made."""

    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        self.wall = 0.0
        self.cpu = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self._wall

    def stop(self) -> Stopwatch:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        return self


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = Path(f"{path}{suffix}")
        if p.exists():
            p.unlink()


def file_bytes(path: Path) -> int:
    """Database file plus WAL, after folding the WAL into the file and truncating it."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    total = 0
    for suffix in ("", "-wal"):
        p = Path(f"{path}{suffix}")
        if p.exists():
            total += p.stat().st_size
    return total


def table_bytes(path: Path) -> dict[str, int]:
    """Bytes of pages per table/index (``dbstat``), or ``{}`` if SQLite lacks dbstat."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.Error:
        return {}
    finally:
        conn.close()
    return {str(name): int(size) for name, size in rows}


def query_one(path: Path, sql: str) -> tuple[Any, ...]:
    conn = sqlite3.connect(path)
    try:
        return tuple(conn.execute(sql).fetchone())
    finally:
        conn.close()


def fsync_probe(directory: Path, commits: int = 200) -> dict[str, float]:
    """Median-free quick probe: microseconds per tiny WAL commit at FULL and NORMAL."""
    out: dict[str, float] = {}
    for sync in ("FULL", "NORMAL"):
        path = directory / f"probe_{sync}.db"
        remove_db(path)
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={sync}")
        conn.execute("CREATE TABLE t (x BLOB)")
        payload = b"x" * 500
        started = time.perf_counter()
        for _ in range(commits):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t VALUES (?)", (payload,))
            conn.execute("COMMIT")
        out[f"{sync.lower()}_commit_us"] = round((time.perf_counter() - started) / commits * 1e6, 1)
        conn.close()
        remove_db(path)
    return out


FLOOR_ROW_BYTES = 900
"""The physical floor's row: about what one Tether turn stores (three events, ~0.9 KB)."""


def _floor_payload(turn: int) -> str:
    head = f'{{"turn": {turn}, "data": "'
    return (head + _FILLER * (FLOOR_ROW_BYTES // len(_FILLER) + 1))[: FLOOR_ROW_BYTES - 2] + '"}'


def run_floor(*, path: Path, durability: str, turns: int, n: int) -> dict[str, Any]:
    """The physical floor: one ~900-byte row inserted and committed per turn, nothing else.

    Same file system (the benchmark's work directory), WAL and ``synchronous`` as the
    store under test; one plain ``sqlite3`` connection in this thread, ``BEGIN IMMEDIATE``
    / ``INSERT`` / ``COMMIT`` per turn. A durable engine cannot do better than this loop
    one turn at a time; Tether's sequential turns/s is reported as a fraction of it.
    """
    remove_db(path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={durability}")
        conn.execute(
            "CREATE TABLE turns (id INTEGER PRIMARY KEY, run INTEGER NOT NULL, data TEXT NOT NULL)"
        )
        payloads = [_floor_payload(t) for t in range(turns)]
        clock = Stopwatch()
        for t, payload in enumerate(payloads):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO turns (run, data) VALUES (?, ?)", (t // n, payload))
            conn.execute("COMMIT")
        clock.stop()
    finally:
        conn.close()
    total = file_bytes(path)
    return {
        "system": "floor",
        "mode": "sequential",
        "runs": None,
        "N": n,
        "durability": durability,
        "turns": turns,
        "seconds": round(clock.wall, 4),
        "turns_per_s": round(turns / clock.wall, 1) if clock.wall > 0 else None,
        "process_cpu_seconds": round(clock.cpu, 3),
        "cpu_us_per_turn": round(clock.cpu / turns * 1e6, 1) if turns else None,
        "commit_us": round(clock.wall / turns * 1e6, 1) if turns else None,
        "row_bytes": len(payloads[0].encode()) if payloads else FLOOR_ROW_BYTES,
        "bytes_per_turn": round(total / turns, 1) if turns else None,
        "store": {
            "engine": "sqlite3: BEGIN IMMEDIATE; INSERT one row; COMMIT (per turn)",
            "journal_mode": "WAL",
            "synchronous": durability,
            "file_bytes_after_wal_checkpoint": total,
        },
    }


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def busy_compilers() -> int:
    """Processes named cc1plus/cc1 (a C/C++ build hogging the CPU), from /proc."""
    count = 0
    proc = Path("/proc")
    if not proc.is_dir():
        return 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name in ("cc1plus", "cc1"):
            count += 1
    return count


def result_row(
    *,
    system: str,
    mode: str,
    runs: int,
    n: int,
    durability: str,
    seconds: float,
    cpu_seconds: float,
    store_bytes: int,
    raw_bytes: int,
    extra: dict[str, Any],
) -> dict[str, Any]:
    turns = runs * n
    bytes_per_turn = store_bytes / turns if turns else 0.0
    raw_per_turn = raw_bytes / turns if turns else 0.0
    row: dict[str, Any] = {
        "system": system,
        "mode": mode,
        "runs": runs,
        "N": n,
        "durability": durability,
        "turns": turns,
        "seconds": round(seconds, 4),
        "turns_per_s": round(turns / seconds, 1) if seconds > 0 else None,
        # CPU time of this process (all threads) over wall time: well below 1 in a CPU-bound
        # configuration means other processes took the cores.
        "process_cpu_seconds": round(cpu_seconds, 3),
        # Process CPU time (all threads: the event loop, a store's writer and reader threads)
        # per turn: the engine's cost with the disk's waiting taken out.
        "cpu_us_per_turn": round(cpu_seconds / turns * 1e6, 1) if turns else None,
        "bytes_per_turn": round(bytes_per_turn, 1),
        "raw_event_json_bytes_per_turn": round(raw_per_turn, 1),
        "ratio": round(bytes_per_turn / raw_per_turn, 3) if raw_per_turn else None,
    }
    row.update(extra)
    return row
