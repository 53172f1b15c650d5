"""LangGraph side of ``benchmarks/engine.py``: the same workload with its SQLite checkpointers.

``langgraph.prebuilt.create_react_agent`` with a zero-latency fake chat model that
emits the same tool calls (decided from the message count), the same 2 KB system
prompt and the same tool. One run at a time uses the sync ``SqliteSaver`` and
``invoke``; concurrent runs use ``AsyncSqliteSaver`` (aiosqlite) and ``ainvoke``
under ``asyncio.gather``, one ``thread_id`` per run. The connection's
``synchronous`` pragma is set to the configuration's durability; the saver puts
the database in WAL mode itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.metadata
import sqlite3
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _engine_common import (
    FINAL_ANSWER,
    INSTRUCTIONS,
    TOOL_DESCRIPTION,
    TOOL_NAME,
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

warnings.filterwarnings("ignore", module=r"langgraph.*")
warnings.filterwarnings("ignore", module=r"langchain_core.*")
warnings.filterwarnings("ignore", message=r".*create_react_agent.*")

import aiosqlite  # noqa: E402
from langchain_core.language_models.chat_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402
from langchain_core.tools import StructuredTool  # noqa: E402
from langgraph.checkpoint.sqlite import SqliteSaver  # noqa: E402
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langgraph.prebuilt import create_react_agent

Progress = Callable[[int], None]
PACKAGES = (
    "langgraph",
    "langgraph-prebuilt",
    "langgraph-checkpoint",
    "langgraph-checkpoint-sqlite",
    "langchain-core",
    "aiosqlite",
)


def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[name] = importlib.metadata.version(name)
    return out


def _lookup(q: str) -> str:
    return tool_result(q)


async def _alookup(q: str) -> str:
    return tool_result(q)


LOOKUP = StructuredTool.from_function(
    func=_lookup, coroutine=_alookup, name=TOOL_NAME, description=TOOL_DESCRIPTION
)


class FakeToolModel(BaseChatModel):
    """Zero-latency chat model: N tool calls, then the final answer, from the message count."""

    n: int

    @property
    def _llm_type(self) -> str:
        return "bench-fake"

    def _reply(self, messages: list[BaseMessage]) -> ChatResult:
        # messages = [system, human, (ai, tool) * turns]
        turns = (len(messages) - 2) // 2
        if turns >= self.n:
            message = AIMessage(content=FINAL_ANSWER)
        else:
            message = AIMessage(
                content="",
                tool_calls=[
                    {
                        "name": TOOL_NAME,
                        "args": {"q": turn_query(turns)},
                        "id": f"call_{turns}_0",
                        "type": "tool_call",
                    }
                ],
            )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        return self._reply(messages)

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        return self._reply(messages)

    def bind_tools(self, tools: Any, **kwargs: Any) -> FakeToolModel:
        return self


def make_graph(n: int, checkpointer: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return create_react_agent(
            FakeToolModel(n=n), [LOOKUP], prompt=INSTRUCTIONS, checkpointer=checkpointer
        )


def _config(thread: str, n: int) -> dict[str, Any]:
    # Two supersteps per turn (agent, tools) plus the final agent step.
    return {"configurable": {"thread_id": thread}, "recursion_limit": 2 * n + 10}


def _check(out: dict[str, Any], n: int) -> None:
    messages = out["messages"]
    if messages[-1].content != FINAL_ANSWER or len(messages) != 2 * n + 2:
        raise RuntimeError(
            f"langgraph run ended with {len(messages)} messages, last {messages[-1].content!r}"
        )


def _sync_conn(path: Path, durability: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute(f"PRAGMA synchronous={durability}")
    return conn


def _pragmas(conn: sqlite3.Connection) -> dict[str, Any]:
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return {
        "journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
        "synchronous": names.get(conn.execute("PRAGMA synchronous").fetchone()[0], "?"),
    }


def _sequential(
    path: Path, durability: str, n: int, budget: Budget, lg_durability: str, progress: Progress
) -> tuple[int, Stopwatch, dict[str, Any]]:
    conn = _sync_conn(path, durability)
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        pragmas = _pragmas(conn)
        graph = make_graph(n, saver)
        runs = 0
        gc.collect()
        clock = Stopwatch()
        while True:
            out = graph.invoke(
                {"messages": [("user", USER_INPUT)]},
                _config(f"seq-{runs}", n),
                durability=lg_durability,
            )
            _check(out, n)
            runs += 1
            progress(1)
            if budget.sequential_done(clock.elapsed(), runs, runs * n):
                break
        clock.stop()
    finally:
        conn.close()
    return runs, clock, pragmas


async def _concurrent(
    path: Path, durability: str, n: int, runs: int, lg_durability: str, progress: Progress
) -> tuple[int, Stopwatch, dict[str, Any]]:
    async with aiosqlite.connect(path) as conn:
        await conn.execute(f"PRAGMA synchronous={durability}")
        saver = AsyncSqliteSaver(conn)
        await saver.setup()
        names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
        async with conn.execute("PRAGMA synchronous") as cur:
            sync = names.get((await cur.fetchone())[0], "?")  # type: ignore[index]
        async with conn.execute("PRAGMA journal_mode") as cur:
            journal = (await cur.fetchone())[0]  # type: ignore[index]
        graph = make_graph(n, saver)

        async def one(i: int) -> None:
            out = await graph.ainvoke(
                {"messages": [("user", USER_INPUT)]},
                _config(f"conc-{i}", n),
                durability=lg_durability,
            )
            _check(out, n)
            progress(1)

        gc.collect()
        clock = Stopwatch()
        await asyncio.gather(*(one(i) for i in range(runs)))
        clock.stop()
    return runs, clock, {"journal_mode": journal, "synchronous": sync}


def warm_up(workdir: Path) -> None:
    """Compile graphs and exercise both checkpointers once, outside any measurement."""
    path = workdir / "langgraph_warmup.db"
    remove_db(path)
    conn = _sync_conn(path, "NORMAL")
    saver = SqliteSaver(conn)
    graph = make_graph(5, saver)
    for i in range(3):
        out = graph.invoke(
            {"messages": [("user", USER_INPUT)]}, _config(f"w{i}", 5), durability="sync"
        )
        _check(out, 5)
    conn.close()
    asyncio.run(_concurrent(path, "NORMAL", 5, 20, "sync", lambda _: None))
    remove_db(path)


def run_config(
    *,
    mode: str,
    n: int,
    durability: str,
    budget: Budget,
    workdir: Path,
    progress: Progress,
    lg_durability: str,
) -> dict[str, Any]:
    path = workdir / f"langgraph_{mode}_{n}_{durability}.db"
    remove_db(path)
    conn = _sync_conn(path, durability)
    SqliteSaver(conn).setup()
    conn.commit()
    conn.close()
    baseline = file_bytes(path)
    if mode == "sequential":
        runs, clock, pragmas = _sequential(path, durability, n, budget, lg_durability, progress)
        saver_name = "SqliteSaver (sync sqlite3 connection), graph.invoke"
    else:
        runs, clock, pragmas = asyncio.run(
            _concurrent(path, durability, n, budget.lg_concurrent(n), lg_durability, progress)
        )
        saver_name = "AsyncSqliteSaver (aiosqlite), asyncio.gather over graph.ainvoke"
    total = file_bytes(path)
    tables = table_bytes(path)
    checkpoints, ckpt_bytes, meta_bytes = query_one(
        path,
        "SELECT COUNT(*), COALESCE(SUM(LENGTH(checkpoint)), 0), COALESCE(SUM(LENGTH(metadata)), 0) "
        "FROM checkpoints",
    )
    writes, write_bytes = query_one(
        path, "SELECT COUNT(*), COALESCE(SUM(LENGTH(value)), 0) FROM writes"
    )
    raw = int(ckpt_bytes) + int(meta_bytes) + int(write_bytes)
    extra: dict[str, Any] = {
        "store": {
            "engine": saver_name,
            "graph": "langgraph.prebuilt.create_react_agent",
            "invoke_durability": lg_durability,
            "sqlite_pragmas": pragmas,
            "file_bytes_after_wal_checkpoint": total,
            "baseline_schema_bytes": baseline,
            "checkpoints": checkpoints,
            "checkpoint_blob_bytes": int(ckpt_bytes),
            "checkpoint_metadata_bytes": int(meta_bytes),
            "writes": writes,
            "write_value_bytes": int(write_bytes),
            "bytes_by_table": tables,
        },
        "raw_bytes_note": (
            "raw_event_json_bytes_per_turn is LangGraph's serialized payload: checkpoint blobs "
            "(msgpack) + metadata (JSON) + pending-write values (msgpack)"
        ),
    }
    return result_row(
        system="langgraph",
        mode=mode,
        runs=runs,
        n=n,
        durability=durability,
        seconds=clock.wall,
        cpu_seconds=clock.cpu,
        store_bytes=total - baseline,
        raw_bytes=raw,
        extra=extra,
    )
