"""Worker for the lease test: drives a long run and, mid-flight, sends it refused operations.

    python _refused_worker.py STORE LEDGER TTL

A typo'd approval id, a deny, an ``input`` signal and a ``resume`` all reach the run
while this process drives it. Each must be refused without releasing the lease; the
worker prints the error type of each, then the run's result, as JSON lines.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _lease_worker import make_agents

from tether import Runtime


async def main(store: str, ttl: float) -> None:
    slow, _ = make_agents()
    async with Runtime(store, agents=[slow], lease_ttl=ttl, recover=False) as rt:
        print(json.dumps({"owner": rt.owner}), flush=True)
        run = await rt.start(slow, "look things up")
        print(json.dumps({"run_id": run.run_id}), flush=True)
        refused: list[str] = []
        for _ in range(3):  # again and again, across several lease TTLs
            await asyncio.sleep(ttl)
            for attempt in (
                rt.approve(run.run_id, "call_typo", by="ops"),
                rt.deny(run.run_id, "call_typo", by="ops", reason="no"),
                rt.signal(run.run_id, "input", "hello", by="ops"),
                rt.signal(run.run_id, "resolve_write", {"call_id": "x"}, by="ops"),
            ):
                try:
                    await attempt
                    refused.append("accepted")
                except Exception as exc:
                    refused.append(type(exc).__name__)
            await rt.resume(run.run_id)  # already driven here: a no-op, never a second driver
        print(json.dumps({"refused": refused}), flush=True)
        result = await run.result(timeout=120)
        print(json.dumps({"status": result.status, "output": result.output}), flush=True)


if __name__ == "__main__":
    store_url, ledger, ttl_arg = sys.argv[1:4]
    os.environ["TETHER_TEST_LEDGER"] = ledger
    asyncio.run(main(store_url, float(ttl_arg)))
