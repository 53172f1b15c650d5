"""A worker whose read tool (or model) hangs mid-call, for the in-flight tool charge tests.

``python _inflight_tool_worker.py STORE LOGS CONFIG`` starts a run of :func:`make_agent`
(``CONFIG``: its JSON), prints the run's id and drives it until the test SIGKILLs it. The
tool writes a line to ``LOGS/tool.log`` each time it runs (what the budget must count),
the model one to ``LOGS/model.log`` each time it is called. With ``hang: "tool"`` every
tool call hangs once it has logged; with ``hang: "model"`` the model call after the
first hangs. The test takes the run over with the same agent built with ``hang=None``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from tether import Agent, Runtime, tool
from tether.models import ModelRequest, ToolCall
from tether.policy import Budget, Policy
from tether.testing import ScriptedModel, text, tool_call


def make_agent(
    logs: Path,
    *,
    plan: list[list[str]],
    budget: dict[str, Any] | None,
    hang: str | None = None,
) -> Agent:
    """An agent that asks for the lookups of ``plan``, one batch per turn, then answers.

    The batch of a turn is ``plan[turns so far]``; the answer is ``"answer"`` once every
    batch was asked for (or, with a refused call in the conversation, at once).
    """

    @tool
    async def lookup(q: str) -> str:
        """Look ``q`` up."""
        with (logs / "tool.log").open("a") as fh:
            fh.write(f"{q}\n")  # it ran from here on (a read: nothing recorded before)
        if hang == "tool":
            await asyncio.sleep(600)  # killed in here, mid-call
        return f"found {q}"

    async def provider(request: ModelRequest) -> object:
        with (logs / "model.log").open("a") as fh:
            fh.write("call\n")
        turns = sum(m.role == "assistant" for m in request.messages)
        if hang == "model" and turns > 0:
            await asyncio.sleep(600)  # killed in here, mid-call
        refused = any(
            m.role == "tool" and "tool_call_limit" in (m.content or "") for m in request.messages
        )
        if turns >= len(plan) or refused:
            return text("answer")
        batch: list[ToolCall] = [tool_call("lookup", q=q) for q in plan[turns]]
        return batch

    return Agent(
        name="inflight-tools",
        instructions="Look things up.",
        model=ScriptedModel(provider),
        tools=[lookup],
        policy=Policy(budget=Budget(**budget) if budget is not None else None),
        max_turns=100,
    )


async def _main(store_url: str, logs: Path, config: dict[str, Any]) -> None:
    agent = make_agent(logs, plan=config["plan"], budget=config["budget"], hang=config["hang"])
    async with Runtime(store_url, agents=[agent], lease_ttl=1.0) as rt:
        run = await rt.start(agent, "hi")
        print(run.run_id, flush=True)
        await run.result()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])))
