"""Worker for the cancel test: drives a run whose async tool would take a minute.

    python _cancel_worker.py STORE MARKS

Prints the run id, then the result. The tool writes "started" to MARKS, and
"interrupted" when it is cancelled mid-await.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tether import Agent, Runtime, tool
from tether.testing import ScriptedModel, text, tool_call

MARKS = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("marks.txt")


@tool(timeout=300)
async def crawl(site: str) -> str:
    """Crawl a site (slowly)."""
    with MARKS.open("a") as fh:
        fh.write("started\n")
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        with MARKS.open("a") as fh:
            fh.write("interrupted\n")
        raise
    return "crawled"


async def main(store: str) -> None:
    agent = Agent(
        name="crawler",
        model=ScriptedModel([tool_call("crawl", site="x"), text("done")]),
        tools=[crawl],
    )
    async with Runtime(store, agents=[agent], recover=False) as rt:
        run = await rt.start(agent, "crawl x")
        print(json.dumps({"run_id": run.run_id}), flush=True)
        result = await run.result(timeout=120)
        error = result.error.model_dump(mode="json") if result.error else None
        print(json.dumps({"status": result.status, "error": error}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
