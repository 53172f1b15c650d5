"""A worker driving one run through an idempotent write that hangs, for the takeover
tests (red team 15, holes 04 and 06).

    python _takeover_worker.py STORE LEASE_TTL [AGENT]

``AGENT``: ``payer`` (default) or ``limited_payer`` (its write is rate-limited to one
call an hour, fleet-wide). Prints the run id once the run exists. The tool appends
"started <key>" to the file ``$TETHER_TEST_MARKS`` when it begins and "effect <key>"
when its effect lands; it waits ``$TETHER_TEST_PAY_SECONDS`` in between (the test kills
this process meanwhile).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tether import Agent, Runtime, ToolContext, tool
from tether.models import ModelRequest
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import RateLimit


def _mark(line: str) -> None:
    with Path(os.environ["TETHER_TEST_MARKS"]).open("a") as fh:
        fh.write(line + "\n")


async def _pay(ctx: ToolContext) -> str:
    _mark(f"started {ctx.idempotency_key}")
    await asyncio.sleep(float(os.environ.get("TETHER_TEST_PAY_SECONDS", "0")))
    _mark(f"effect {ctx.idempotency_key}")
    return "paid"


@tool(effect="write", idempotent=True, retry=None, timeout=300)
async def pay(order: str, ctx: ToolContext) -> str:
    """Pay an order (idempotent: re-issued under the same key after a crash)."""
    return await _pay(ctx)


def _plan(req: ModelRequest) -> Any:
    done = any(m.role == "tool" for m in req.messages)
    return text("done") if done else tool_call("pay", order="o1")


payer = Agent(name="payer", model=ScriptedModel(_plan), tools=[pay], max_turns=4)


@tool(
    name="pay",
    effect="write",
    idempotent=True,
    retry=None,
    timeout=300,
    rate_limit=RateLimit(calls=1, per=3600, burst=1),
)
async def limited_pay(order: str, ctx: ToolContext) -> str:
    """Pay an order (idempotent), at most once an hour across the fleet."""
    return await _pay(ctx)


limited_payer = Agent(
    name="limited_payer", model=ScriptedModel(_plan), tools=[limited_pay], max_turns=4
)
AGENTS = {"payer": payer, "limited_payer": limited_payer}


LEASE_TTL = 4.0  # long enough that the cancel below finds the dead worker's lease live


def marks_of(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def kill_mid_write(store: str, marks: Path, agent: str = "payer") -> str:
    """Start the run in a child worker, SIGKILL it inside the write; the run's id."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "TETHER_TEST_MARKS": str(marks),
        "TETHER_TEST_PAY_SECONDS": "300",  # the write hangs until the worker is killed
    }
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__)), store, str(LEASE_TTL), agent],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        run_id = str(json.loads(child.stdout.readline())["run_id"])
        deadline = time.monotonic() + 60  # bounds a hung test only
        while not any(m.startswith("started") for m in marks_of(marks)):
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    return run_id


async def main(store: str, lease_ttl: float, agent: Agent) -> None:
    async with Runtime(store, agents=[agent], lease_ttl=lease_ttl, recover=False) as rt:
        run = await rt.start(agent, "pay order o1")
        print(json.dumps({"run_id": run.run_id}), flush=True)
        await run.result(timeout=300)


if __name__ == "__main__":
    chosen = AGENTS[sys.argv[3] if len(sys.argv) > 3 else "payer"]
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), chosen))
