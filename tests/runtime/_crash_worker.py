"""Worker process for the crash tests: starts a run and drives it until it is killed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from crash_agent import make_agent

from tether import Runtime


async def main(store: str, ledger: str, idempotent: bool) -> None:
    agent = make_agent(Path(ledger), idempotent=idempotent)
    async with Runtime(store, agents=[agent], lease_ttl=1.0, recover=False) as rt:
        run = await rt.start(agent, "pay")
        print(run.run_id, flush=True)
        await run.result()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] == "idempotent"))
