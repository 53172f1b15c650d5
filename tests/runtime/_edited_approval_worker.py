"""A worker for ``test_edited_approval_crash.py``: an approver edits a refund, then the
process dies right after the refund took effect (``os._exit``, before ``tool.completed``).

Usage: ``_edited_approval_worker.py STORE LEDGER RUN_ID APPROVAL_ID``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from tether import Agent, Runtime, ToolContext, tool
from tether.models import ModelRequest
from tether.testing import ScriptedModel, text, tool_call


def make_agent(ledger: Path, *, crash: bool = False) -> Agent:
    @tool(effect="write", idempotent=True, requires_approval=True, retry=None)
    def refund(order_id: str, amount_cents: int, ctx: ToolContext) -> str:
        """Refund an order; honours the idempotency key."""
        lines = ledger.read_text().splitlines() if ledger.exists() else []
        if not any(line.endswith(ctx.idempotency_key) for line in lines):
            with ledger.open("a") as fh:
                fh.write(f"{amount_cents} {ctx.idempotency_key}\n")
        if crash:
            os._exit(9)
        return f"refunded {amount_cents}"

    def script(request: ModelRequest) -> Any:
        if len(request.messages) == 1:
            return tool_call("refund", order_id="1", amount_cents=9000)
        return text(f"result: {request.messages[-1].content}")

    return Agent(name="refunder", model=ScriptedModel(script), tools=[refund])


async def main(store: str, ledger: str, run_id: str, approval_id: str) -> None:
    agent = make_agent(Path(ledger), crash=True)
    async with Runtime(store, agents=[agent], lease_ttl=0.5, recover=False) as rt:
        edit = {"order_id": "1", "amount_cents": 5000}
        await rt.approve(run_id, approval_id, by="ana", arguments=edit)
        await rt.get(run_id).result(timeout=30)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
