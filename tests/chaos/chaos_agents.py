"""The agent the chaos workers serve: a model and tools that fail on purpose.

``shopper`` looks something up, charges an order, looks again, charges a second order,
then answers: five model turns and four tool calls when nothing fails. Everything fails
at a set rate (``$TETHER_CHAOS_FAULT_RATE``, per fault kind):

- the model (a scripted function in the worker process, no network) raises 429 (with a
  ``retry_after``), 5xx and timeouts, and proposes malformed tool calls (arguments that
  are not JSON, or arguments the schema refuses);
- both tools raise transient errors and hang past their timeout. The write tool fails
  on either side of its effect: before it (nothing happened) or after it (the effect
  landed, the answer is lost), so a retry must reuse the key to stay exactly-once.

``charge`` is a write tool that honours idempotency keys the way a payment API does: in
one transaction it takes an advisory lock on the key, applies the effect only if no row
has the key yet, and records every invocation. Its tables live in the chaos database
(``$TETHER_CHAOS_LEDGER``, beside the store's own), so a duplicate is visible in SQL.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

from tether import Agent, ToolContext, tool
from tether.exceptions import ModelError
from tether.models import ModelRequest, ToolCall
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import RetryPolicy, TransientToolError

FAULT_RATE = float(os.environ.get("TETHER_CHAOS_FAULT_RATE", "0.05"))
MODEL_LATENCY = float(os.environ.get("TETHER_CHAOS_MODEL_LATENCY", "0.02"))
TOOL_TIMEOUT = 0.4
HANG_SECONDS = 5.0
"""A hanging tool sleeps this long: far past its timeout, so only the timeout ends it."""

WRITES = 2
LEDGER_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS chaos_effects ("
    " key TEXT NOT NULL, order_id TEXT NOT NULL, run_id TEXT NOT NULL, pid INT NOT NULL,"
    " at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp());"
    "CREATE TABLE IF NOT EXISTS chaos_invocations ("
    " key TEXT NOT NULL, order_id TEXT NOT NULL, run_id TEXT NOT NULL, pid INT NOT NULL,"
    " applied BOOLEAN NOT NULL)"
)
"""No unique constraint on ``key``: a second effect with one key would be a second row."""

_rng = random.SystemRandom()  # no state shared by forked workers


def _fault(kinds: int) -> int:
    """Which of ``kinds`` fault kinds strikes this call (1-based), or 0 for none."""
    roll = _rng.random()
    return next((k for k in range(1, kinds + 1) if roll < k * FAULT_RATE), 0)


async def _hang() -> None:
    await asyncio.sleep(HANG_SECONDS)


_TOOL_RETRY = RetryPolicy(max_attempts=25, initial_delay=0.05, max_delay=0.5)
"""Enough attempts to ride out a Postgres restart (the write's own database) and a run of
injected faults: a write that ran out of attempts after its effect landed would be asked
for again by the model under a new key, a duplicate no engine could prevent."""


@tool(timeout=TOOL_TIMEOUT, retry=_TOOL_RETRY)
async def lookup(n: int) -> str:
    """Look something up (a read: it may run again after a crash)."""
    fault = _fault(2)
    if fault == 1:
        raise TransientToolError("lookup backend unavailable (injected)")
    if fault == 2:
        await _hang()
    return f"found {n}"


@tool(effect="write", idempotent=True, timeout=TOOL_TIMEOUT, retry=_TOOL_RETRY)
async def charge(order_id: str, ctx: ToolContext) -> str:
    """Charge an order once per idempotency key, like a payment API."""
    import psycopg

    fault = _fault(4)
    if fault == 1:
        raise TransientToolError("payment API answered 503 (injected)")
    if fault == 2:
        await _hang()
    try:
        conn = await psycopg.AsyncConnection.connect(
            os.environ["TETHER_CHAOS_LEDGER"], autocommit=True, connect_timeout=2
        )
        async with conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (ctx.idempotency_key,))
            cur = await conn.execute(
                "SELECT 1 FROM chaos_effects WHERE key = %s", (ctx.idempotency_key,)
            )
            applied = await cur.fetchone() is None
            if applied:
                await conn.execute(
                    "INSERT INTO chaos_effects (key, order_id, run_id, pid) VALUES (%s,%s,%s,%s)",
                    (ctx.idempotency_key, order_id, ctx.run_id, os.getpid()),
                )
            await conn.execute(
                "INSERT INTO chaos_invocations (key, order_id, run_id, pid, applied) "
                "VALUES (%s,%s,%s,%s,%s)",
                (ctx.idempotency_key, order_id, ctx.run_id, os.getpid(), applied),
            )
    except psycopg.OperationalError as exc:  # the ledger database restarting, say
        raise TransientToolError(f"payment API unreachable: {exc}") from exc
    if fault == 3:
        raise TransientToolError("payment API timed out after applying (injected)")
    if fault == 4:
        await _hang()  # the effect landed; the answer never comes
    return f"charged {order_id}"


def _plan(req: ModelRequest) -> Any:
    """The next reply, from what the conversation shows has been done."""
    tools = [m for m in req.messages if m.role == "tool"]
    # A result is the tool's plain string; an error is a JSON object ("{...").
    found = sum((m.content or "").startswith("found ") for m in tools)
    charged = sum((m.content or "").startswith("charged ") for m in tools)
    order = f"{req.messages[0].content}#{charged + 1}"
    if charged >= WRITES:
        return text(f"charged {charged} orders")
    if found <= charged:
        return tool_call("lookup", n=found)
    return tool_call("charge", order_id=order)


async def _script(req: ModelRequest) -> Any:
    await asyncio.sleep(MODEL_LATENCY)
    fault = _fault(4)
    if fault == 1:
        raise ModelError(
            "429 Too Many Requests (injected)",
            error_code="rate_limited",
            retryable=True,
            retry_after=0.05,
            status_code=429,
        )
    if fault == 2:
        raise ModelError(
            "503 Service Unavailable (injected)",
            error_code="server_error",
            retryable=True,
            status_code=503,
        )
    if fault == 3:
        await asyncio.sleep(0.05)
        raise TimeoutError  # what a provider client's own timeout raises
    reply = _plan(req)
    if fault == 4 and isinstance(reply, ToolCall):
        if _rng.random() < 0.5:  # arguments that are not JSON
            return ToolCall(id="", name=reply.name, invalid_arguments='{"order_id": "trunc')
        return tool_call(reply.name, wrong="argument")  # arguments the schema refuses
    return reply


shopper = Agent(
    name="shopper",
    model=ScriptedModel(_script, keep_requests=False),
    tools=[lookup, charge],
    max_turns=60,
    model_retry=RetryPolicy(max_attempts=25, initial_delay=0.02, max_delay=0.2),
)

AGENTS = [shopper]
"""What a chaos worker serves (``_forkserver.py`` reads this list)."""
