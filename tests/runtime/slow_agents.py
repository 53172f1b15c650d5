"""Agents whose runs stay executing while a fleet test looks at the leases.

Each run's first step calls a read tool that sleeps for minutes, so the runs a worker
claims are still executing (leased) when the test counts them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tether import Agent, tool
from tether.models import ModelRequest
from tether.testing import ScriptedModel, text, tool_call


@tool(retry=None, timeout=600)
async def work(n: int) -> str:
    """A slow read (the runs claimed stay executing while the test looks)."""
    await asyncio.sleep(300)
    return "ok"


def _plan(req: ModelRequest) -> Any:
    return text("done") if any(m.role == "tool" for m in req.messages) else tool_call("work", n=1)


def slow_agent(name: str) -> Agent:
    """An agent named ``name`` whose runs sit in a slow tool call."""
    return Agent(name=name, model=ScriptedModel(_plan), tools=[work], max_turns=4)
