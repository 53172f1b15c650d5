"""Where a Tether turn's CPU goes: the engine benchmark's workload under cProfile.

Runs the ``benchmarks/engine.py`` workload (a ReAct agent whose zero-latency scripted
model calls one instant tool N times, then answers; 2 KB instructions, 200-byte tool
results) on a fresh SQLite store: R runs one after the other and, with
``--concurrent K``, K runs at once. Each mode is measured twice, each time in a new
Runtime after one untimed run: first without a profiler (CPU µs per turn = process
CPU time / turns, as engine.py reports it), then under cProfile, in every thread
(the event loop, the store's writer thread and its reader threads), profiling the
timed runs only. Prints to stdout, for each mode, the CPU per turn, the profiled
time per thread and the top functions by tottime and by cumtime.

    python benchmarks/profile_turn.py                      # 50 runs x N=20, FULL
    python benchmarks/profile_turn.py --concurrent 1000    # and 1,000 concurrent runs
    python benchmarks/profile_turn.py --runs 100 --durability NORMAL --top 40
    python benchmarks/profile_turn.py --out /tmp/seq.prof  # also dump pstats files

By default the profiler's clock is each thread's CPU time (``time.thread_time``), so
the tables show CPU, not time spent waiting for fsync or for the event loop; use
``--timer wall`` for wall-clock time. Profiling slows everything down (several-fold
for this call-heavy code): compare functions with each other, and read the cost of a
turn from the unprofiled line.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import pstats
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE))
try:
    import tether  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(_HERE.parent / "src"))

from _engine_common import USER_INPUT, Stopwatch, load_average, remove_db  # noqa: E402
from _engine_tether import _check, make_agent, warm_up  # noqa: E402

from tether import Agent, Runtime  # noqa: E402


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="benchmarks/profile_turn.py",
        description="Profile Tether turns (the engine benchmark's workload) under cProfile.",
    )
    p.add_argument("--n", type=int, default=20, help="tool turns per run (default 20)")
    p.add_argument(
        "--runs", type=int, default=50, help="sequential runs, one at a time (default 50)"
    )
    p.add_argument(
        "--concurrent",
        type=int,
        default=0,
        metavar="K",
        help="also profile K runs started at once (default: off)",
    )
    p.add_argument(
        "--no-sequential", action="store_true", help="skip the sequential mode (with --concurrent)"
    )
    p.add_argument("--durability", choices=("FULL", "NORMAL"), default="FULL")
    p.add_argument("--top", type=int, default=30, help="functions per table (default 30)")
    p.add_argument(
        "--timer",
        choices=("cpu", "wall"),
        default="cpu",
        help="profiler clock: each thread's CPU time (default) or wall time",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="also write pstats files: OUT with the mode inserted before the suffix "
        "(e.g. seq.prof -> seq.sequential.prof), for snakeviz or pstats",
    )
    p.add_argument("--workdir", type=Path, help="where the SQLite files go (default: a temp dir)")
    return p.parse_args(argv)


# -- the workload ---------------------------------------------------------------------------


class _NoProfile:
    """Stands in for ``_AllThreads`` in the unprofiled measurement."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


async def _sequential(
    url: str, durability: str, agent: Agent, n: int, runs: int, prof: Any
) -> Stopwatch:
    async with Runtime(url, durability=durability, recover=False) as rt:  # type: ignore[arg-type]
        # One untimed run first: whatever a Runtime sets up on its first run stays out.
        _check(await (await rt.start(agent, USER_INPUT)).result(), n)
        gc.collect()
        prof.start()
        clock = Stopwatch()
        for _ in range(runs):
            _check(await (await rt.start(agent, USER_INPUT)).result(), n)
        clock.stop()
        prof.stop()
        return clock


async def _concurrent(
    url: str, durability: str, agent: Agent, n: int, runs: int, prof: Any
) -> Stopwatch:
    async with Runtime(url, durability=durability, recover=False) as rt:  # type: ignore[arg-type]

        async def one() -> None:
            _check(await (await rt.start(agent, USER_INPUT)).result(), n)

        await one()
        gc.collect()
        prof.start()
        clock = Stopwatch()
        await asyncio.gather(*(one() for _ in range(runs)))
        clock.stop()
        prof.stop()
        return clock


def _run(mode: str, args: argparse.Namespace, path: Path, runs: int, prof: Any) -> Stopwatch:
    remove_db(path)
    agent = make_agent(args.n)
    url = f"sqlite:///{path}"
    body = _sequential if mode == "sequential" else _concurrent
    try:
        return asyncio.run(body(url, args.durability, agent, args.n, runs, prof))
    finally:
        remove_db(path)


# -- profiling every thread -----------------------------------------------------------------


class _AllThreads:
    """cProfile in this thread and in every thread started while it is installed.

    ``install()`` (before the Runtime opens) makes ``threading.setprofile`` put a hook in
    each new thread (the store's writer, its readers); on its first event the hook swaps
    itself for a ``cProfile.Profile`` of that thread's own. ``start()`` clears what those
    collected so far and turns this thread's profiler on; ``stop()`` turns it off.
    ``collect()``, once the Runtime has closed and its threads have ended, takes the
    statistics: a profile must not be stopped from another thread while its own thread
    is inside a call, or that call is charged with the wrong thread's clock. Python >= 3.12
    allows one cProfile at a time (it is built on ``sys.monitoring``, which sees every
    thread): there only this thread's is used.
    """

    def __init__(self, timer: str) -> None:
        self._timer = timer
        self.per_thread = sys.version_info < (3, 12)
        self._threads: list[tuple[threading.Thread, cProfile.Profile]] = []
        self._main = self._new()
        self.snapshots: list[tuple[str, pstats.Stats]] = []
        self.skipped: set[str] = set()
        self._lock = threading.Lock()

    def _new(self) -> cProfile.Profile:
        if self._timer == "cpu":
            return cProfile.Profile(time.thread_time)
        return cProfile.Profile()

    def _hook(self, frame: Any, event: str, arg: Any) -> None:
        sys.setprofile(None)
        prof = self._new()
        try:
            prof.enable()
        except ValueError as exc:
            self.skipped.add(f"{threading.current_thread().name}: {exc}")
            return
        with self._lock:
            self._threads.append((threading.current_thread(), prof))

    def install(self) -> None:
        if self.per_thread:
            threading.setprofile(self._hook)

    def start(self) -> None:
        with self._lock:
            for _name, prof in self._threads:
                prof.clear()
        self._main.enable()

    def stop(self) -> None:
        self._main.disable()
        threading.setprofile(None)  # type: ignore[arg-type]

    def collect(self) -> None:
        self.snapshots = [(threading.current_thread().name, pstats.Stats(self._main))]
        with self._lock:
            threads = list(self._threads)
        for thread, prof in threads:
            thread.join(timeout=5.0)
            if thread.is_alive():
                self.skipped.add(f"{thread.name}: still running after the Runtime closed")
                continue
            self.snapshots.append((thread.name, pstats.Stats(prof)))


_PREFIX = re.compile(r"^.*?/(?:site-packages|src|lib/python3\.\d+)/|^.*/(?=benchmarks/)")


def _short(key: tuple[str, int, str]) -> tuple[str, int, str]:
    file, line, name = key
    return (_PREFIX.sub("", file), line, name)


def _shorten(stats: pstats.Stats) -> None:
    """Like ``Stats.strip_dirs`` but keeps package paths (``tether/store/_sqlite.py``)."""
    table: dict[Any, Any] = {}
    for key, (cc, nc, tt, ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        new_callers: dict[Any, Any] = {}
        for caller, value in callers.items():
            short = _short(caller)
            new_callers[short] = (
                pstats.add_tuple(new_callers[short], value) if short in new_callers else value
            )
        short = _short(key)
        entry = (cc, nc, tt, ct, new_callers)
        table[short] = pstats.add_func_stats(table[short], entry) if short in table else entry
    stats.stats = table  # type: ignore[attr-defined]
    stats.top_level = {_short(k) for k in stats.top_level}  # type: ignore[attr-defined]
    stats.fcn_list = 0  # type: ignore[attr-defined]
    stats.max_name_len = max((len(pstats.func_std_string(k)) for k in table), default=0)  # type: ignore[attr-defined]


def _total_seconds(stats: pstats.Stats) -> float:
    return sum(tt for _cc, _nc, tt, _ct, _callers in stats.stats.values())  # type: ignore[attr-defined]


def _print_table(stats: pstats.Stats, sort: str, top: int, out: Callable[[str], None]) -> None:
    buf = io.StringIO()
    stats.stream = buf  # type: ignore[attr-defined]
    stats.sort_stats(sort).print_stats(top)
    text = buf.getvalue()
    # Drop pstats' own header (the profile file name and "Ordered by" lines are enough).
    lines = [line for line in text.splitlines() if line.strip()]
    out("\n".join(lines))


def _profile_mode(mode: str, args: argparse.Namespace, workdir: Path) -> None:
    runs = args.runs if mode == "sequential" else args.concurrent
    turns = runs * args.n
    path = workdir / f"profile_{mode}.db"
    out = print

    plain = _run(mode, args, path, runs, _NoProfile())
    profiled = _AllThreads(args.timer)
    profiled.install()
    try:
        clock = _run(mode, args, path, runs, profiled)
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
    profiled.collect()

    out("")
    out("=" * 100)
    out(
        f"{mode}: {runs} run(s) x N={args.n} = {turns} turns, synchronous={args.durability}, "
        f"load average {load_average()}"
    )
    out(
        f"  unprofiled: {plain.wall:.3f} s wall, {plain.cpu:.3f} s process CPU -> "
        f"cpu_us_per_turn {plain.cpu / turns * 1e6:.1f}, {turns / plain.wall:.1f} turns/s"
    )
    out(
        f"  profiled:   {clock.wall:.3f} s wall, {clock.cpu:.3f} s process CPU -> "
        f"{clock.cpu / turns * 1e6:.1f} CPU µs/turn (profiler overhead included)"
    )
    clock_name = "thread CPU" if args.timer == "cpu" else "wall"
    out(f"  profiled {clock_name} seconds by thread:")
    by_name: dict[str, float] = {}
    for name, snapshot in profiled.snapshots:
        # Pool threads are numbered per pool: fold "ThreadPoolExecutor-0_3" into one line.
        label = re.sub(r"_\d+$", "_*", name)
        by_name[label] = by_name.get(label, 0.0) + _total_seconds(snapshot)
    for label, seconds in sorted(by_name.items(), key=lambda kv: -kv[1]):
        out(f"    {label:40} {seconds:8.3f} s  {seconds / turns * 1e6:9.1f} µs/turn")
    if not profiled.per_thread:
        out(
            "  note: Python >= 3.12 runs one cProfile at a time; the main thread's profiler "
            "records every thread's calls, shown as MainThread"
        )
    if profiled.skipped:
        skipped = sorted({re.sub(r"_\d+:", "_*:", s) for s in profiled.skipped})
        out(f"  note: left out of the profile: {skipped}")

    stats = profiled.snapshots[0][1]
    for _name, snapshot in profiled.snapshots[1:]:
        stats.add(snapshot)
    if args.out is not None:
        target = args.out.with_suffix(f".{mode}{args.out.suffix or '.prof'}")
        stats.dump_stats(target)
        out(f"  pstats written to {target}")
    _shorten(stats)
    for sort, title in (("tottime", "tottime"), ("cumulative", "cumtime")):
        out("")
        out(f"--- {mode}: top {args.top} by {title} (all threads, {clock_name} clock) ---")
        _print_table(stats, sort, args.top, out)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    own_tmp = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="tether-profile-")) if own_tmp else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        print(
            f"# profile_turn: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}, workdir {workdir}, "
            f"timer {args.timer}",
            flush=True,
        )
        warm_up(workdir)
        if not args.no_sequential:
            _profile_mode("sequential", args, workdir)
        if args.concurrent:
            _profile_mode("concurrent", args, workdir)
    finally:
        if own_tmp:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
