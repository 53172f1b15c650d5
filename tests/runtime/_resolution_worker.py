"""A worker for ``test_write_resolutions.py``: a biller whose provider reuses one call id.

``crash_before N`` exits the process (``os._exit``) inside the tool just before charge N
takes effect; ``crash_after N`` right after it. The ledger file records each charge that
happened. Usage: ``_resolution_worker.py STORE LEDGER MODE N [RUN_ID] [RESOLUTION_JSON]``;
prints the run id first.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from tether import Agent, Runtime, ToolContext, tool
from tether.models import ModelRequest, ModelResponse, ToolCall
from tether.testing import ScriptedModel, text

CHARGES = 2


def make_agent(ledger: Path, mode: str = "", at: int = 0) -> Agent:
    @tool(effect="write", idempotent=False, retry=None)
    def charge(n: int, ctx: ToolContext) -> str:
        """Charge the customer (a countable side effect)."""
        if mode == "crash_before" and n == at:
            os._exit(9)
        with ledger.open("a") as fh:
            fh.write(f"{n}\n")
        if mode == "crash_after" and n == at:
            os._exit(9)
        return f"charged {n}"

    def script(request: ModelRequest) -> Any:
        done = sum(m.role == "tool" for m in request.messages)
        if done >= CHARGES:
            return text("all charged")
        # The same provider id every turn, as servers that send none get from an adapter.
        return ModelResponse(
            tool_calls=[ToolCall(id="call_0", name="charge", arguments={"n": done + 1})],
            finish_reason="tool_calls",
        )

    return Agent(name="biller", model=ScriptedModel(script), tools=[charge], max_turns=6)


async def main(store: str, ledger: str, mode: str, at: int, run_id: str, resolution: str) -> None:
    agent = make_agent(Path(ledger), mode, at)
    async with Runtime(store, agents=[agent], lease_ttl=0.5, recover=False) as rt:
        if not run_id:
            run = await rt.start(agent, "charge twice")
            print(run.run_id, flush=True)
        else:
            print(run_id, flush=True)
            await rt.signal(run_id, "resolve_write", json.loads(resolution), by="ops")
            run = rt.get(run_id)
        await run.result(timeout=30)


if __name__ == "__main__":
    args = [*sys.argv[1:], "", ""]
    asyncio.run(main(args[0], args[1], args[2], int(args[3]), args[4], args[5]))
