"""``tether tools --agents FILE_OR_MODULE [--json]``: every tool, who owns it, how it is guarded."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tether import Agent, tool
from tether._cli._load import load_agent
from tether.cli import EXIT_USAGE, app
from tether.testing import ScriptedModel, text

AGENTS = str(Path(__file__).with_name("tools_agents.py"))


def _registry(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["tools", "--agents", AGENTS, "--json", *args])
    assert result.exit_code == 0, result.output
    registry: dict[str, Any] = json.loads(result.stdout)
    return registry


def _tools(registry: dict[str, Any], agent: str) -> dict[str, dict[str, Any]]:
    (found,) = [a for a in registry["agents"] if a["name"] == agent]
    return {t["name"]: t for t in found["tools"]}


def test_json_lists_every_tool_of_every_agent_with_its_contract() -> None:
    """Owner, effect, risk, version, schema hash and source for native, MCP and built-in tools."""
    agent = load_agent(f"{AGENTS}:support")
    registry = _registry()
    assert [a["name"] for a in registry["agents"]] == ["analyst", "support"]
    assert registry["agents"][1]["version"] == agent.version
    support = _tools(registry, "support")
    assert list(support) == ["lookup_order", "refund_order", "search_tickets", "http_fetch"]
    lookup, refund = support["lookup_order"], support["refund_order"]
    assert (lookup["source"], lookup["owner"], lookup["effect"], lookup["risk"]) == (
        "native",
        "orders-team",
        "read",
        "low",
    )
    assert lookup["version"] == "3"
    assert lookup["schema_hash"] == agent.registry["lookup_order"].schema_fingerprint()
    # A write declares no risk: it is "medium" by default.
    assert (refund["effect"], refund["risk"], refund["idempotent"]) == ("write", "medium", True)
    assert refund["credentials"] == ["stripe_key"]
    assert support["search_tickets"]["source"] == "mcp:helpdesk"
    assert support["http_fetch"]["source"] == "builtin"
    analyst = _tools(registry, "analyst")
    assert (analyst["python_exec"]["source"], analyst["python_exec"]["risk"]) == (
        "builtin",
        "high",
    )


def test_json_shows_approval_rules_rate_limits_and_breakers() -> None:
    """The contract's rule and the policy's, the allowlist, limits and breakers with their keys."""
    registry = _registry()
    support = _tools(registry, "support")
    refund = support["refund_order"]
    assert refund["approval"] == {
        "contract": "when _big(arguments)",
        "rules": [
            {"rule": "big-refunds", "action": "require_approval", "when": "amount_cents > 5000"}
        ],
        "allowed": True,
    }
    assert refund["breaker"] == {
        "failures": 3,
        "reset_after_s": 60.0,
        "key": "refund_order",
        "text": "opens after 3 failures, retries after 60s",
    }
    assert support["lookup_order"]["rate_limit"] == {
        "calls": 10,
        "per_s": 1,
        "burst": None,
        "max_wait_s": 0.0,
        "shared": True,
        "bucket": "lookup_order",
        "text": "10/1s",
    }
    assert support["lookup_order"]["tenant_rate_limit"]["text"] == "100/60s"
    # The server's breaker comes from the policy, keyed by the server: shared by its tools.
    assert support["search_tickets"]["breaker"]["key"] == "mcp:helpdesk"
    assert support["search_tickets"]["breaker"]["failures"] == 2
    assert support["http_fetch"]["breaker"] is None
    assert support["http_fetch"]["approval"]["contract"] == "never"
    analyst = _tools(registry, "analyst")
    assert analyst["lookup_order"]["approval"]["allowed"] is False
    assert analyst["python_exec"]["approval"]["allowed"] is True


def test_the_table_for_people() -> None:
    """One table per agent with the same facts, short enough to read."""
    result = CliRunner().invoke(app, ["tools", "--agents", AGENTS], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "agent support (version " in out and "4 tools" in out
    assert "agent analyst (version " in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    refund = lines["refund_order"]
    for part in ("native", "payments", "write", "medium", "when _big(arguments)"):
        assert part in refund, (part, refund)
    assert "require_approval by big-refunds when amount_cents > 5000" in refund
    assert "3 fails / 60s" in refund
    assert "10/1s, tenant 100/60s" in lines["lookup_order"]
    assert "mcp:helpdesk" in lines["search_tickets"] and "2 fails / 15s" in lines["search_tickets"]
    assert "builtin" in lines["python_exec"] and "high" in lines["python_exec"]
    assert "denied (not in the allowlist)" in out


def test_one_agent_by_name_and_a_bad_reference() -> None:
    """``FILE:NAME`` lists one agent; a missing file is one error line that says what to do."""
    result = CliRunner().invoke(app, ["tools", "--agents", f"{AGENTS}:analyst", "--json"])
    assert result.exit_code == 0, result.output
    assert [a["name"] for a in json.loads(result.stdout)["agents"]] == ["analyst"]
    missing = CliRunner().invoke(app, ["tools", "--agents", "no/such/file.py"])
    assert missing.exit_code == EXIT_USAGE
    assert "no file 'no/such/file.py'" in missing.stderr and "check the path" in missing.stderr


def test_a_schema_change_changes_the_schema_hash_and_the_agent_version() -> None:
    """Adding an argument changes the tool's fingerprint, so runs pinned to the old one stay put."""

    @tool
    def lookup(order_id: str) -> str:
        """Look an order up."""
        return order_id

    @tool(name="lookup")
    def lookup_v2(order_id: str, verbose: bool = False) -> str:
        """Look an order up."""
        return order_id

    def agent(contract: Any) -> Agent:
        return Agent(name="a", model=ScriptedModel([text("hi")]), tools=[contract])

    assert lookup.schema_fingerprint() != lookup_v2.schema_fingerprint()
    assert agent(lookup).version != agent(lookup_v2).version
    assert agent(lookup).version == agent(lookup).version
    # The contract version and the effect are in the fingerprint too.
    bumped = dataclasses.replace(lookup, version="2")
    assert bumped.schema_fingerprint() != lookup.schema_fingerprint()
    assert agent(bumped).version != agent(lookup).version


def test_a_real_mcp_servers_tools_are_listed_with_their_server(tmp_path: Path) -> None:
    """An agent with an MCP server (started over stdio): each tool is ``mcp:shop``."""
    shop = Path(__file__).parents[1] / "tools" / "mcp_servers" / "shop.py"
    agents = tmp_path / "mcp_agents.py"
    agents.write_text(
        "import sys\n"
        "from tether import Agent\n"
        "from tether.testing import ScriptedModel, text\n"
        "from tether.tools import MCPServer\n"
        f"shop = MCPServer.stdio([sys.executable, {str(shop)!r}], name='shop',\n"
        "                        effects={'search': 'read'})\n"
        "agent = Agent(name='mcp', model=ScriptedModel([text('hi')]), tools=[shop])\n"
    )
    # A real process: the stdio client hands the server the real stderr (CliRunner has none).
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "tether.cli", "tools", "--agents", str(agents), "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    tools = _tools(json.loads(result.stdout), "mcp")
    assert {t["source"] for t in tools.values()} == {"mcp:shop"}
    assert (tools["search"]["effect"], tools["search"]["approval"]["contract"]) == ("read", "never")
    assert (tools["refund"]["effect"], tools["refund"]["approval"]["contract"]) == (
        "write",
        "always",
    )
    assert tools["search"]["breaker"] is None
