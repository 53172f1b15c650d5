"""Worker process for the two-runtime tests: one live runtime on a shared SQLite store.

Modes:
    start STORE LEDGER TTL    start a long run, print its id, drive it, print its result
    standby STORE LEDGER TTL STOP_FILE
                              keep a runtime open (recovery and timers on) until STOP_FILE
                              exists; it must never adopt a run whose owner is alive
    park STORE LEDGER TTL EXPIRY
                              start a refund that parks for approval expiring in EXPIRY
                              seconds, print its id and status, exit

Every process prints its runtime's lease owner first, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from tether import Agent, Runtime, tool
from tether.models import ModelRequest
from tether.policy import ApprovalSettings, Policy
from tether.testing import ScriptedModel, text, tool_call

CALLS = 3
TOOL_SECONDS = 1.5  # each call outlasts the lease TTL the tests use


def _ledger() -> Path:
    return Path(os.environ["TETHER_TEST_LEDGER"])


@tool(retry=None)
def slow_lookup(n: int) -> str:
    """Look something up slowly; every execution is one ledger line with this pid."""
    with _ledger().open("a") as fh:
        fh.write(f"{os.getpid()} {n}\n")
    time.sleep(TOOL_SECONDS)  # a sync tool runs in a worker thread: the loop keeps beating
    return f"found {n}"


@tool(effect="write", idempotent=True, requires_approval=lambda args: args["amount_cents"] > 5000)
def refund_order(order_id: str, amount_cents: int) -> str:
    """Refund an order (one ledger line per execution)."""
    with _ledger().open("a") as fh:
        fh.write(f"{os.getpid()} refund {order_id} {amount_cents}\n")
    return f"refunded {amount_cents}"


def _script(req: ModelRequest) -> Any:
    done = sum(m.role == "tool" for m in req.messages)
    if done >= CALLS:
        return text(f"looked up {done} things")
    return tool_call("slow_lookup", n=done)


def _refund_script(req: ModelRequest) -> Any:
    if req.messages[-1].role == "tool":
        return text(f"result: {req.messages[-1].content}")
    return tool_call("refund_order", order_id="1234", amount_cents=9000)


def make_agents(expiry: float = 0.5) -> list[Agent]:
    """The same agents in every process (same versions)."""
    return [
        Agent(name="slow", model=ScriptedModel(_script), tools=[slow_lookup], max_turns=10),
        Agent(
            name="refunder",
            model=ScriptedModel(_refund_script),
            tools=[refund_order],
            policy=Policy(approvals=ApprovalSettings(timeout_seconds=expiry)),
        ),
    ]


def _wait_for(path: Path, timeout: float = 120.0) -> None:
    """Block (in a worker thread) until another process creates ``path``."""
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def _say(payload: dict[str, Any]) -> None:
    print(json.dumps(payload), flush=True)


async def start(store: str, ttl: float) -> None:
    slow, _ = make_agents()
    # No recovery loop here: it would re-lease this process's own run when the lease
    # lapsed, hiding a broken heartbeat. Only heartbeats may keep this lease.
    async with Runtime(store, agents=[slow], lease_ttl=ttl, recover=False) as rt:
        _say({"owner": rt.owner})
        run = await rt.start(slow, "look things up")
        _say({"run_id": run.run_id})
        result = await run.result(timeout=120)
        error = result.error.model_dump(mode="json") if result.error else None
        _say({"status": result.status, "output": result.output, "error": error})


async def standby(store: str, ttl: float, stop_file: Path) -> None:
    async with Runtime(store, agents=make_agents(), lease_ttl=ttl, timer_interval=ttl) as rt:
        _say({"owner": rt.owner})
        await asyncio.to_thread(_wait_for, stop_file)
        _say({"driving": sorted(rt._tasks)})


async def park(store: str, ttl: float, expiry: float) -> None:
    _, refunder = make_agents(expiry)
    async with Runtime(store, agents=[refunder], lease_ttl=ttl, recover=False) as rt:
        _say({"owner": rt.owner})
        run = await rt.start(refunder, "refund 90 dollars on order 1234")
        result = await run.result(timeout=60)
        _say({"run_id": run.run_id, "status": result.status})


if __name__ == "__main__":
    mode, store_url, ledger, ttl_arg = sys.argv[1:5]
    os.environ["TETHER_TEST_LEDGER"] = ledger
    ttl_value = float(ttl_arg)
    if mode == "start":
        asyncio.run(start(store_url, ttl_value))
    elif mode == "standby":
        asyncio.run(standby(store_url, ttl_value, Path(sys.argv[5])))
    elif mode == "park":
        asyncio.run(park(store_url, ttl_value, float(sys.argv[5])))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
