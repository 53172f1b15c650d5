"""Red team 14, hole 06: ``tether mcp serve`` handed a broker secret back to the client.

A tool that echoes the credential the secrets broker handed it (``authenticated with
<key>``) returned it to the MCP client in clear, while in a Tether run the same output
reaches the model as ``[REDACTED]``. An MCP client is a model's host: what a served call
returns (result or error, as text, structured content, a key, or encoded) now goes
through the redaction a run's tool output gets before its model reads it. The tool itself
still runs with the real secret.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from tether import Agent, ToolContext, tool
from tether._cli._mcp import ToolGateway
from tether.testing import ScriptedModel

R = "[REDACTED]"
SECRET = "zq7Vw3kP9mXr2LtB8nYc"
ENV = "TETHER_SECRET_RT14_MCP_KEY"
RECEIVED: list[str] = []


@tool(credentials=["rt14_mcp_key"])
def whoami(ctx: ToolContext) -> dict[str, Any]:
    """Which account the key belongs to."""
    key = ctx.secrets["rt14_mcp_key"]
    RECEIVED.append(key)
    return {
        "note": f"authenticated with {key}",
        "sessions": {key: {"active": True}},
        "basic": base64.b64encode(f"user:{key}".encode()).decode(),
    }


@tool(credentials=["rt14_mcp_key"])
def fails(ctx: ToolContext) -> str:
    """Fails, saying what it was given."""
    raise ValueError(f"the key {ctx.secrets['rt14_mcp_key']} was refused")


@tool
def plain(order_id: str) -> dict[str, Any]:
    """A result with nothing secret in it."""
    return {"order": order_id, "items": [1, 2]}


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, SECRET)
    RECEIVED.clear()


def _gateway() -> ToolGateway:
    agent = Agent(name="m", model=ScriptedModel([]), tools=[whoami, fails, plain])
    return ToolGateway([agent])


async def test_a_served_result_never_hands_the_broker_secret_to_the_client() -> None:
    outcome = await _gateway().call("stdio", "whoami", {})
    assert outcome["ok"]
    assert RECEIVED == [SECRET]  # the tool ran with the real secret
    result = outcome["result"]
    assert result["note"] == f"authenticated with {R}"
    assert result["sessions"] == {R: {"active": True}}  # a key too
    assert SECRET not in result["basic"]
    shown = json.dumps(outcome)
    assert SECRET not in shown
    assert base64.b64encode(f"user:{SECRET}".encode()).decode() not in shown


async def test_a_served_error_never_hands_the_broker_secret_to_the_client() -> None:
    outcome = await _gateway().call("stdio", "fails", {})
    assert not outcome["ok"]
    assert RECEIVED == []
    assert SECRET not in json.dumps(outcome)


async def test_a_clean_result_is_returned_as_it_is() -> None:
    gateway = _gateway()
    await gateway.call("stdio", "whoami", {})  # the broker now knows the secret
    outcome = await gateway.call("stdio", "plain", {"order_id": "7"})
    assert outcome == {"ok": True, "result": {"order": "7", "items": [1, 2]}}


AGENTS = """
from tether import Agent, tool, ToolContext
from tether.testing import ScriptedModel, text

@tool(credentials=["api_key"])
def whoami(ctx: ToolContext) -> dict:
    \"\"\"Which account the API key belongs to.\"\"\"
    key = ctx.secrets["api_key"]
    return {"note": f"authenticated with {key}", "sessions": {key: 1}}

agent = Agent(name="m", instructions="x", model=ScriptedModel([text("hi")]), tools=[whoami])
"""


async def test_stdio_client_gets_the_result_redacted(tmp_path: Path) -> None:
    (tmp_path / "agents.py").write_text(AGENTS)
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-c",
            "from tether.cli import main; main()",
            "mcp",
            "serve",
            "--agents",
            str(tmp_path / "agents.py"),
        ],
        env=dict(os.environ, TETHER_SECRET_API_KEY=SECRET),
        cwd=str(tmp_path),
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        result = await session.call_tool("whoami", {})
    assert not result.is_error
    text = " ".join(getattr(block, "text", "") for block in result.content)
    assert SECRET not in text
    assert json.loads(text) == {"note": f"authenticated with {R}", "sessions": {R: 1}}
    assert result.structured_content == {"note": f"authenticated with {R}", "sessions": {R: 1}}
