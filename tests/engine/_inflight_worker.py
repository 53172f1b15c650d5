"""A worker whose model hangs mid-call, for the in-flight model charge test (SIGKILLed).

``python _inflight_worker.py STORE CALLS MAX_CALLS`` starts a run of :func:`make_agent`,
prints its id and drives it; the model logs each call to ``CALLS`` (what the provider
bills), then hangs. The test kills the process there and recovers the run with the same
agent (same version) built with ``hang=False``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tether import Agent, Runtime
from tether.models import ModelRequest
from tether.policy import Budget, Policy
from tether.testing import ScriptedModel, text


def make_agent(calls: Path, max_calls: int, *, hang: bool) -> Agent:
    """An agent that answers in one model call; each call is a line in ``calls``."""

    async def provider(request: ModelRequest) -> object:
        with calls.open("a") as fh:
            fh.write("call\n")  # billed from here on
        if hang:
            await asyncio.sleep(600)  # killed in here, mid-call
        return text("answer")

    return Agent(
        name="inflight",
        instructions="Answer.",
        model=ScriptedModel(provider),
        policy=Policy(budget=Budget(max_model_calls=max_calls)),
        max_turns=3,
    )


async def _main(store_url: str, calls: Path, max_calls: int) -> None:
    agent = make_agent(calls, max_calls, hang=True)
    async with Runtime(store_url, agents=[agent], lease_ttl=1.0) as rt:
        run = await rt.start(agent, "hi")
        print(run.run_id, flush=True)
        await run.result()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])))
