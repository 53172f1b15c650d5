"""A worker whose model hangs mid-call, for the in-flight model charge test (SIGKILLed).

``python _inflight_worker.py STORE CALLS MAX_CALLS MODE`` starts a run of
:func:`make_agent`, prints its id and drives it; the model logs each call to ``CALLS``
(what the provider bills). In mode ``hang`` it then hangs, and the test kills the
process there; in mode ``loop`` it answers at once, asking for a tool every time, and
the test kills it after a number of calls. The test recovers the run with the same agent
(same version) built with ``hang=False``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tether import Agent, Runtime, tool
from tether.models import ModelRequest
from tether.policy import Budget, Policy
from tether.testing import ScriptedModel, text, tool_call


@tool
def lookup(q: str) -> str:
    """Look ``q`` up."""
    return "nothing yet"


def make_agent(calls: Path, max_calls: int, *, hang: bool, loop: bool = False) -> Agent:
    """An agent whose every model call is a line in ``calls``: it answers at once, or
    (``loop``) asks for a lookup every time and never answers."""

    async def provider(request: ModelRequest) -> object:
        with calls.open("a") as fh:
            fh.write("call\n")  # billed from here on
        if hang:
            await asyncio.sleep(600)  # killed in here, mid-call
        if loop:
            return tool_call("lookup", q=str(len(request.messages)))
        return text("answer")

    return Agent(
        name="looper" if loop else "inflight",
        instructions="Answer.",
        model=ScriptedModel(provider),
        tools=[lookup] if loop else [],
        policy=Policy(budget=Budget(max_model_calls=max_calls)),
        max_turns=10_000,
    )


async def _main(store_url: str, calls: Path, max_calls: int, mode: str) -> None:
    agent = make_agent(calls, max_calls, hang=mode == "hang", loop=mode == "loop")
    async with Runtime(store_url, agents=[agent], lease_ttl=1.0) as rt:
        run = await rt.start(agent, "hi")
        print(run.run_id, flush=True)
        await run.result()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
