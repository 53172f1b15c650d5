"""Agents that ``tether worker`` processes serve in the fleet tests (``--agents`` this file).

``payer`` looks two things up slowly, then charges an order with a write tool that
honours idempotency keys: its effects go to a ledger database (``$TETHER_TEST_LEDGER``)
keyed by the key, so a test can count effects applied and invocations separately.
``poison`` calls a tool that kills the process driving it (SIGKILL), every time.
``quick`` answers at once (fairness and backpressure tests); ``refunder`` parks for
approval of a refund.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from typing import Any

from tether import Agent, ToolContext, tool
from tether.models import ModelRequest
from tether.testing import ScriptedModel, text, tool_call

LOOKUPS = 2
LOOKUP_SECONDS = float(os.environ.get("TETHER_TEST_LOOKUP_SECONDS", "0.3"))


def _ledger() -> sqlite3.Connection:
    conn = sqlite3.connect(os.environ["TETHER_TEST_LEDGER"], timeout=60, isolation_level=None)
    # Switching a new file to WAL does not wait out the busy timeout: several runs charging
    # at once on a fresh ledger got "database is locked", the charge failed, and the
    # scripted model answered "paid" anyway (a run completed with no effect, about one
    # start in seventy). Retry the switch until it holds.
    for attempt in range(200):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError:
            if attempt == 199:
                raise
            time.sleep(0.01)
    conn.execute("CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, run TEXT, pid INT)")
    conn.execute("CREATE TABLE IF NOT EXISTS invocations (key TEXT, pid INT)")
    return conn


@tool(retry=None)
def lookup(n: int) -> str:
    """Look something up slowly (a read: may run again after a crash)."""
    time.sleep(LOOKUP_SECONDS)
    return f"found {n}"


@tool(effect="write", idempotent=True, retry=None)
def charge(order_id: str, ctx: ToolContext) -> str:
    """Charge an order once per idempotency key, like a payment API."""
    conn = _ledger()
    try:
        conn.execute("INSERT INTO invocations VALUES (?, ?)", (ctx.idempotency_key, os.getpid()))
        conn.execute(
            "INSERT OR IGNORE INTO effects VALUES (?, ?, ?)",
            (ctx.idempotency_key, order_id, os.getpid()),
        )
    finally:
        conn.close()
    return f"charged {order_id}"


@tool(retry=None)
def explode(reason: str) -> str:
    """Kill the process that runs this tool (a poisoned run)."""
    os.kill(os.getpid(), signal.SIGKILL)
    return "unreachable"


def _pay(req: ModelRequest) -> Any:
    done = sum(m.role == "tool" for m in req.messages)
    if done < LOOKUPS:
        return tool_call("lookup", n=done)
    if done == LOOKUPS:
        return tool_call("charge", order_id=str(req.messages[0].content))
    return text("paid")


def _poison(req: ModelRequest) -> Any:
    return tool_call("explode", reason="poisoned input")


payer = Agent(name="payer", model=ScriptedModel(_pay), tools=[lookup, charge], max_turns=10)
poison = Agent(name="poison", model=ScriptedModel(_poison), tools=[explode], max_turns=10)
quick = Agent(name="quick", model=ScriptedModel(lambda req: text("done")), max_turns=2)


@tool(effect="write", idempotent=True, requires_approval=True, retry=None)
def refund(order_id: str, ctx: ToolContext) -> str:
    """Refund an order once per idempotency key; a person approves every refund."""
    conn = _ledger()
    try:
        conn.execute(
            "INSERT OR IGNORE INTO effects VALUES (?, ?, ?)",
            (ctx.idempotency_key, order_id, os.getpid()),
        )
    finally:
        conn.close()
    return f"refunded {order_id}"


def _refund(req: ModelRequest) -> Any:
    if req.messages[-1].role == "tool":
        return text("refunded")
    return tool_call("refund", order_id=str(req.messages[0].content))


refunder = Agent(name="refunder", model=ScriptedModel(_refund), tools=[refund], max_turns=4)
