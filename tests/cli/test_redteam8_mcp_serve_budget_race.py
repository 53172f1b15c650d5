"""Red team 8, hole 03: concurrent MCP calls got past the per-client tool budget.

``ToolGateway._call_tool`` checked the budget, then awaited the kill switch's store read,
the ``before_tool`` hook, the guard, a rate-limit sleep and the secrets broker, and only
then counted the call. The MCP SDK serves a client's requests concurrently, so every call
sent together was checked against the same count: ``Budget(max_tool_calls=1)`` let one
client charge a card up to 8 times. A call is now counted as it is admitted (no await
between the check and the count) and gives its slot back if it is refused or never runs.

This module is also the ``--agents`` file of the served subprocess: ``billing`` below.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, tool
from tether.models import ToolCall
from tether.policy import Budget, Decision, Hooks, Policy
from tether.testing import ScriptedModel, text
from tether.tools import RateLimit

LEDGER_ENV = "TETHER_TEST_RT8_LEDGER"

# A payment API takes ~5 calls a second: calls over it queue (up to max_wait), after the
# budget check, which is what spread the check and the count apart.
QUEUED = RateLimit(calls=5, per=1.0, burst=1, max_wait=5)


@tool(effect="write", rate_limit=QUEUED)
def charge(customer: str, amount_cents: int) -> str:
    """Charge a customer's card."""
    with open(os.environ[LEDGER_ENV], "a", encoding="utf-8") as ledger:
        ledger.write(f"{customer} {amount_cents}\n")
    return "charged"


billing = Agent(
    name="billing",
    model=ScriptedModel([text("ok")]),
    tools=[charge],
    policy=Policy(budget=Budget(max_tool_calls=1, max_calls_per_tool={"charge": 1})),
)


@contextlib.asynccontextmanager
async def _served(ledger: Path, store: str) -> AsyncIterator[Any]:
    """``tether mcp serve --agents <this file> --store ...`` over stdio, and a session."""
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-c",
            "from tether.cli import main; main()",
            *("mcp", "serve", "--agents", __file__, "--store", store),
        ],
        env={**os.environ, LEDGER_ENV: str(ledger)},
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def test_redteam8_hole_03_concurrent_served_calls_cannot_pass_the_budget(
    tmp_path: Path,
) -> None:
    """Eight ``charge`` calls sent at once to a real ``tether mcp serve`` (stdio, with a
    store: the kill switch is read from it) under ``max_tool_calls=1``: one charge, seven
    ``budget_exceeded``. The old gate charged 3 to 8 times."""
    ledger = tmp_path / "ledger.txt"
    ledger.touch()
    async with _served(ledger, f"sqlite:///{tmp_path}/tether.db") as session:
        results = await asyncio.gather(
            *[
                session.call_tool("charge", {"customer": "cus_1", "amount_cents": 5000})
                for _ in range(8)
            ]
        )
    charges = ledger.read_text(encoding="utf-8").splitlines()
    assert charges == ["cus_1 5000"]
    refused = [json.loads(r.content[0].text) for r in results if r.is_error]
    assert [e["error_code"] for e in refused] == ["budget_exceeded"] * 7


def _gateway(*tools: Any, budget: Budget, hooks: Hooks | None = None) -> Any:
    from tether._cli._mcp import ToolGateway

    policy = Policy(budget=budget, hooks=hooks or Hooks())
    agent = Agent(name="ops", model=ScriptedModel([]), tools=list(tools), policy=policy)
    return ToolGateway([agent])


@pytest.mark.parametrize(
    "budget",
    [Budget(max_tool_calls=2), Budget(max_calls_per_tool={"send": 2})],
    ids=["max_tool_calls", "max_calls_per_tool"],
)
async def test_redteam8_hole_03_each_counter_is_taken_before_the_first_await(
    budget: Budget,
) -> None:
    """In process, both tool-call counters of a client (the total and the one per tool):
    ten concurrent calls queued on a rate limit, a limit of two, two run."""
    sent: list[int] = []

    @tool(effect="write", rate_limit=RateLimit(calls=50, per=1.0, burst=1, max_wait=5))
    def send(n: int) -> str:
        """Send a message."""
        sent.append(n)
        return "sent"

    gateway = _gateway(send, budget=budget)
    outcomes = await asyncio.gather(*[gateway.call("stdio", "send", {"n": n}) for n in range(10)])
    assert len(sent) == 2
    codes = [o["error"]["error_code"] for o in outcomes if not o["ok"]]
    assert codes == ["budget_exceeded"] * 8


async def test_redteam8_hole_03_a_call_refused_after_admission_gives_its_slot_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Counted on admission, a call refused later (hook, guard, missing secret) or
    cancelled while it queues is not charged: the budget's two calls still run."""
    monkeypatch.delenv("RT8_UNSET_TOKEN", raising=False)
    ran: list[str] = []

    @tool(rate_limit=RateLimit(calls=1, per=60.0, burst=1, max_wait=0, shared=False))
    def sms(to: str) -> str:
        """Send a paid SMS (once a minute, no queueing)."""
        ran.append(f"sms {to}")
        return "sent"

    @tool(rate_limit=RateLimit(calls=1, per=60.0, burst=1, max_wait=120, shared=False))
    def mail(to: str) -> str:
        """Send a letter (once a minute, calls over it queue)."""
        ran.append(f"mail {to}")
        return "sent"

    @tool(credentials=["RT8_UNSET_TOKEN"])
    def vault(key: str) -> str:
        """Needs a secret nobody set."""
        raise AssertionError("must not run without its secret")

    @tool
    def lookup(q: str) -> str:
        """Look something up."""
        ran.append(f"lookup {q}")
        return q

    def deny_blocked(call: ToolCall, arguments: dict[str, Any]) -> Decision | None:
        if arguments.get("q") == "blocked":
            return Decision(action="deny", reason="blocked by the hook")
        return None

    gateway = _gateway(
        sms,
        mail,
        vault,
        lookup,
        budget=Budget(max_tool_calls=3),
        hooks=Hooks(before_tool=deny_blocked),
    )
    assert (await gateway.call("c", "sms", {"to": "+1"}))["ok"]
    assert (await gateway.call("c", "mail", {"to": "a"}))["ok"]
    refusals = [
        await gateway.call("c", "sms", {"to": "+2"}),
        await gateway.call("c", "vault", {"key": "k"}),
        await gateway.call("c", "lookup", {"q": "blocked"}),
    ]
    assert [r["error"]["error_code"] for r in refusals] == [
        "rate_limited",
        "missing_secret",
        "denied",
    ]
    queued = asyncio.create_task(gateway.call("c", "mail", {"to": "b"}))
    await asyncio.sleep(0.2)  # admitted and asleep on the rate limit
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    last = await gateway.call("c", "lookup", {"q": "x"})
    assert last["ok"], last
    over = await gateway.call("c", "lookup", {"q": "y"})
    assert over["error"]["error_code"] == "budget_exceeded"
    assert ran == ["sms +1", "mail a", "lookup x"]
