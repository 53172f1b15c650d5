"""Engine benchmark: durable turns per second and store bytes per turn, Tether vs LangGraph.

A ReAct agent with a zero-latency scripted model calls one instant tool N times
(N = 20 and 100 by default) and then answers; 2 KB instructions, ~200-byte tool
results. For each N and each SQLite ``synchronous`` level (FULL, NORMAL) it
measures (a) one run at a time and (b) many concurrent runs in one process, on
Tether and, when installed (``bench`` dependency group), on LangGraph with its
SQLite checkpointers. Prints one JSON object on stdout; progress goes to stderr.

    python benchmarks/engine.py                 # full run (minutes)
    python benchmarks/engine.py --quick         # CI smoke (seconds)
    python benchmarks/engine.py --only tether --n 20

Targets are reported, never asserted (the exit code is 0 whatever the numbers).
See benchmarks/README.md for what is measured and how to read it.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE))
try:
    import tether  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(_HERE.parent / "src"))

from _engine_common import (  # noqa: E402
    INSTRUCTIONS,
    TURN_DEFINITION,
    Budget,
    busy_compilers,
    fsync_probe,
    load_average,
    tool_result,
)

LG_CONCURRENT_TURNS = 20_000
"""Default LangGraph concurrent runs per N: min(1000, 20000 // N) (1000 at N=20, 200 at N=100)."""

TARGETS = {
    "sequential_full_multiple": 6.0,
    "concurrent_full_multiple": 25.0,
    "bytes_flat_tolerance": 1.25,
    "bytes_vs_raw_max_ratio": 1.5,
}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="benchmarks/engine.py",
        description="Durable turns/s and store bytes per turn, Tether vs LangGraph "
        "(JSON on stdout).",
    )
    p.add_argument("--quick", action="store_true", help="small counts for a CI smoke run")
    p.add_argument("--only", choices=("tether", "langgraph"), help="benchmark one system only")
    p.add_argument(
        "--n",
        type=int,
        nargs="+",
        default=[20, 100],
        metavar="N",
        help="tool turns per run (default: 20 100)",
    )
    p.add_argument(
        "--durability",
        nargs="+",
        choices=("FULL", "NORMAL"),
        default=["FULL", "NORMAL"],
        help="SQLite synchronous levels (default: both)",
    )
    p.add_argument(
        "--mode",
        nargs="+",
        choices=("sequential", "concurrent"),
        default=["sequential", "concurrent"],
        help="modes (default: both)",
    )
    p.add_argument("--seconds", type=float, help="sequential: stop after this many seconds ...")
    p.add_argument("--turns", type=int, help="... or this many turns, whichever comes first")
    p.add_argument(
        "--concurrent-runs", type=int, help="Tether concurrent runs (default 1000; --quick 100)"
    )
    p.add_argument(
        "--lg-concurrent-runs",
        type=int,
        help="LangGraph concurrent runs (default min(1000, 20000 // N): 1000 at N=20, "
        "200 at N=100; --quick 20)",
    )
    p.add_argument(
        "--lg-durability",
        choices=("sync", "async", "exit"),
        default="sync",
        help="LangGraph invoke durability (default sync: a step is checkpointed "
        "before the next starts, as Tether commits a turn before the next)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        help="sequential measurements per configuration, systems interleaved; the median "
        "turns/s is reported (default 3; --quick 1)",
    )
    p.add_argument("--workdir", type=Path, help="where the SQLite files go (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the database files")
    p.add_argument("--no-progress", action="store_true", help="no progress display on stderr")
    args = p.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    return args


def _budget(args: argparse.Namespace) -> Budget:
    if args.quick:
        budget = Budget(
            seq_min_seconds=0.3,
            seq_min_turns=200,
            tether_concurrent_runs=100,
            langgraph_concurrent_default=20,
        )
    else:
        budget = Budget()
    if args.seconds is not None:
        budget.seq_min_seconds = args.seconds
    if args.turns is not None:
        budget.seq_min_turns = args.turns
    if args.concurrent_runs is not None:
        budget.tether_concurrent_runs = args.concurrent_runs
    if args.lg_concurrent_runs is not None:
        budget.langgraph_concurrent_default = args.lg_concurrent_runs
    elif not args.quick:
        # LangGraph's turns get slower as its checkpoints grow and its one aiosqlite
        # connection serializes every write: cap its concurrent work at ~20,000 turns.
        budget.langgraph_concurrent_runs = {
            n: max(20, min(budget.tether_concurrent_runs, LG_CONCURRENT_TURNS // n)) for n in args.n
        }
    return budget


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in ("tether-runtime", "pydantic", "rich"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[name] = md.version(name)
    import tether

    out["tether"] = tether.__version__
    return out


def _machine(workdir: Path) -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "load_average_at_start": load_average(),
        "compiler_processes_at_start": busy_compilers(),
        "sqlite_commit_probe": fsync_probe(workdir),
    }


class _Progress:
    """Rich progress on stderr (or nothing)."""

    def __init__(self, enabled: bool) -> None:
        self._progress: Any = None
        self.console: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self.console = Console(stderr=True)
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                refresh_per_second=4,
            )

    def __enter__(self) -> _Progress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def task(self, description: str, total: int | None) -> _Task:
        return _Task(self._progress, description, total)

    def log(self, message: str) -> None:
        if self.console is not None:
            self.console.log(message)
        else:
            print(message, file=sys.stderr)


class _Task:
    """One configuration's progress line: ``advance(k)`` per finished run, ``done()`` at the end."""

    def __init__(self, progress: Any, description: str, total: int | None) -> None:
        self._progress = progress
        self._id = progress.add_task(description, total=total) if progress is not None else None

    def advance(self, k: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._id, k)

    def done(self) -> None:
        if self._progress is not None:
            self._progress.remove_task(self._id)


def _multiple(a: float | None, b: float | None) -> float | None:
    if not a or not b:
        return None
    return round(a / b, 2)


def _targets(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def find(system: str, mode: str, n: int, durability: str) -> dict[str, Any] | None:
        for row in rows:
            if (row["system"], row["mode"], row["N"], row["durability"]) == (
                system,
                mode,
                n,
                durability,
            ):
                return row
        return None

    ns = sorted({row["N"] for row in rows})
    out: dict[str, Any] = {}
    for mode, key in (
        ("sequential", "sequential_full_multiple"),
        ("concurrent", "concurrent_full_multiple"),
    ):
        target = TARGETS[key]
        by_n: dict[str, Any] = {}
        for n in ns:
            entry: dict[str, Any] = {}
            for durability in ("FULL", "NORMAL"):
                t = find("tether", mode, n, durability)
                lg = find("langgraph", mode, n, durability)
                if t is None or lg is None:
                    continue
                entry[durability] = {
                    "tether_turns_per_s": t["turns_per_s"],
                    "langgraph_turns_per_s": lg["turns_per_s"],
                    "multiple": _multiple(t["turns_per_s"], lg["turns_per_s"]),
                }
            if "FULL" in entry:
                entry["FULL"]["pass"] = (entry["FULL"]["multiple"] or 0) >= target
            if entry:
                by_n[str(n)] = entry
        full = [e["FULL"]["pass"] for e in by_n.values() if "FULL" in e]
        out[key] = {
            "target": f"tether/langgraph turns_per_s with synchronous=FULL >= {target:g}x "
            "(NORMAL shown for information)",
            "by_N": by_n,
            "pass": all(full) if full else None,
        }

    tol = TARGETS["bytes_flat_tolerance"]
    flat: dict[str, Any] = {}
    if len(ns) >= 2:
        lo, hi = ns[0], ns[-1]
        for mode in ("sequential", "concurrent"):
            for durability in ("FULL", "NORMAL"):
                a = find("tether", mode, lo, durability)
                b = find("tether", mode, hi, durability)
                if a is None or b is None or not a["bytes_per_turn"]:
                    continue
                growth = b["bytes_per_turn"] / a["bytes_per_turn"]
                flat[f"{mode}/{durability}"] = {
                    f"bytes_per_turn_N{lo}": a["bytes_per_turn"],
                    f"bytes_per_turn_N{hi}": b["bytes_per_turn"],
                    "growth": round(growth, 3),
                    "pass": 1 / tol <= growth <= tol,
                }
        lg_growth = {}
        for mode in ("sequential", "concurrent"):
            a = find("langgraph", mode, lo, "FULL") or find("langgraph", mode, lo, "NORMAL")
            b = find("langgraph", mode, hi, "FULL") or find("langgraph", mode, hi, "NORMAL")
            if a and b and a["bytes_per_turn"]:
                lg_growth[mode] = round(b["bytes_per_turn"] / a["bytes_per_turn"], 3)
    else:
        lg_growth = {}
    flat_pass = [v["pass"] for v in flat.values()]
    out["bytes_per_turn_flat"] = {
        "target": f"tether bytes_per_turn at the largest N within {tol:g}x of the smallest N",
        "by_config": flat,
        "langgraph_growth_for_reference": lg_growth,
        "pass": all(flat_pass) if flat_pass else None,
    }

    limit = TARGETS["bytes_vs_raw_max_ratio"]
    ratios = {
        f"{r['mode']}/N{r['N']}/{r['durability']}": r["ratio"]
        for r in rows
        if r["system"] == "tether"
    }
    out["bytes_vs_raw_event_json"] = {
        "target": f"tether store bytes per turn <= {limit:g}x raw event JSON bytes per turn",
        "by_config": ratios,
        "pass": all(v is not None and v <= limit for v in ratios.values()) if ratios else None,
    }
    return out


def _measure(
    args: argparse.Namespace,
    budget: Budget,
    progress: _Progress,
    workdir: Path,
    failures: list[dict[str, Any]],
    *,
    system: str,
    mode: str,
    n: int,
    durability: str,
    tag: str,
    modules: dict[str, Any],
) -> dict[str, Any] | None:
    """One measurement of one configuration; failures are recorded, not raised."""
    total: int | None = None
    if mode == "concurrent":
        total = budget.tether_concurrent_runs if system == "tether" else budget.lg_concurrent(n)
    label = f"{system:9} {mode:10} N={n:<4} {durability:6}{tag}"
    task = progress.task(label, total)
    gc.collect()
    kwargs: dict[str, Any] = {
        "mode": mode,
        "n": n,
        "durability": durability,
        "budget": budget,
        "workdir": workdir,
        "progress": task.advance,
    }
    if system == "langgraph":
        kwargs["lg_durability"] = args.lg_durability
    try:
        row: dict[str, Any] = modules[system].run_config(**kwargs)
    except Exception as exc:  # report and go on with the others
        failures.append(
            {
                "system": system,
                "mode": mode,
                "N": n,
                "durability": durability,
                "error": repr(exc),
                "traceback": traceback.format_exc(limit=5),
            }
        )
        progress.log(f"[red]{label} failed: {exc!r}")
        return None
    finally:
        task.done()
        if not args.keep:
            for f in workdir.glob(f"{system}_{mode}_{n}_{durability}.db*"):
                f.unlink()
    progress.log(
        f"{label} {row['turns_per_s']:>9} turns/s  "
        f"{row['bytes_per_turn']:>9} B/turn  ratio {row['ratio']}"
    )
    return row


def _median_row(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The sample with the median turns/s, annotated with all samples."""
    ordered = sorted(samples, key=lambda r: r["turns_per_s"] or 0.0)
    row = dict(ordered[(len(ordered) - 1) // 2])
    if len(samples) > 1:
        row["repeats"] = len(samples)
        row["turns_per_s_samples"] = [r["turns_per_s"] for r in samples]
    return row


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    budget = _budget(args)
    systems = ["tether", "langgraph"] if args.only is None else [args.only]
    notes: list[str] = []

    own_tmp = args.workdir is None
    if own_tmp:
        workdir = Path(tempfile.mkdtemp(prefix="tether-bench-"))
    else:
        workdir = args.workdir
        workdir.mkdir(parents=True, exist_ok=True)

    import _engine_tether as tether_bench

    lg_bench: Any = None
    lg_versions: dict[str, str] = {}
    if "langgraph" in systems:
        try:
            import _engine_langgraph as lg_bench

            lg_versions = lg_bench.versions()
        except ImportError as exc:
            notes.append(
                f"LangGraph is not installed ({exc}); only Tether was measured. Install the "
                "bench group (langgraph, langgraph-checkpoint-sqlite) to compare."
            )
            systems.remove("langgraph")
            lg_bench = None

    started = time.time()
    machine = _machine(workdir)
    if machine["compiler_processes_at_start"]:
        notes.append(
            f"{machine['compiler_processes_at_start']} compiler processes were running at start; "
            "numbers are not representative of a quiet machine"
        )
    rows: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    with _Progress(not args.no_progress) as progress:
        if "tether" in systems:
            progress.log("warming up tether")
            tether_bench.warm_up(workdir)
        if lg_bench is not None:
            progress.log("warming up langgraph")
            lg_bench.warm_up(workdir)
        for n in args.n:
            for mode in args.mode:
                for durability in args.durability:
                    repeats = args.repeat if mode == "sequential" else 1
                    samples: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
                    # Interleave the systems so both see the same machine conditions.
                    for rep in range(repeats):
                        for system in systems:
                            row = _measure(
                                args,
                                budget,
                                progress,
                                workdir,
                                failures,
                                system=system,
                                mode=mode,
                                n=n,
                                durability=durability,
                                tag=f" #{rep + 1}" if repeats > 1 else "",
                                modules={"tether": tether_bench, "langgraph": lg_bench},
                            )
                            if row is not None:
                                samples[system].append(row)
                    for system in systems:
                        if samples[system]:
                            rows.append(_median_row(samples[system]))

    machine["load_average_at_end"] = load_average()
    machine["compiler_processes_at_end"] = busy_compilers()
    machine["sqlite_commit_probe_at_end"] = fsync_probe(workdir)
    if "langgraph" in systems:
        fewer = {
            str(n): budget.lg_concurrent(n)
            for n in args.n
            if budget.lg_concurrent(n) != budget.tether_concurrent_runs
        }
        if "concurrent" in args.mode and fewer:
            notes.append(
                f"LangGraph concurrent mode ran fewer runs than Tether's "
                f"{budget.tether_concurrent_runs} (runs by N: {fewer}) to keep the benchmark's "
                "wall time bounded (its checkpoints grow with the conversation, and one aiosqlite "
                "connection serializes every write); throughput (turns/s) is what is compared. "
                "On the 2-core development machine LangGraph's turns/s rose slightly with "
                "concurrency (N=20, FULL: 87 at 50 runs, 108 at 250, 115 at 1000), so fewer runs "
                "slightly understate it"
            )
    if args.keep or args.workdir is not None:
        notes.append(
            f"database files kept in {workdir}" if args.keep else f"work directory {workdir}"
        )
    report: dict[str, Any] = {
        "benchmark": "engine",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "wall_seconds": round(time.time() - started, 1),
        "quick": args.quick,
        "machine": machine,
        "versions": {**_versions(), **lg_versions},
        "workload": {
            "N": args.n,
            "turn": TURN_DEFINITION,
            "instructions_chars": len(INSTRUCTIONS),
            "tool_result_bytes": len(tool_result("q0").encode()),
            "model": "zero-latency scripted model deciding from len(messages); tether: "
            "tether.testing.ScriptedModel (its request log disabled); langgraph: a "
            "BaseChatModel subclass with _generate/_agenerate",
            "tool": "one instant async tool (langgraph: a StructuredTool with sync and async "
            "bodies)",
            "sequential": f"runs back to back until >= {budget.seq_min_seconds:g} s or >= "
            f"{budget.seq_min_turns} turns (at least {budget.seq_min_runs} runs), after a "
            f"warm-up in a throwaway store; measured {args.repeat}x per configuration with the "
            "systems interleaved, the median turns/s reported",
            "concurrent": "all runs started together with asyncio.gather(start + result) in one "
            "event loop",
            "bytes_per_turn": "growth of the SQLite file (db + WAL after PRAGMA "
            "wal_checkpoint(TRUNCATE)) from the empty schema, divided by turns",
            "raw_event_json_bytes_per_turn": "tether: sum(length(events.data)) / turns; "
            "langgraph: serialized checkpoint + metadata + "
            "writes payload / turns",
            "langgraph_invoke_durability": args.lg_durability if "langgraph" in systems else None,
        },
        "results": rows,
        "targets": _targets(rows),
        "notes": notes,
    }
    if failures:
        report["failures"] = failures
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    if own_tmp and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
