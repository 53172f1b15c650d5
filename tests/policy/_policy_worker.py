"""Worker process for cross-process policy tests (approvals, kill switch)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from tether import Agent, Runtime, tool
from tether.engine import PolicyDecided, ToolCompleted, ToolFailed
from tether.models import ModelRequest
from tether.policy import Policy
from tether.testing import ScriptedModel, text, tool_call


@tool(effect="write", idempotent=True, requires_approval=lambda args: args["amount_cents"] > 5000)
def refund_order(order_id: str, amount_cents: int) -> str:
    """Refund an order (appends to a ledger file: a countable side effect)."""
    with Path(os.environ["TETHER_TEST_LEDGER"]).open("a") as fh:
        fh.write(f"{order_id} {amount_cents}\n")
    return f"refunded {amount_cents}"


def script(req: ModelRequest) -> Any:
    if req.messages[-1].role == "tool":
        return text(f"result: {req.messages[-1].content}")
    amount = int(str(req.messages[0].content).split()[-1])
    return tool_call("refund_order", order_id="1234", amount_cents=amount)


def make_agent() -> Agent:
    """The same agent in every process (same version)."""
    return Agent(
        name="refunder", model=ScriptedModel(script), tools=[refund_order], policy=Policy()
    )


async def start_and_exit(store: str, amount: int) -> None:
    """Start a run, let it park for approval, print its id and exit."""
    async with Runtime(store, agents=[make_agent()]) as rt:
        run = await rt.start(make_agent(), f"refund {amount}")
        result = await run.result(timeout=30)
        print(json.dumps({"run_id": run.run_id, "status": result.status}), flush=True)


async def write_when_told(store: str, go_file: str) -> None:
    """Wait for a go file, then run one write and report how it went."""
    async with Runtime(store, agents=[make_agent()]) as rt:
        print("ready", flush=True)
        deadline = time.monotonic() + 30
        # Another process creates the file: polling is the simplest cross-process signal.
        while not await asyncio.to_thread(Path(go_file).exists):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
        run = await rt.start(make_agent(), "refund 100")
        await run.result(timeout=30)
        events = [e.event async for e in run.events(follow=False)]
        report = {
            "completed": [e.tool for e in events if isinstance(e, ToolCompleted)],
            "failed": [e.error.error_code for e in events if isinstance(e, ToolFailed)],
            "sources": [e.source for e in events if isinstance(e, PolicyDecided)],
        }
        print(json.dumps(report), flush=True)


if __name__ == "__main__":
    mode, store = sys.argv[1], sys.argv[2]
    os.environ["TETHER_TEST_LEDGER"] = sys.argv[3]
    if mode == "start":
        asyncio.run(start_and_exit(store, int(sys.argv[4])))
    else:
        asyncio.run(write_when_told(store, sys.argv[4]))
