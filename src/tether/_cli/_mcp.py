"""``tether mcp serve``: the tools of an agents module, served to MCP clients.

The tools every agent in ``--agents FILE_OR_MODULE`` registers are listed and called
over stdio (the default) or streamable HTTP on 127.0.0.1 (``--http --port N``). Each
call passes through the same gate as a call in a run of the agent that owns the tool:

- the arguments are validated and coerced by the contract (``invalid_arguments``);
- the agent's allowlist, policy rules and ``before_tool`` hook decide (``denied``);
- a call that needs approval (the contract's rule, a ``require_approval`` or
  ``escalate`` rule) is **not run**: the client gets an ``approval_required`` error,
  since there is no run here for a person to approve;
- the agent's budget limits on tool calls apply per client key (``budget_exceeded`` past
  the limit). ``tether mcp serve`` has no authentication, so every client of one server
  shares one key: a session is free to open, and a budget per session would be reset by
  reconnecting;
- the breakers and rate limits a run's gate applies (the tool's ``rate_limit`` and
  ``breaker``, ``Policy.rate_limits``, ``Policy.breakers``, ``Policy.tenant_rate_limit``
  counted for runs without a tenant) hold here too, through the same ``ToolGuard``: the
  runtime's with ``--store`` (shared limits then count in the store, with every worker),
  else one of this server's own;
- the executor runs it with the contract's timeout, retries and result cap, under a run
  id of its own per MCP session (``python_exec`` scratch is never shared between
  sessions); the session's scratch is removed when it ends (the server stops, or the
  session is idle for :data:`SESSION_IDLE` seconds).

What a call returns (its result, or its error) leaves the process as a run's tool
output reaches its model: a value the secrets broker handed to a tool (raw or encoded,
as a string, inside one, or as a mapping key) is replaced by ``[REDACTED]`` first, so
a tool that echoes its credential never hands it to the client. As in a run, that is
the only rewriting: the tool itself ran with the real secret.

Served calls are not journaled (there is no run); start a run for an audited trail.
With ``--store URL`` each agent is also served as a tool, ``run_{agent}``, that starts
a run on that store and returns its output (or where it parked, for a person).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from tether import Agent, Runtime
    from tether.policy import BreakerChange, ToolGuard
    from tether.tools import ToolContract

log = logging.getLogger("tether.mcp.serve")

mcp_app = typer.Typer(
    name="mcp",
    help="Model Context Protocol: serve the tools of your agents to MCP clients.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

_MAX_CLIENTS = 10_000
SESSION_IDLE = 30 * 60.0
"""Seconds after which an unused MCP session's run ends (the SDK's own idle timeout)."""


@dataclass(slots=True)
class ServedTool:
    """One tool as MCP clients see it, and the agent whose policy governs it."""

    name: str
    agent: Agent
    contract: ToolContract


@dataclass(slots=True)
class _ClientUse:
    """What one MCP client has called so far (the budget's tool-call dimensions)."""

    tool_calls: int = 0
    tool_counts: dict[str, int] = field(default_factory=dict)

    def reserve(self, tool: str) -> None:
        """Count a call of ``tool`` as it is admitted, before the gate's first await."""
        self.tool_calls += 1
        self.tool_counts[tool] = self.tool_counts.get(tool, 0) + 1

    def release(self, tool: str) -> None:
        """Give back the slot of an admitted call that was then refused or never ran."""
        self.tool_calls -= 1
        left = self.tool_counts.get(tool, 0) - 1
        if left > 0:
            self.tool_counts[tool] = left
        else:
            self.tool_counts.pop(tool, None)

    def as_use(self, cls: Any) -> Any:
        """The policy's ``Use`` with only tool calls counted (there is no model here)."""
        return cls(
            model_calls=0,
            tool_calls=self.tool_calls,
            tool_counts=self.tool_counts,
            input_tokens=0,
            output_tokens=0,
            cost_usd=0.0,
            wall_seconds=0.0,
        )


class ToolGateway:
    """The tools of some agents, each call gated by its agent's policy, per client.

    Args:
        agents: The agents whose tools are served. A tool name two agents define
            differently is served as ``{agent}_{tool}`` for each of them.
        runtime: When given, each agent is also a tool ``run_{agent}`` that starts a run,
            and calls go through the runtime's breakers and rate limits.
        guard: The breakers and rate limits (default: the runtime's, else a new one).
    """

    def __init__(
        self,
        agents: Sequence[Agent],
        runtime: Runtime | None = None,
        *,
        guard: ToolGuard | None = None,
    ) -> None:
        from tether.observe import Redactor
        from tether.policy import ToolGuard, default_broker

        self.agents = list(agents)
        # The redactor a run puts tool outputs through before the model reads them: the
        # broker's values only (calls here resolve their secrets from default_broker()).
        self.known_values = Redactor(
            field_names=(), patterns=(), values_source=default_broker().known_values
        )
        self.runtime = runtime
        if guard is None:
            guard = runtime.governance.guard if runtime is not None else ToolGuard()
        self.guard = guard
        owners: dict[str, list[tuple[Agent, ToolContract]]] = {}
        for agent in self.agents:
            for name, contract in agent.registry.items():
                owners.setdefault(name, []).append((agent, contract))
        self.tools: dict[str, ServedTool] = {}
        for name, pairs in owners.items():
            if len({id(c) for _, c in pairs}) == 1:
                agent, contract = pairs[0]
                self.tools[name] = ServedTool(name, agent, contract)
            else:
                for agent, contract in pairs:
                    served = f"{agent.name}_{name}"
                    self.tools[served] = ServedTool(served, agent, contract)
        self.run_tools: dict[str, Agent] = (
            {f"run_{a.name}": a for a in self.agents} if runtime is not None else {}
        )
        self._clients: dict[object, _ClientUse] = {}
        self._sessions: dict[object, _Session] = {}

    def list_tools(self) -> list[dict[str, Any]]:
        """The served tools in MCP wire form (name, description, inputSchema, annotations)."""
        listed = [
            {
                "name": served.name,
                "description": served.contract.description,
                "inputSchema": served.contract.parameters,
                "annotations": {
                    "readOnlyHint": served.contract.effect == "read",
                    "destructiveHint": served.contract.effect == "write",
                },
            }
            for served in self.tools.values()
        ]
        listed.extend(
            {
                "name": name,
                "description": f"Start a run of the agent {agent.name!r} on `input` and "
                "return its output (or where it waits for a person).",
                "inputSchema": {
                    "type": "object",
                    "properties": {"input": {"type": "string"}},
                    "required": ["input"],
                    "additionalProperties": False,
                },
            }
            for name, agent in self.run_tools.items()
        )
        return listed

    async def call(
        self,
        client: object,
        name: str,
        arguments: dict[str, Any],
        *,
        session: object | None = None,
    ) -> dict[str, Any]:
        """Gate and run one call; returns ``{"ok", "result" | "error"}``.

        Args:
            client: Whose budget the call counts against (a client identity the caller
                vouches for; any hashable value).
            name: The served tool.
            arguments: The call's arguments.
            session: The MCP session the call came in (default: ``client``): its calls
                share a run id, and so a ``python_exec`` scratch directory.
        """
        if name in self.run_tools:
            return await self._scrub(await self._run_agent(self.run_tools[name], arguments))
        served = self.tools.get(name)
        if served is None:
            return _error("unknown_tool", f"there is no tool named {name!r}")
        run_id = await self._session_run(client if session is None else session)
        return await self._scrub(await self._call_tool(client, served, arguments, run_id))

    async def _scrub(self, outcome: dict[str, Any]) -> dict[str, Any]:
        """``outcome`` without the broker's values: what a run's model would read of it.

        One scan of its JSON when it is clean; a large one is redacted in a worker thread.
        """
        from tether.observe import OFFLOAD_BYTES

        known = self.known_values
        data = json.dumps(outcome, ensure_ascii=False, default=str)
        if not known.scan(data):
            return outcome
        if len(data) > OFFLOAD_BYTES:
            import asyncio  # here: tether --help must not load asyncio

            cleaned: dict[str, Any] = await asyncio.to_thread(known.redact_value, outcome)
            return cleaned
        scrubbed: dict[str, Any] = known.redact_value(outcome)
        return scrubbed

    async def end_session(self, session: object) -> None:
        """End the run of an MCP session: its sandbox scratch is removed."""
        ended = self._sessions.pop(_key(session), None)
        if ended is not None:
            await _end_run(ended.run_id)

    async def aclose(self) -> None:
        """End every session's run (the server is stopping)."""
        ended = [s.run_id for s in self._sessions.values()]
        self._sessions.clear()
        for run_id in ended:
            await _end_run(run_id)

    async def _session_run(self, session: object) -> str:
        """The run id of ``session`` (a new one for a new session); ends idle sessions."""
        now = time.monotonic()
        key = _key(session)
        found = self._sessions.get(key)
        idle = [
            k for k, s in self._sessions.items() if k != key and now - s.last_used > SESSION_IDLE
        ]
        while len(self._sessions) - len(idle) >= _MAX_CLIENTS and found is None:
            oldest = next(k for k in self._sessions if k not in idle)
            idle.append(oldest)
        # Every change to the table before the first await: concurrent calls (the SDK
        # serves them so) would otherwise pop a stale session twice, or each open a run
        # for the same new session, the first one's never ended.
        ended = [self._sessions.pop(stale).run_id for stale in idle]
        if found is None:
            found = self._sessions[key] = _Session(run_id=f"mcp_{uuid.uuid4().hex}")
        found.last_used = now
        for run_id in ended:
            await _end_run(run_id)
        return found.run_id

    async def _call_tool(
        self, client: object, served: ServedTool, arguments: dict[str, Any], run_id: str
    ) -> dict[str, Any]:
        from pydantic import ValidationError

        from tether.exceptions import BudgetExceededError
        from tether.models import ToolCall
        from tether.policy import (
            Decision,
            Use,
            call_hook,
            check_tool_call,
            decide_call,
            hook_failure,
        )
        from tether.tools import ToolContext, execute_tool_call

        agent, contract = served.agent, served.contract
        tool_name = contract.name
        try:
            normalized = contract.normalize(arguments)
        except ValidationError as exc:
            return _error("invalid_arguments", f"invalid arguments for {served.name!r}: {exc}")
        except Exception as exc:  # RecursionError, or a validator's own failure
            return _error(
                "invalid_arguments",
                f"the arguments for {served.name!r} could not be checked "
                f"({type(exc).__name__}); it was not run",
            )
        call = ToolCall(id=f"mcp_{uuid.uuid4().hex[:12]}", name=tool_name, arguments=normalized)
        use = self._use(client)
        budget = agent.policy.budget
        if budget is not None:
            try:
                check_tool_call(budget, use.as_use(Use), tool_name, {})
            except BudgetExceededError as exc:
                return _error("budget_exceeded", exc.message)
        # Counted here, with no await since the check: the SDK serves a client's requests
        # concurrently, and a call counted only once it runs let every call waiting on the
        # store, the hook, the guard or a rate limit pass a check against the same count.
        # A call that is then refused, or never reaches the executor, gives its slot back.
        use.reserve(tool_name)
        ran = False
        try:
            hook = agent.policy.hooks.before_tool
            verdict = None
            if hook is not None:
                try:
                    answer = await call_hook(hook, call, call.arguments)
                except Exception as exc:  # fail closed, as in a run
                    verdict = hook_failure(tool_name, exc)
                else:
                    verdict = answer if isinstance(answer, Decision) else None
            # The runtime-wide kill switch lives in the store: with --store it stops writes
            # served here too (without a store there is no switch to read).
            killswitch = (
                contract.effect == "write"
                and self.runtime is not None
                and await self.runtime.killswitch_on()
            )
            decision = decide_call(
                agent.policy,
                contract,
                tool_name,
                normalized,
                killswitch_on=killswitch,
                hook_verdict=verdict,
            )
            if decision.action == "deny":
                return _error("denied", f"{served.name} was denied: {decision.reason}")
            if decision.action in ("require_approval", "escalate"):
                return _error(
                    "approval_required",
                    f"{served.name} needs a person's approval ({decision.reason}); it was not run",
                    hint="ask a person, or have a Tether run make this call where it can be "
                    "approved",
                )
            # Breakers and rate limits last, as in a run: a refused call takes no token.
            guarded = await self.guard.acquire(contract, policy=agent.policy, tenant=None)
            _log_breaker_changes(guarded.changes)
            if guarded.error is not None:
                return {"ok": False, "error": guarded.error.model_dump(exclude_none=True)}
            outcome = None
            try:
                if guarded.wait > 0:
                    import asyncio  # here: tether --help must not load asyncio

                    await asyncio.sleep(guarded.wait)
                secrets: dict[str, str] = {}
                if contract.credentials:
                    from tether.policy import default_broker

                    try:
                        secrets = await default_broker().aresolve(
                            contract.credentials, tool=tool_name
                        )
                    except Exception as exc:
                        return _error("missing_secret", str(exc))
                ctx = ToolContext(
                    run_id=run_id,
                    call_id=call.id,
                    tool_name=tool_name,
                    idempotency_key=call.id,
                    secrets=secrets,
                )
                ran = True
                outcome = await execute_tool_call(call, {tool_name: contract}, ctx)
            finally:
                if guarded.ticket is not None:
                    called = outcome is not None and outcome.attempts > 0
                    error = outcome.error if outcome is not None else None
                    _log_breaker_changes(self.guard.settle(guarded.ticket, error, called=called))
        finally:
            if not ran:
                use.release(tool_name)
        if outcome.ok:
            return {"ok": True, "result": outcome.result}
        assert outcome.error is not None
        return {"ok": False, "error": outcome.error.model_dump(exclude_none=True)}

    async def _run_agent(self, agent: Agent, arguments: dict[str, Any]) -> dict[str, Any]:
        task = arguments.get("input")
        if not isinstance(task, str) or set(arguments) != {"input"}:
            return _error("invalid_arguments", "send {'input': '<what the agent should do>'}")
        assert self.runtime is not None
        handle = await self.runtime.start(agent, task)
        result = await handle.result()
        if result.status == "completed":
            return {"ok": True, "result": result.output}
        if result.status in ("waiting", "escalated"):
            return _error(
                "run_parked",
                f"run {result.run_id} of {agent.name!r} is {result.status}"
                + (f" ({result.wait_reason})" if result.wait_reason else ""),
                hint=f"a person continues it (tether show {result.run_id}); the server "
                "finishes it once approved",
            )
        message = result.error.message if result.error is not None else result.status
        return _error("run_failed", f"run {result.run_id} of {agent.name!r} ended: {message}")

    def _use(self, client: object) -> _ClientUse:
        key = _key(client)
        use = self._clients.get(key)
        if use is None:
            if len(self._clients) >= _MAX_CLIENTS:  # forget the oldest client
                self._clients.pop(next(iter(self._clients)))
            use = self._clients[key] = _ClientUse()
        return use


@dataclass(slots=True)
class _Session:
    """One MCP session's run: its id keys the session's sandbox scratch."""

    run_id: str
    last_used: float = 0.0


def _key(who: object) -> object:
    """A dict key for a client or session: a string as is, any other object by identity."""
    return who if isinstance(who, str) else ("id", id(who))


async def _end_run(run_id: str) -> None:
    from tether.tools import Sandbox

    if Sandbox.in_use():
        with contextlib.suppress(Exception):
            import asyncio  # here: tether --help must not load asyncio

            await asyncio.to_thread(Sandbox.run_ended, run_id)


def _log_breaker_changes(changes: Sequence[BreakerChange]) -> None:
    """There is no run to record a breaker's move in: it goes to the log."""
    for change in changes:
        log.warning(
            "breaker %s: %s -> %s (%s)", change.key, change.previous, change.current, change.reason
        )


def _error(code: str, message: str, *, hint: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"error_code": code, "message": message}
    if hint is not None:
        error["hint"] = hint
    return {"ok": False, "error": error}


def build_server(gateway: ToolGateway) -> Any:
    """The MCP SDK's low-level ``Server`` answering ``tools/list`` and ``tools/call``."""
    from mcp import types
    from mcp.server.lowlevel import Server

    async def list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult.model_validate({"tools": gateway.list_tools()})

    async def call_tool(ctx: Any, params: Any) -> Any:
        client, session = _client_key(ctx)
        arguments = dict(params.arguments or {})
        outcome = await gateway.call(client, params.name, arguments, session=session)
        if outcome["ok"]:
            result = outcome["result"]
            shown = result if isinstance(result, str) else json.dumps(result, default=str)
            data: dict[str, Any] = {"content": [{"type": "text", "text": shown}]}
            if isinstance(result, dict):
                data["structuredContent"] = result
            return types.CallToolResult.model_validate(data)
        text = json.dumps(outcome["error"])
        return types.CallToolResult.model_validate(
            {"content": [{"type": "text", "text": text}], "isError": True}
        )

    return Server("tether", on_list_tools=list_tools, on_call_tool=call_tool)


def _client_key(ctx: Any) -> tuple[str, object]:
    """Whose budget a call counts against, and its MCP session.

    The budget's key is the transport: a stdio server has one client (the process that
    started it); HTTP clients are anonymous (loopback, no authentication) and a session
    costs nothing to open, so they share one budget rather than get a fresh one per
    session. The session is the MCP session id over HTTP, the connection over stdio.
    """
    request = getattr(ctx, "request", None)
    headers = getattr(request, "headers", None)
    session_id = headers.get("mcp-session-id") if headers is not None else None
    if session_id:
        return "http", f"http:{session_id}"
    return "stdio", ctx.session


async def serve_stdio(gateway: ToolGateway) -> None:
    """Serve over this process's stdin and stdout until the client disconnects."""
    from mcp.server.stdio import stdio_server

    server = build_server(gateway)
    try:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        await gateway.aclose()


async def serve_http(gateway: ToolGateway, port: int, say: Any) -> None:
    """Serve streamable HTTP on ``127.0.0.1:port`` at ``/mcp`` until interrupted."""
    import uvicorn

    server = build_server(gateway)
    app = server.streamable_http_app(host="127.0.0.1")
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    say(f"serving {len(gateway.list_tools())} tools over MCP on http://127.0.0.1:{port}/mcp")
    try:
        await uvicorn.Server(config).serve()
    finally:
        await gateway.aclose()


async def _serve(
    agents: list[Agent], *, http: bool, port: int, store_url: str | None, say: Any
) -> int:
    from tether import Runtime

    async with contextlib.AsyncExitStack() as stack:
        runtime = None
        if store_url is not None:
            runtime = await stack.enter_async_context(Runtime(store_url, agents=agents))
        gateway = ToolGateway(agents, runtime)
        await (serve_http(gateway, port, say) if http else serve_stdio(gateway))
    return 0


@mcp_app.command("serve")
def serve(
    agents_ref: Annotated[
        str,
        typer.Option(
            "--agents",
            metavar="FILE_OR_MODULE",
            help="path/to/file.py or package.module: the tools of every Agent it defines.",
            show_default=False,
        ),
    ],
    http: Annotated[
        bool, typer.Option("--http", help="Serve streamable HTTP on 127.0.0.1 (not stdio).")
    ] = False,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="HTTP port.")] = 8765,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            metavar="URL",
            help="Also serve each agent as a tool run_{agent} that starts a run on this store.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the agents' tools over MCP, each call gated by its agent's policy.

    Stdio by default (for an MCP client that starts this command); --http serves
    streamable HTTP at http://127.0.0.1:PORT/mcp. A call that needs approval is not
    run: the client gets an approval_required error.
    """
    import asyncio
    import sys

    from tether._cli._exit import EXIT_INTERRUPTED, EXIT_USAGE
    from tether._cli._load import load_agents
    from tether.exceptions import TetherError

    def fail(message: str) -> NoReturn:
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(EXIT_USAGE)

    try:
        import mcp  # noqa: F401  -- presence check: fail with the install line
    except ImportError:
        fail("tether mcp serve needs the [mcp] extra: pip install 'tether-runtime[mcp]'")
    try:
        agents = load_agents(agents_ref)
    except TetherError as exc:
        fail(exc.message)

    def say(line: str) -> None:
        print(line, file=sys.stderr)  # stdout belongs to the protocol on stdio

    try:
        code = asyncio.run(_serve(agents, http=http, port=port, store_url=store, say=say))
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None
    raise typer.Exit(code)
