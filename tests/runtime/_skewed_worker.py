"""Worker process for the takeover-clock test: a machine whose clock is far behind.

Starts a run, prints its id once its second (slow) lookup has started, and is then
SIGKILLed: the run is left ``running`` in the log (its first step committed), its events
stamped on this machine's clock, which runs ``SKEW`` seconds behind (as a worker that
died long before another took over).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from tether import Agent, Runtime, tool
from tether.models import ModelRequest
from tether.policy import Budget, Policy
from tether.testing import ScriptedModel, text, tool_call

SKEW = 1000.0
WALL_BUDGET = 60.0


@tool(retry=None, timeout=3600.0)
async def lookup(q: str) -> str:
    """Look something up: the second lookup hangs on the doomed worker (after its first
    step has landed), and answers at once on the one that takes over."""
    if q == "second" and os.environ.get("TETHER_TEST_DOOMED"):
        await asyncio.sleep(1.0)  # the first step's overlapped commit lands meanwhile
        print("tool started", flush=True)
        await asyncio.sleep(3600)
    return f"found {q}"


def _script(req: ModelRequest) -> Any:
    done = sum(m.role == "tool" for m in req.messages)
    if done >= 2:
        return text("done")
    return tool_call("lookup", q=("first", "second")[done])


agent = Agent(
    name="skewed_takeover",
    model=ScriptedModel(_script),
    tools=[lookup],
    max_turns=4,
    policy=Policy(budget=Budget(max_wall_seconds=WALL_BUDGET)),
)


async def main(store: str) -> None:
    real = time.time
    time.time = lambda: real() - SKEW  # this machine's clock is far behind
    async with Runtime(store, agents=[agent], lease_ttl=1.0, recover=False) as rt:
        run = await rt.start(agent, "check the status")
        print(run.run_id, flush=True)
        await run.result()


if __name__ == "__main__":
    os.environ["TETHER_TEST_DOOMED"] = "1"
    asyncio.run(main(sys.argv[1]))
