"""MCP servers' tools in an agent's registry, against real servers the tests start.

``mcp_servers/shop.py`` is a well-behaved server built with the SDK's ``MCPServer``, run
over stdio and over streamable HTTP on 127.0.0.1; ``mcp_servers/liar.py`` speaks
JSON-RPC by hand so it can send garbage, break its own schemas and refuse valid calls.
Every misbehaviour must end as a structured tool error, never a hung or crashed run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime, tool
from tether.engine import ToolCompleted, ToolFailed
from tether.exceptions import AgentDefinitionError
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import MCPServer, MCPToolContract, RetryPolicy, mcp_servers

SERVERS = Path(__file__).parent / "mcp_servers"
SHOP = [sys.executable, str(SERVERS / "shop.py")]
LIAR = [sys.executable, str(SERVERS / "liar.py")]
NO_RETRY = RetryPolicy(max_attempts=1)


@pytest.fixture(scope="module")
def shop_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shop") / "writes.log"


@pytest.fixture(scope="module")
def shop(shop_log: Path) -> MCPServer:
    """The stdio shop, listed once for the module (its session is closed after each test)."""
    server = MCPServer.stdio(
        SHOP,
        name="shop",
        effects={"lookup_order": "read", "whoami": "read", "hang": "read", "huge": "read"},
        env={"SHOP_LOG": str(shop_log)},
        timeout=2.0,
        retry=NO_RETRY,
        max_result_bytes=100_000,
    )
    server.contracts()
    return server


@pytest.fixture(scope="module")
def liar() -> MCPServer:
    server = MCPServer.stdio(LIAR, name="liar", default_effect="read", retry=NO_RETRY)
    server.contracts()
    return server


@pytest.fixture(autouse=True)
async def _close_sessions(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Each test's event loop ends with every MCP session it opened closed."""
    yield
    for name in ("shop", "liar"):
        if name in request.fixturenames:
            await request.getfixturevalue(name).aclose()


def _written(log: Path, *, clear: bool = False) -> str:
    """What the shop's writes appended to ``log`` (``clear`` empties it first)."""
    if clear:
        log.unlink(missing_ok=True)
    return log.read_text() if log.exists() else ""


def _agent(script: list[Any], *tools: Any, name: str = "mcp") -> Agent:
    return Agent(name=name, model=ScriptedModel(script), tools=list(tools))


async def _tool_events(rt: Runtime, run_id: str) -> list[ToolCompleted | ToolFailed]:
    return [
        e.event
        async for e in rt.get(run_id).events(follow=False)
        if isinstance(e.event, ToolCompleted | ToolFailed)
    ]


async def _run(agent: Agent, store_url: str) -> list[ToolCompleted | ToolFailed]:
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "go")
        result = await run.result()
        assert result.status == "completed", result
        return await _tool_events(rt, run.run_id)


# -- the contracts ----------------------------------------------------------------------------


def test_tools_become_contracts_with_effects_schemas_and_approval(shop: MCPServer) -> None:
    """Configured tools get their effect; the rest are writes that need approval."""
    by_name = {c.name: c for c in shop.contracts()}
    lookup, refund = by_name["lookup_order"], by_name["refund"]
    assert isinstance(lookup, MCPToolContract)
    assert (lookup.effect, lookup.requires_approval) == ("read", False)
    assert (refund.effect, refund.requires_approval) == ("write", True)
    assert refund.parameters["required"] == ["order_id", "amount_cents"]
    assert lookup.owner == "mcp:shop"
    assert lookup.timeout == 2.0 + shop.connect_timeout  # the first call also connects


def test_arguments_are_validated_against_the_input_schema(shop: MCPServer) -> None:
    """A missing or mistyped argument is a pydantic ValidationError, like a native tool's."""
    from pydantic import ValidationError

    refund = {c.name: c for c in shop.contracts()}["refund"]
    assert refund.validate({"order_id": "1", "amount_cents": 5}) == {
        "order_id": "1",
        "amount_cents": 5,
    }
    with pytest.raises(ValidationError) as info:
        refund.validate({"order_id": 1})
    messages = " ".join(e["msg"] for e in info.value.errors())
    assert '"amount_cents" is a required property' in messages
    assert '1 is not of type "string"' in messages


def test_a_colliding_name_is_prefixed_with_the_server_name(shop: MCPServer) -> None:
    """``search`` exists natively, so the server's becomes ``shop_search``."""

    @tool
    def search(query: str) -> str:
        """Search the docs."""
        return "docs"

    agent = _agent([text("hi")], shop, search)
    assert agent.registry["search"] is search
    prefixed = agent.registry["shop_search"]
    assert isinstance(prefixed, MCPToolContract)
    assert prefixed.remote_name == "search"
    assert mcp_servers(agent.registry.values()) == [shop]


def test_the_agent_version_changes_when_a_tool_schema_changes(shop_log: Path) -> None:
    """Same server, same schemas: same version; an added parameter: a new version."""

    def version(env: dict[str, str]) -> str:
        server = MCPServer.stdio(SHOP, name="shop", env=env)
        return _agent([text("hi")], server).version

    base = {"SHOP_LOG": str(shop_log)}
    assert version(base) == version(base)
    assert version({**base, "SHOP_V2": "1"}) != version(base)


def test_a_server_that_cannot_start_fails_the_agent_definition() -> None:
    server = MCPServer.stdio(
        [sys.executable, "-c", "import sys; sys.exit(2)"], name="broken", connect_timeout=5
    )
    with pytest.raises(AgentDefinitionError, match="could not list its tools"):
        _agent([text("hi")], server)


def test_missing_extra_names_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)
    with pytest.raises(ImportError, match=r"pip install 'tether-runtime\[mcp\]'"):
        MCPServer.stdio(SHOP, name="shop")


def test_importing_tether_does_not_import_the_sdk() -> None:
    code = "import sys, tether, tether.tools; assert 'mcp' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- runs over stdio ----------------------------------------------------------------------------


async def test_a_read_tool_completes(shop: MCPServer, store_url: str) -> None:
    agent = _agent([tool_call("lookup_order", order_id="7"), text("done")], shop)
    (completed,) = await _run(agent, store_url)
    assert isinstance(completed, ToolCompleted)
    assert completed.result == {"result": "order 7: shipped"}


async def test_a_write_tool_parks_for_approval_then_runs(
    shop: MCPServer, shop_log: Path, store_url: str
) -> None:
    """An unconfigured tool is a write: nothing reaches the server before approval."""
    _written(shop_log, clear=True)
    agent = _agent([tool_call("refund", order_id="9", amount_cents=500), text("ok")], shop)
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "refund it")
        assert (await run.result()).status == "waiting"
        (pending,) = await run.pending_approvals()
        assert pending.arguments == {"order_id": "9", "amount_cents": 500}
        assert _written(shop_log) == ""
        await rt.approve(run.run_id, pending.approval_id, by="ana")
        assert (await rt.get(run.run_id).result()).status == "completed"
    assert _written(shop_log) == "refund 9 500\n"


async def test_bad_arguments_never_reach_the_server(shop: MCPServer, store_url: str) -> None:
    agent = _agent([tool_call("lookup_order", order_id=7), text("done")], shop)
    (failed,) = await _run(agent, store_url)
    assert isinstance(failed, ToolFailed)
    assert failed.error.error_code == "invalid_arguments"
    assert '7 is not of type "string"' in failed.error.message


async def test_the_prefixed_tool_calls_the_server_under_its_own_name(
    shop_log: Path, store_url: str
) -> None:
    @tool
    def search(query: str) -> str:
        """Search the docs."""
        return "docs"

    server = MCPServer.stdio(SHOP, name="shop", effects={"search": "read"})
    agent = _agent([tool_call("shop_search", query="mug"), text("done")], server, search)
    try:
        (completed,) = await _run(agent, store_url)
    finally:
        await server.aclose()
    assert isinstance(completed, ToolCompleted)
    assert completed.result == {"result": "catalog hits for 'mug': 3"}


async def test_one_session_serves_every_call(shop: MCPServer, store_url: str) -> None:
    """Two calls in one run, and a second run, reach the same server process while their
    runtime lives; the runtime's exit closes the session, the next runtime opens another."""
    script = [tool_call("whoami"), tool_call("whoami"), text("done")]
    async with Runtime(store_url) as rt:
        runs = [
            await rt.start(_agent(script, shop), "go"),
            await rt.start(_agent([tool_call("whoami"), text("done")], shop, name="again"), "go"),
        ]
        events = []
        for run in runs:
            assert (await run.result()).status == "completed"
            events += await _tool_events(rt, run.run_id)
    pids = {e.result["result"] for e in events if isinstance(e, ToolCompleted)}
    assert len(pids) == 1
    later = await _run(_agent([tool_call("whoami"), text("done")], shop, name="later"), store_url)
    assert {e.result["result"] for e in later if isinstance(e, ToolCompleted)}.isdisjoint(pids)


async def test_a_server_killed_mid_call_fails_the_call_and_restarts(
    shop: MCPServer, store_url: str
) -> None:
    """``crash`` kills the server: that call fails as retryable, the next one reconnects."""
    script = [tool_call("whoami"), tool_call("crash"), tool_call("whoami"), text("done")]
    server = MCPServer.stdio(
        SHOP, name="shop", effects={"whoami": "read", "crash": "read"}, retry=NO_RETRY
    )
    try:
        before, crashed, after = await _run(_agent(script, server), store_url)
    finally:
        await server.aclose()
    assert isinstance(crashed, ToolFailed)
    assert (crashed.error.error_code, crashed.error.retryable) == ("transient", True)
    assert "closed during the call" in crashed.error.message
    assert isinstance(before, ToolCompleted) and isinstance(after, ToolCompleted)
    assert before.result != after.result  # a new server process


async def test_a_write_in_flight_when_the_server_dies_is_uncertain_not_retried(
    store_url: str,
) -> None:
    """The server died mid-write: it may have written. Not retried, nor handed to the model
    (which would call again under a new key): the run waits for a person, as after a crash."""
    server = MCPServer.stdio(SHOP, name="shop", requires_approval=False)  # retries allowed
    agent = _agent([tool_call("crash"), text("done")], server)
    try:
        async with Runtime(store_url) as rt:
            run = await rt.start(agent, "go")
            parked = await run.result()
            assert (parked.status, parked.wait_reason) == ("waiting", "uncertain_write"), parked
            assert parked.wait_details is not None
            (item,) = parked.wait_details["calls"]
            assert item["tool"] == "crash" and "closed during the call" in item["problem"]
            assert await _tool_events(rt, run.run_id) == []  # started, no result: one attempt
            await rt.signal(
                run.run_id,
                "resolve_write",
                {"call_id": item["idempotency_key"], "action": "not_performed"},
                by="ops",
            )
            result = await run.result(timeout=30)
            assert result.status == "completed", result
            (resolved,) = await _tool_events(rt, run.run_id)
    finally:
        await server.aclose()
    assert isinstance(resolved, ToolFailed)
    assert resolved.attempt == 0  # decided by the operator, never re-run
    assert resolved.error.error_code == "write_not_performed"


async def test_a_server_killed_while_idle_is_restarted_for_the_next_call(
    shop: MCPServer, store_url: str
) -> None:
    """The session notices the dead server, so the next call reconnects before sending."""
    first = await shop.call("whoami", {})
    conn = shop._conn
    assert conn is not None
    os.kill(int(first["result"]), signal.SIGKILL)
    # The SDK offers no event for "the server's stdout ended": poll its flag.
    while not conn.transport_closed():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    (completed,) = await _run(_agent([tool_call("whoami"), text("done")], shop), store_url)
    assert isinstance(completed, ToolCompleted)
    assert completed.result != first


async def test_a_hanging_tool_times_out_and_the_session_survives(
    shop: MCPServer, store_url: str
) -> None:
    script = [tool_call("hang"), tool_call("lookup_order", order_id="1"), text("done")]
    hung, after = await _run(_agent(script, shop), store_url)
    assert isinstance(hung, ToolFailed)
    assert hung.error.error_code == "timeout"
    assert "did not answer within 2s" in hung.error.message
    assert isinstance(after, ToolCompleted)


async def test_an_oversized_result_is_capped(shop: MCPServer, store_url: str) -> None:
    (failed,) = await _run(_agent([tool_call("huge"), text("done")], shop), store_url)
    assert isinstance(failed, ToolFailed)
    assert failed.error.error_code == "result_too_large"


# -- a server that breaks the protocol ----------------------------------------------------------


async def test_malformed_json_rpc_is_a_protocol_error(liar: MCPServer, store_url: str) -> None:
    """Non-JSON lines are skipped; a result of the wrong shape fails the call, not the run."""
    script = [tool_call("garbage"), tool_call("noise"), text("done")]
    garbage, noise = await _run(_agent(script, liar), store_url)
    assert isinstance(garbage, ToolFailed)
    assert garbage.error.error_code == "mcp_protocol_error"
    assert "malformed result" in garbage.error.message
    assert isinstance(noise, ToolCompleted)
    assert noise.result == "fine"


async def test_a_result_that_breaks_its_output_schema_is_an_error(
    liar: MCPServer, store_url: str
) -> None:
    (failed,) = await _run(_agent([tool_call("liar"), text("done")], liar), store_url)
    assert isinstance(failed, ToolFailed)
    assert failed.error.error_code == "mcp_protocol_error"
    assert "'many' is not of type 'integer'" in failed.error.message


async def test_a_server_refusing_what_its_schema_allows_is_a_tool_error(
    liar: MCPServer, store_url: str
) -> None:
    (failed,) = await _run(_agent([tool_call("picky", x="a"), text("done")], liar), store_url)
    assert isinstance(failed, ToolFailed)
    assert failed.error.error_code == "tool_error"
    assert "x must be a number" in failed.error.message


# -- streamable HTTP ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    import time

    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"the HTTP MCP server exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("the HTTP MCP server did not start listening")


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    """The shop served over streamable HTTP on 127.0.0.1, in a subprocess."""
    port = _free_port()
    proc = subprocess.Popen(
        [*SHOP, "--http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_listening(port, proc)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
async def http_shop(http_url: str) -> AsyncIterator[MCPServer]:
    server = MCPServer.http(
        http_url, name="shop", headers={"X-Test": "1"}, effects={"lookup_order": "read"}
    )
    yield server
    await server.aclose()


async def test_http_server_tools_join_the_registry_and_run(
    http_shop: MCPServer, store_url: str
) -> None:
    await http_shop.refresh()  # the snapshot taken on the runtime's own loop
    agent = _agent([tool_call("lookup_order", order_id="3"), text("done")], http_shop)
    assert {"lookup_order", "refund", "hang"} <= set(agent.registry)
    assert agent.registry["refund"].requires_approval is True
    (completed,) = await _run(agent, store_url)
    assert isinstance(completed, ToolCompleted)
    assert completed.result == {"result": "order 3: shipped"}


async def test_http_refresh_reports_an_unchanged_list(http_shop: MCPServer) -> None:
    assert await http_shop.refresh() is True  # the first listing
    assert await http_shop.refresh() is False
    await http_shop.ping()


async def test_an_unreachable_http_server_is_a_retryable_error(store_url: str) -> None:
    """Nothing was sent, so even a write may be retried; it ends as ``transient``."""
    server = MCPServer.http(
        f"http://127.0.0.1:{_free_port()}/mcp",
        name="gone",
        retry=RetryPolicy(max_attempts=2, initial_delay=0),
        connect_timeout=5,
    )
    server._snapshot([{"name": "ping_it", "inputSchema": {"type": "object"}, "description": "x"}])
    agent = _agent([tool_call("ping_it"), text("done")], server)
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "go")
        assert (await run.result()).status == "waiting"  # an unknown server's tool: a write
        (pending,) = await run.pending_approvals()
        await rt.approve(run.run_id, pending.approval_id, by="ana")
        result = await rt.get(run.run_id).result()
        events = await _tool_events(rt, run.run_id)
    await server.aclose()
    assert result.status == "completed"
    failed = events[-1]
    assert isinstance(failed, ToolFailed)
    assert (failed.error.error_code, failed.attempt) == ("transient", 2)
    assert "unavailable" in failed.error.message


async def test_concurrent_first_calls_open_one_session(http_shop: MCPServer) -> None:
    http_shop.contracts()
    results = await asyncio.gather(
        *(http_shop.call("lookup_order", {"order_id": "1"}) for _ in range(5))
    )
    assert all(r == {"result": "order 1: shipped"} for r in results)
