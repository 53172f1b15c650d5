"""``tether tools --agents FILE_OR_MODULE``: the capabilities registry of a set of agents.

Every tool of every agent, with what a reviewer asks before letting an agent loose:
who owns it, whether it writes, its risk class and version, the hash of the schema the
model sees (part of the agent version), when it needs approval, its rate limit and
circuit breaker, and where it comes from (``native`` code, an ``mcp:SERVER``, or a
``builtin`` of Tether such as ``python_exec`` or ``http_fetch``). A table for people,
``--json`` for programs (one document: ``{"agents": [{"name", "version", "tools": [...]}]}``).

The rate limits and breakers shown are the agent's own (its contracts and its
``Policy``); a runtime's ``ToolGuard(default_breaker=...)`` is configured where the
runtime is built, and is not visible here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from tether import Agent
from tether._cli._session import Session
from tether.policy import PolicyFile, breaker_for, breaker_key, rate_limit_for
from tether.tools import Breaker, RateLimit, ToolContract


def tools_command(agents_ref: str, *, as_json: bool) -> None:
    """Load the agents ``agents_ref`` names and print their tools."""
    from tether._cli._load import load_agents
    from tether.exceptions import TetherError

    session = Session(None)
    try:
        agents = load_agents(agents_ref)
    except TetherError as exc:
        session.fail(exc.message)
    registry = describe_agents(agents)
    if as_json:
        typer.echo(json.dumps(registry, ensure_ascii=False, sort_keys=False))
        return
    _print(session, registry)


def describe_agents(agents: Sequence[Agent]) -> dict[str, Any]:
    """The registry as JSON-compatible data, agents and tools in a stable order."""
    return {
        "agents": [
            {
                "name": agent.name,
                "version": agent.version,
                "tools": [describe_tool(agent, c) for c in agent.registry.values()],
            }
            for agent in sorted(agents, key=lambda a: a.name)
        ]
    }


def describe_tool(agent: Agent, contract: ToolContract) -> dict[str, Any]:
    """One tool of one agent, as the registry shows it."""
    policy = agent.policy
    limit, bucket = rate_limit_for(contract, policy)
    breaker = breaker_for(contract, policy)
    return {
        "name": contract.name,
        "source": tool_source(contract),
        "owner": contract.owner,
        "effect": contract.effect,
        "risk": contract.risk,
        "version": contract.version,
        "schema_hash": contract.schema_fingerprint(),
        "approval": _approval(agent, contract),
        "rate_limit": _rate_limit(limit, bucket),
        "tenant_rate_limit": _rate_limit(policy.tenant_rate_limit, "tenant"),
        "breaker": _breaker(breaker, breaker_key(contract)),
        "idempotent": contract.idempotent,
        "timeout_s": contract.timeout,
        "max_attempts": contract.retry.max_attempts,
        "credentials": list(contract.credentials),
        "description": contract.description,
    }


def tool_source(contract: ToolContract) -> str:
    """Where a tool comes from: ``mcp:SERVER``, ``builtin`` (Tether's own) or ``native``."""
    server = getattr(contract, "server", None)
    name = getattr(server, "name", None)
    if isinstance(name, str) and name:
        return f"mcp:{name}"
    module = getattr(contract.fn, "__module__", None) or ""
    return "builtin" if module == "tether" or module.startswith("tether.") else "native"


def _approval(agent: Agent, contract: ToolContract) -> dict[str, Any]:
    """When a call of the tool needs a person, or is refused, before any argument is seen."""
    rule = contract.requires_approval
    if callable(rule):
        name = getattr(rule, "__qualname__", type(rule).__name__)
        required = f"when {name}(arguments)"
    else:
        required = "always" if rule else "never"
    policy = agent.policy
    allowed = policy.allow_tools is None or _matches_any(contract.name, policy.allow_tools)
    rules: list[dict[str, Any]] = []
    if isinstance(policy.rules, PolicyFile):  # a path was loaded when the Policy was built
        for item in policy.rules.rules:
            if item.action != "allow" and item.matches_tool(contract.name):
                rules.append({"rule": item.name, "action": item.action, "when": item.when})
    return {"contract": required, "rules": rules, "allowed": allowed}


def _matches_any(name: str, patterns: Sequence[str]) -> bool:
    import fnmatch

    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _rate_limit(limit: RateLimit | None, bucket: str) -> dict[str, Any] | None:
    if limit is None:
        return None
    return {
        "calls": limit.calls,
        "per_s": limit.per,
        "burst": limit.burst,
        "max_wait_s": limit.max_wait,
        "shared": limit.shared,
        "bucket": bucket,
        "text": limit.describe(),
    }


def _breaker(breaker: Breaker | None, key: str) -> dict[str, Any] | None:
    if breaker is None:
        return None
    return {
        "failures": breaker.failures,
        "reset_after_s": breaker.reset_after,
        "key": key,
        "text": breaker.describe(),
    }


def approval_text(approval: dict[str, Any]) -> str:
    """The approval column: the contract's rule, then the policy rules on the tool."""
    if not approval["allowed"]:
        return "denied (not in the allowlist)"
    parts = [str(approval["contract"])]
    for rule in approval["rules"]:
        when = f" when {rule['when']}" if rule["when"] else ""
        parts.append(f"{rule['action']} by {rule['rule']}{when}")
    return "; ".join(parts)


def _print(session: Session, registry: dict[str, Any]) -> None:
    for agent in registry["agents"]:
        tools = agent["tools"]
        session.out.print(
            Text(f"agent {agent['name']}", style="bold")
            + Text(f" (version {agent['version']}, {len(tools)} tools)")
        )
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("tool", "source", "owner", "effect", "risk", "ver", "schema"):
            table.add_column(column, no_wrap=True)
        table.add_column("approval")
        table.add_column("rate limit")
        table.add_column("breaker")
        for tool in tools:
            limits = [tool["rate_limit"]["text"]] if tool["rate_limit"] else []
            if tool["tenant_rate_limit"]:
                limits.append(f"tenant {tool['tenant_rate_limit']['text']}")
            breaker = tool["breaker"]
            table.add_row(
                Text(tool["name"], style="bold"),
                tool["source"],
                tool["owner"] or "-",
                Text(tool["effect"], style="yellow" if tool["effect"] == "write" else ""),
                Text(tool["risk"], style="red" if tool["risk"] == "high" else ""),
                tool["version"],
                Text(tool["schema_hash"][:12], style="dim"),
                approval_text(tool["approval"]),
                ", ".join(limits) or "-",
                f"{breaker['failures']} fails / {breaker['reset_after_s']:g}s" if breaker else "-",
            )
        session.out.print(table)
