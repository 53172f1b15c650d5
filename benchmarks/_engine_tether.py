"""Tether side of ``benchmarks/engine.py``: the ReAct agent on a fresh SQLite store."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _engine_common import (
    FINAL_ANSWER,
    INSTRUCTIONS,
    TOOL_DESCRIPTION,
    USER_INPUT,
    Budget,
    Stopwatch,
    file_bytes,
    query_one,
    remove_db,
    result_row,
    table_bytes,
    tool_result,
    turn_query,
)

from tether import Agent, Runtime, tool
from tether.testing import ScriptedModel, text, tool_call

Progress = Callable[[int], None]


class _NoRecord(list):  # type: ignore[type-arg]
    """Stands in for ``ScriptedModel.requests``: the test double's log of every request.

    That log keeps every request (and its message list) alive for the life of the
    model, which is a testing aid, not runtime cost; a real model client keeps nothing.
    """

    def append(self, item: Any) -> None:
        pass


@tool(description=TOOL_DESCRIPTION)
async def lookup(q: str) -> str:
    """Look up one fact by query."""
    return tool_result(q)


def make_agent(n: int) -> Agent:
    final = text(FINAL_ANSWER)

    def script(request: Any) -> Any:
        # messages = [user, (assistant, tool) * turns]: O(1) from the length.
        turns = (len(request.messages) - 1) // 2
        if turns >= n:
            return final
        return tool_call("lookup", q=turn_query(turns))

    model = ScriptedModel(script)
    model.requests = _NoRecord()
    return Agent(
        name="bench",
        instructions=INSTRUCTIONS,
        model=model,
        tools=[lookup],
        max_turns=n + 5,
    )


def _check(result: Any, n: int) -> None:
    if result.status != "completed" or result.output != FINAL_ANSWER:
        raise RuntimeError(f"tether run {result.run_id} ended {result.status}: {result.error}")
    if result.usage.tool_calls != n:
        raise RuntimeError(f"tether run made {result.usage.tool_calls} tool calls, expected {n}")


async def _open_close(url: str, durability: str) -> None:
    async with Runtime(url, durability=durability, recover=False):  # type: ignore[arg-type]
        pass


def _commits(rt: Runtime) -> int:
    """Transactions the SQLite store committed so far (it counts them)."""
    return int(getattr(rt.store, "commit_count", 0))


async def _sequential(
    url: str,
    durability: str,
    agent: Agent,
    n: int,
    budget: Budget,
    progress: Progress,
    commits: list[int],
) -> tuple[int, Stopwatch]:
    async with Runtime(url, durability=durability, recover=False) as rt:  # type: ignore[arg-type]
        runs = 0
        before = _commits(rt)
        clock = Stopwatch()
        while True:
            handle = await rt.start(agent, USER_INPUT)
            _check(await handle.result(), n)
            runs += 1
            progress(1)
            if budget.sequential_done(clock.elapsed(), runs, runs * n):
                break
        clock.stop()
        commits.append(_commits(rt) - before)
    return runs, clock


async def _concurrent(
    url: str,
    durability: str,
    agent: Agent,
    n: int,
    runs: int,
    progress: Progress,
    commits: list[int],
) -> tuple[int, Stopwatch]:
    async with Runtime(url, durability=durability, recover=False) as rt:  # type: ignore[arg-type]
        before = _commits(rt)

        async def one() -> None:
            handle = await rt.start(agent, USER_INPUT)
            _check(await handle.result(), n)
            progress(1)

        clock = Stopwatch()
        await asyncio.gather(*(one() for _ in range(runs)))
        clock.stop()
        commits.append(_commits(rt) - before)
    return runs, clock


def warm_up(workdir: Path) -> None:
    """Build pydantic validators and import everything once, outside any measurement."""
    path = workdir / "tether_warmup.db"
    remove_db(path)
    agent = make_agent(5)

    async def go(rt: Runtime) -> None:
        _check(await (await rt.start(agent, USER_INPUT)).result(), 5)

    async def main() -> None:
        async with Runtime(f"sqlite:///{path}", durability="NORMAL", recover=False) as rt:
            for _ in range(3):
                await go(rt)
            await asyncio.gather(*(go(rt) for _ in range(20)))

    asyncio.run(main())
    remove_db(path)


def run_config(
    *,
    mode: str,
    n: int,
    durability: str,
    budget: Budget,
    workdir: Path,
    progress: Progress,
) -> dict[str, Any]:
    path = workdir / f"tether_{mode}_{n}_{durability}.db"
    remove_db(path)
    url = f"sqlite:///{path}"
    # Schema only: the baseline the growth is measured from.
    asyncio.run(_open_close(url, durability))
    baseline = file_bytes(path)
    agent = make_agent(n)
    gc.collect()
    commits: list[int] = []
    if mode == "sequential":
        runs, clock = asyncio.run(_sequential(url, durability, agent, n, budget, progress, commits))
    else:
        runs, clock = asyncio.run(
            _concurrent(url, durability, agent, n, budget.tether_concurrent_runs, progress, commits)
        )
    total = file_bytes(path)
    tables = table_bytes(path)
    # The raw JSON the engine wrote: the data column keeps it without the head the type
    # column implies (`{"v":1,"type":"...",`), which is added back here.
    events, raw = query_one(
        path,
        "SELECT COUNT(*), COALESCE(SUM(LENGTH(data) + CASE WHEN substr(data, 1, 1) = X'7B' "
        'THEN 0 ELSE LENGTH(\'{"v":1,"type":"\' || type || \'",\') END), 0) FROM events',
    )
    stored_runs = query_one(path, "SELECT COUNT(*) FROM runs")[0]
    blob_bytes = query_one(path, "SELECT COALESCE(SUM(LENGTH(data)), 0) FROM blobs")[0]
    turns = runs * n
    events_table = tables.get("events")
    extra: dict[str, Any] = {
        "store": {
            "engine": "tether SQLiteStore (WAL, group commit, COMMIT in a writer thread)",
            "synchronous": durability,
            # Steps with no effect outside the process commit overlapped with the next
            # ones (at most 16 queued behind the commit in flight), so a commit may carry
            # several turns: turns per commit says how many, on average.
            "commits": commits[0],
            "turns_per_commit": round(turns / commits[0], 2) if commits[0] else None,
            "file_bytes_after_wal_checkpoint": total,
            "baseline_schema_bytes": baseline,
            "events": events,
            "events_per_turn": round(events / turns, 3),
            "runs_stored": stored_runs,
            "prefix_blob_bytes": blob_bytes,
            "bytes_by_table": tables,
        },
        # The event log alone: no prefix blob, no run rows, no run indexes.
        "events_table_bytes_per_turn": (
            round(events_table / turns, 1) if events_table is not None else None
        ),
        "events_table_ratio": (
            round(events_table / raw, 3) if events_table is not None and raw else None
        ),
    }
    return result_row(
        system="tether",
        mode=mode,
        runs=runs,
        n=n,
        durability=durability,
        seconds=clock.wall,
        cpu_seconds=clock.cpu,
        store_bytes=total - baseline,
        raw_bytes=int(raw),
        extra=extra,
    )
