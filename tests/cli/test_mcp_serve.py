"""``tether mcp serve``: Tether tools served over MCP, driven by the SDK's own client.

The server runs as a real ``tether`` subprocess over stdio and over streamable HTTP on
127.0.0.1; every call goes through the owning agent's gate: a tool needing approval is
not run, a tool outside the allowlist is denied, and the budget counts per client key
(one for every HTTP client: reconnecting does not reset it).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

AGENTS = str(Path(__file__).parent / "mcp_agents.py")
TETHER = [sys.executable, "-c", "from tether.cli import main; main()"]


@contextlib.asynccontextmanager
async def _stdio_session(*extra: str) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=TETHER[0], args=[*TETHER[1:], "mcp", "serve", "--agents", AGENTS, *extra]
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def http_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``tether mcp serve --http`` in a subprocess, on a free port of 127.0.0.1."""
    port = _free_port()
    proc = subprocess.Popen(
        [*TETHER, "mcp", "serve", "--agents", AGENTS, "--http", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError(f"tether mcp serve exited with {proc.returncode}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.asynccontextmanager
async def _http_session(url: str) -> AsyncIterator[ClientSession]:
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async with (
        create_mcp_http_client() as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def _payload(result: Any) -> Any:
    """The JSON a tool result carries in its text content."""
    (block,) = result.content
    try:
        return json.loads(block.text)
    except json.JSONDecodeError:
        return block.text


async def _check_gate(session: ClientSession) -> None:
    listed = {t.name: t for t in (await session.list_tools()).tools}
    assert set(listed) == {"lookup_order", "refund", "count_items", "secret_report"}
    assert listed["refund"].input_schema["required"] == ["order_id", "amount_cents"]

    ok = await session.call_tool("lookup_order", {"order_id": "7"})
    assert not ok.is_error
    assert _payload(ok) == "order 7: shipped"

    refund = await session.call_tool("refund", {"order_id": "7", "amount_cents": 100})
    assert refund.is_error
    assert _payload(refund)["error_code"] == "approval_required"

    denied = await session.call_tool("secret_report", {})
    assert denied.is_error
    assert _payload(denied)["error_code"] == "denied"

    bad = await session.call_tool("lookup_order", {"order_id": ["not", "a", "string"]})
    assert bad.is_error
    assert _payload(bad)["error_code"] == "invalid_arguments"


async def test_stdio_client_lists_and_calls_tools_through_the_gate() -> None:
    async with _stdio_session() as session:
        await _check_gate(session)


async def test_http_client_lists_and_calls_tools_through_the_gate(http_url: str) -> None:
    async with _http_session(http_url) as session:
        await _check_gate(session)


async def test_a_new_session_does_not_reset_the_budget(http_url: str) -> None:
    """``count_items`` is allowed twice per client key, and HTTP clients (anonymous, free
    to open sessions) share one: a third call is refused, in a new session too."""
    async with _http_session(http_url) as first:
        results = [await first.call_tool("count_items", {"order_id": "abc"}) for _ in range(3)]
        assert [r.is_error for r in results] == [False, False, True]
        assert results[0].structured_content == {"items": 3}
        assert _payload(results[2])["error_code"] == "budget_exceeded"
    async with _http_session(http_url) as second:
        again = await second.call_tool("count_items", {"order_id": "abcd"})
        assert again.is_error
        assert _payload(again)["error_code"] == "budget_exceeded"


async def test_with_a_store_each_agent_is_a_tool_that_runs_it(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/tether.db"
    async with _stdio_session("--store", store) as session:
        names = {t.name for t in (await session.list_tools()).tools}
        assert "run_support" in names
        result = await session.call_tool("run_support", {"input": "where is my order?"})
    assert not result.is_error
    assert _payload(result) == "support agent says: where is my order?"


def test_a_missing_agents_file_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [*TETHER, "mcp", "serve", "--agents", str(tmp_path / "nope.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error:")


def test_a_tool_name_two_agents_define_differently_is_served_per_agent() -> None:
    """Shared contracts are served once; different ones as ``{agent}_{tool}``."""
    from tether import Agent, tool
    from tether._cli._mcp import ToolGateway
    from tether.testing import ScriptedModel

    @tool
    def shared(x: str) -> str:
        """Shared by both agents."""
        return x

    def lookup_for(agent: str) -> Any:
        @tool(name="lookup")
        def lookup(x: str) -> str:
            """Agent-specific lookup."""
            return f"{agent}:{x}"

        return lookup

    agents = [
        Agent(name=n, model=ScriptedModel([]), tools=[shared, lookup_for(n)]) for n in ("a", "b")
    ]
    gateway = ToolGateway(agents)
    assert set(gateway.tools) == {"shared", "a_lookup", "b_lookup"}
    assert gateway.tools["b_lookup"].agent is agents[1]


async def test_the_kill_switch_stops_writes_served_over_mcp(tmp_path: Path) -> None:
    """With a store, the runtime-wide kill switch denies write tools called over MCP."""
    from tether import Agent, Runtime, tool
    from tether._cli._mcp import ToolGateway
    from tether.testing import ScriptedModel

    wrote: list[str] = []

    @tool(effect="write")
    def ship(order_id: str) -> str:
        """Ship an order."""
        wrote.append(order_id)
        return f"shipped {order_id}"

    @tool
    def peek(order_id: str) -> str:
        """Read an order."""
        return f"order {order_id}"

    agent = Agent(name="shipper", model=ScriptedModel([]), tools=[ship, peek])
    async with Runtime(f"sqlite:///{tmp_path}/tether.db") as rt:
        gateway = ToolGateway([agent], rt)
        assert (await gateway.call("c", "ship", {"order_id": "1"}))["ok"]
        await rt.set_killswitch(True, by="ops")
        refused = await gateway.call("c", "ship", {"order_id": "2"})
        assert not refused["ok"] and refused["error"]["error_code"] == "denied"
        assert (await gateway.call("c", "peek", {"order_id": "2"}))["ok"]  # reads go on
    assert wrote == ["1"]
