"""A breaker shared by every run carries no run's error text into another run (red team 17,
hole 05).

Breakers are per process, shared by every run and tenant. Each remembered the last error
message as it was, and a refused call of another run said it: run A's tool error quoting
A's password reached run B's model, B's stored ``tool.failed`` and B's trace, although
A's own log masked it. A breaker now remembers the error's code only.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tether import Agent, Runtime, tool
from tether.models import ModelRequest
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import Breaker, ToolCallError

PASSWORD = "Tr0ub4dor-and-3x"


@tool(breaker=Breaker(failures=1, reset_after=300))
def db_login(user: str, password: str) -> str:
    """Log in to the customer database."""
    raise ToolCallError(
        f"db unreachable while logging in {user} with password {password}", retryable=True
    )


def _agent(name: str, password: str, seen: list[str]) -> Agent:
    def script(request: ModelRequest) -> Any:
        seen.extend(m.content or "" for m in request.messages)
        if len(request.messages) == 1:
            return tool_call("db_login", user="u", password=password)
        return text("done")

    return Agent(name=name, model=ScriptedModel(script), tools=[db_login])


async def test_another_tenant_s_refusal_does_not_quote_the_failing_run_s_error(
    tmp_path: Path,
) -> None:
    seen_a: list[str] = []
    seen_b: list[str] = []
    a = _agent("a", PASSWORD, seen_a)
    b = _agent("b", "other-pass-77", seen_b)
    async with Runtime(f"sqlite:///{tmp_path}/t.db", agents=[a, b]) as rt:
        first = await (await rt.start(a, "log in", tenant="acme")).result()
        second_run = await rt.start(b, "log in", tenant="globex")
        second = await second_run.result()
        events = [rec async for rec in second_run.events(follow=False)]
    assert first.status == second.status == "completed"
    refused = [rec.event for rec in events if rec.event.type == "tool.failed"]
    assert refused and refused[0].error.error_code == "circuit_open"  # the breaker held
    assert "transient" in refused[0].error.message  # the code of the last failure
    assert not any(PASSWORD in text for text in seen_b)
    for rec in events:
        assert PASSWORD not in rec.event.model_dump_json()
    with sqlite3.connect(tmp_path / "t.db") as conn:
        stored = b"".join(bytes(row[0]) for row in conn.execute("SELECT data FROM events"))
    assert PASSWORD.encode() not in stored
