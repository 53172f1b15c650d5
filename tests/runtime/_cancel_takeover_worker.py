"""A worker driving one run through an idempotent write that hangs, for the takeover
cancel test (red team 15, hole 06).

    python _cancel_takeover_worker.py STORE LEASE_TTL

Prints the run id once the run exists. The tool appends "started <key>" to the file
``$TETHER_TEST_MARKS`` when it begins and "effect <key>" when its effect lands; it waits
``$TETHER_TEST_PAY_SECONDS`` in between (the test kills this process meanwhile).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from tether import Agent, Runtime, ToolContext, tool
from tether.models import ModelRequest
from tether.testing import ScriptedModel, text, tool_call


def _mark(line: str) -> None:
    with Path(os.environ["TETHER_TEST_MARKS"]).open("a") as fh:
        fh.write(line + "\n")


@tool(effect="write", idempotent=True, retry=None, timeout=300)
async def pay(order: str, ctx: ToolContext) -> str:
    """Pay an order (idempotent: re-issued under the same key after a crash)."""
    _mark(f"started {ctx.idempotency_key}")
    await asyncio.sleep(float(os.environ.get("TETHER_TEST_PAY_SECONDS", "0")))
    _mark(f"effect {ctx.idempotency_key}")
    return "paid"


def _plan(req: ModelRequest) -> Any:
    done = any(m.role == "tool" for m in req.messages)
    return text("done") if done else tool_call("pay", order="o1")


payer = Agent(name="payer", model=ScriptedModel(_plan), tools=[pay], max_turns=4)


async def main(store: str, lease_ttl: float) -> None:
    async with Runtime(store, agents=[payer], lease_ttl=lease_ttl, recover=False) as rt:
        run = await rt.start(payer, "pay order o1")
        print(json.dumps({"run_id": run.run_id}), flush=True)
        await run.result(timeout=300)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
