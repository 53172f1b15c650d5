"""An agent whose write tool appends to a file: the side-effect counter of the crash tests.

Used both by the worker subprocess that gets SIGKILLed and by the test process
that recovers the run, so both build the same agent version.
"""

from __future__ import annotations

import time
from pathlib import Path

from tether import Agent, ToolContext, tool
from tether.models._types import ModelRequest
from tether.testing import ScriptedModel, text, tool_call

PAYMENTS = 6
SLOW_AFTER_EFFECT = 0.6  # seconds between the side effect and the tool returning


def make_agent(ledger: Path, *, idempotent: bool) -> Agent:
    """A ReAct agent that makes PAYMENTS write calls, one per turn, then answers."""

    @tool(effect="write", idempotent=idempotent, retry=None)
    def record_payment(n: int, ctx: ToolContext) -> str:
        """Append payment ``n`` to the ledger file (a real, countable side effect)."""
        lines = ledger.read_text().splitlines() if ledger.exists() else []
        if idempotent and any(line.endswith(ctx.idempotency_key) for line in lines):
            return f"payment {n} already recorded"  # honours the idempotency key
        with ledger.open("a") as fh:
            fh.write(f"{n} {ctx.idempotency_key}\n")
            fh.flush()
        time.sleep(SLOW_AFTER_EFFECT)  # the window where a crash leaves the write uncertain
        return f"payment {n} recorded"

    def script(request: ModelRequest) -> object:
        done = sum(m.role == "tool" for m in request.messages)
        if done >= PAYMENTS:
            return text(f"recorded {done} payments")
        return tool_call("record_payment", n=done)

    return Agent(
        name="payer",
        instructions="Record the payments.",
        model=ScriptedModel(script),
        tools=[record_payment],
        max_turns=PAYMENTS + 3,
    )
