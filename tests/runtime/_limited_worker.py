"""Worker process for the shared rate-limit tests: one runtime on a store other processes share.

Modes:
    model STORE LEDGER
        serve ``paced`` (one model call per run, limited fleet-wide by ``MODEL_LIMITS``)
        until stdin closes; every model call appends ``PID TIME`` to LEDGER. Prints
        ``ready OWNER`` once the runtime is open.
    tool STORE RUNS
        start RUNS runs of ``searcher`` (one call of a tool limited fleet-wide to
        ``TOOL_LIMIT``) at once, drive them, and print the outcome of each call as JSON:
        ``"ok"`` or the tool error's code.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from tether import Agent, Runtime, tool
from tether.engine import ToolCompleted, ToolFailed
from tether.models import ModelRequest
from tether.runtime import ModelLimit
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import RateLimit

RATE = 5.0
"""Model calls per second allowed across every worker."""
BURST = 3.0
MODEL_LIMITS = {"scripted": ModelLimit(requests_per_minute=RATE * 60, requests_burst=BURST)}

TOOL_LIMIT = RateLimit(calls=2, per=3600)
"""Two calls per hour for the whole fleet: a test's runs see the burst and no refill."""


def _record_call(req: ModelRequest) -> Any:
    # One write(2) of a short line to an O_APPEND file: lines from several processes
    # never interleave.
    line = f"{os.getpid()} {time.time():.6f}\n".encode()
    fd = os.open(os.environ["TETHER_TEST_LEDGER"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return text("done")


paced = Agent(name="paced", model=ScriptedModel(_record_call), max_turns=2)


@tool(rate_limit=TOOL_LIMIT)
def search(query: str) -> str:
    """Search something behind a rate-limited API."""
    return f"results for {query}"


def _search_once(req: ModelRequest) -> Any:
    if req.messages[-1].role == "tool":
        return text("done")
    return tool_call("search", query="x")


searcher = Agent(
    name="searcher",
    model=ScriptedModel(_search_once),
    tools=[search],
    max_turns=3,
)


async def serve(store: str) -> None:
    async with Runtime(
        store, agents=[paced], model_limits=MODEL_LIMITS, concurrency=4, lease_ttl=5.0
    ) as rt:
        print(f"ready {rt.owner}", flush=True)
        await asyncio.to_thread(sys.stdin.read)  # the test closes our stdin to stop us


async def search_runs(store: str, runs: int) -> None:
    async with Runtime(store, agents=[searcher]) as rt:
        handles = [await rt.start(searcher, f"search {i}") for i in range(runs)]
        outcomes: list[str] = []
        for handle in handles:
            assert (await handle.result(timeout=60)).status == "completed"
            async for stored in rt.get(handle.run_id).events(follow=False):
                event = stored.event
                if isinstance(event, ToolCompleted):
                    outcomes.append("ok")
                elif isinstance(event, ToolFailed):
                    outcomes.append(event.error.error_code)
    print(json.dumps(outcomes), flush=True)


def main() -> None:
    mode, store, *rest = sys.argv[1:]
    if mode == "model":
        os.environ["TETHER_TEST_LEDGER"] = rest[0]
        asyncio.run(serve(store))
    elif mode == "tool":
        asyncio.run(search_runs(store, int(rest[0])))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
