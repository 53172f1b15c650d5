"""MCP servers as tool sources: their tools become ordinary :class:`ToolContract` s.

``MCPServer.stdio([...], name=...)`` or ``MCPServer.http(url, name=...)`` goes straight
into ``Agent(tools=[...])``. Each tool the server lists becomes a contract with the same
fields as a native tool, so it passes through the same policy gate, budgets, timeouts,
retries and journal: the contract's function is a call over the server's session.

- **Effects.** ``effects={"search": "read"}`` sets a tool's effect; any other tool gets
  ``default_effect``, which is ``"write"``: an unknown server's tools are writes, and
  (unless ``requires_approval`` says otherwise) every write of a server needs approval.
- **Schemas.** A tool's JSON Schema is the server's ``inputSchema``; arguments are
  validated against it before the gate sees them, and a mismatch is the same
  ``invalid_arguments`` error a native tool gives. A schema is untrusted input: it may
  not reference anything outside itself (nothing is ever fetched or read), its
  patterns run on a linear-time engine, and its size is capped (see ``_mcp_schema``).
- **Names.** Tools keep their MCP names; one that collides with another tool of the
  agent (a native one, or one another server lists too) is prefixed
  ``{server name}_`` (see :func:`expand_tools`).
- **Snapshot.** The tool list is read once, when the first agent using the server is
  built (or at ``await server.refresh()``), and that snapshot is what every agent built
  from it sees: the prompt's tool list and the agent version never change under a live
  run. A server that changes its tools is picked up by the next agent built after a
  refresh; since the schemas are part of the agent version, runs pinned to the old
  tools do not silently resume under the new ones.
- **Sessions.** One session per server and event loop, opened on first use and kept:
  a background health check pings it while idle, a dead session is closed and the next
  call reconnects (restarting a stdio server). A call that cannot connect is a
  retryable error (nothing was sent); a call whose connection drops mid-way is a
  ``ConnectionError``, so the executor retries reads and reports a write as uncertain.

The ``mcp`` SDK is imported only when a server is built or used; without the extra,
building one fails with the exact ``pip install`` line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from tether.exceptions import AgentDefinitionError
from tether.tools._contract import Effect, RetryPolicy, Risk, ToolContract, tool
from tether.tools._errors import ToolCallError, TransientToolError
from tether.tools._mcp_schema import iter_problems, vet_tool
from tether.tools._mcp_session import (
    PING_TIMEOUT,
    Connection,
    Http,
    Stdio,
    list_tools,
    open_session,
)
from tether.tools._serialize import DEFAULT_MAX_RESULT_BYTES

if TYPE_CHECKING:
    pass

log = logging.getLogger("tether.tools.mcp")

INSTALL_HINT = "pip install 'tether-runtime[mcp]'"
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_MAX_MESSAGE = 2000


def require_mcp() -> None:
    """Raise ``ImportError`` naming the extra to install when the ``mcp`` SDK is missing."""
    try:
        import jsonschema_rs  # noqa: F401  -- validates the servers' schemas, no I/O
        import mcp  # noqa: F401  -- presence check only
    except ImportError as exc:
        raise ImportError(
            f"MCP support needs the optional 'mcp' dependency: {INSTALL_HINT}"
        ) from exc


class MCPConnectionLostError(ConnectionError):
    """The server's connection ended while a call was in flight: its outcome is unknown."""


@dataclass(kw_only=True, slots=True, frozen=True, eq=False)
class MCPToolContract(ToolContract):
    """A tool served by an MCP server: validated against its JSON Schema, called remotely.

    Attributes:
        server: The server that serves the tool.
        remote_name: The tool's name on the server (``name`` may carry a prefix).
        validator: A compiled validator of ``parameters`` (``None`` when the server's
            schema was refused: every call is then refused).
        schema_problem: Why the server's schema was refused (see ``_mcp_schema``).
    """

    server: MCPServer
    remote_name: str
    validator: Any = field(default=None, repr=False)
    schema_problem: str | None = None

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Check the arguments against the server's ``inputSchema``; they are not coerced.

        Raises:
            pydantic.ValidationError: They do not match (the executor's ``invalid_arguments``).
        """
        if self.validator is None:
            raise _validation_error(
                [((), self.schema_problem or "the server published an invalid JSON Schema")]
            )
        problems = iter_problems(self.validator, dict(arguments))
        if problems:
            raise _validation_error(problems)
        return dict(arguments)

    def normalize(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The validated arguments, unchanged (JSON Schema validation does not coerce)."""
        return self.validate(arguments)


def _validation_error(problems: Sequence[tuple[tuple[Any, ...], str]]) -> ValidationError:
    details = [
        InitErrorDetails(
            type=PydanticCustomError("json_schema", "{message}", {"message": message[:500]}),
            loc=tuple(p if isinstance(p, int) else str(p) for p in loc),
            input=None,
        )
        for loc, message in problems
    ]
    return ValidationError.from_exception_data("arguments", details)


class MCPServer:
    """An MCP server whose tools join an agent's registry; build with :meth:`stdio` or :meth:`http`.

    The object holds the server's configuration, its tool-list snapshot and its live
    session. Close it when the runtime that uses it closes (``await server.aclose()``, or
    ``async with server:``); a closed server reconnects if it is used again.
    """

    def __init__(
        self,
        transport: Stdio | Http,
        *,
        name: str,
        effects: Mapping[str, Effect] | None = None,
        default_effect: Effect = "write",
        requires_approval: bool | Collection[str] | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
        risk: Risk = "medium",
        owner: str | None = None,
        connect_timeout: float = 15.0,
        health_interval: float = 30.0,
    ) -> None:
        require_mcp()
        if not isinstance(name, str) or not _SERVER_NAME.match(name):
            raise AgentDefinitionError(
                f"MCP server name {name!r} must be 1-32 letters, digits, '_' or '-'"
            )
        for tool_name, effect in (effects or {}).items():
            if effect not in ("read", "write"):
                raise AgentDefinitionError(
                    f"MCP server {name!r}: effect of {tool_name!r} must be 'read' or 'write', "
                    f"not {effect!r}"
                )
        if default_effect not in ("read", "write"):
            raise AgentDefinitionError(
                f"MCP server {name!r}: default_effect must be 'read' or 'write'"
            )
        if not connect_timeout > 0 or not health_interval > 0:
            raise AgentDefinitionError(
                f"MCP server {name!r}: connect_timeout and health_interval must be positive"
            )
        self.name = name
        self.transport = transport
        self.effects: dict[str, Effect] = dict(effects or {})
        self.default_effect: Effect = default_effect
        self.requires_approval = (
            requires_approval
            if requires_approval is None or isinstance(requires_approval, bool)
            else frozenset(requires_approval)
        )
        self.timeout = timeout
        self.retry = retry
        self.max_result_bytes = max_result_bytes
        self.risk: Risk = risk
        self.owner = owner
        self.connect_timeout = connect_timeout
        self.health_interval = health_interval
        self.tools_changed = False
        """Set when the server announced ``notifications/tools/list_changed``."""
        self._listing: list[dict[str, Any]] | None = None
        self._contracts: list[MCPToolContract] | None = None
        self._conn: Connection | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def stdio(
        cls,
        command: Sequence[str],
        *,
        name: str,
        effects: Mapping[str, Effect] | None = None,
        default_effect: Effect = "write",
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        **options: Any,
    ) -> MCPServer:
        """A server started as a subprocess and spoken to over its stdin and stdout.

        Args:
            command: The program and its arguments, e.g. ``["uvx", "mcp-server-git"]``.
            name: Short name of the server (prefix of colliding tool names).
            effects: Effect of each tool by its MCP name; others get ``default_effect``.
            default_effect: Effect of tools not in ``effects`` (default ``"write"``).
            env: Extra environment variables. The server otherwise gets the MCP SDK's
                small default environment (``PATH``, ``HOME``...), never this process's
                secrets.
            cwd: Working directory of the server.
            **options: ``requires_approval`` (``None``: every write; ``True``/``False``;
                or a collection of tool names), ``timeout``, ``retry``,
                ``max_result_bytes``, ``risk``, ``owner``, ``connect_timeout``,
                ``health_interval``.
        """
        if isinstance(command, str) or not command or not all(isinstance(c, str) for c in command):
            raise AgentDefinitionError(
                f"MCP server {name!r}: command must be a non-empty list of strings, "
                "e.g. ['python', 'server.py']"
            )
        transport = Stdio(command=tuple(command), env=dict(env) if env else None, cwd=cwd)
        return cls(transport, name=name, effects=effects, default_effect=default_effect, **options)

    @classmethod
    def http(
        cls,
        url: str,
        *,
        name: str,
        headers: Mapping[str, str] | None = None,
        effects: Mapping[str, Effect] | None = None,
        default_effect: Effect = "write",
        **options: Any,
    ) -> MCPServer:
        """A server reached over streamable HTTP at ``url`` (e.g. ``http://127.0.0.1:8000/mcp``).

        Args:
            url: The server's MCP endpoint.
            name: Short name of the server.
            headers: Headers sent with every request (e.g. ``Authorization``).
            effects: Effect of each tool by its MCP name.
            default_effect: Effect of tools not in ``effects`` (default ``"write"``).
            **options: As for :meth:`stdio`.
        """
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise AgentDefinitionError(f"MCP server {name!r}: url must be http(s), not {url!r}")
        transport = Http(url=url, headers=dict(headers) if headers else None)
        return cls(transport, name=name, effects=effects, default_effect=default_effect, **options)

    def __repr__(self) -> str:
        where = (
            " ".join(self.transport.command)
            if isinstance(self.transport, Stdio)
            else self.transport.url
        )
        return f"MCPServer(name={self.name!r}, {where!r})"

    # -- the tool-list snapshot -------------------------------------------------------------

    def contracts(self) -> list[MCPToolContract]:
        """The server's tools as contracts, from the snapshot (listed now if there is none).

        Listing without a snapshot connects once in a helper thread with its own event
        loop, so it works from sync code and inside a running loop alike (it blocks the
        caller until the server answers, at most ``connect_timeout``); async code can take
        the snapshot first with ``await server.refresh()`` instead.

        Raises:
            AgentDefinitionError: The server cannot be reached or listed.
        """
        if self._contracts is None:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tether-mcp") as pool:
                future = pool.submit(asyncio.run, self._list_once())
                try:
                    listing = future.result()
                except Exception as exc:
                    raise AgentDefinitionError(
                        f"MCP server {self.name!r} could not list its tools: {_describe(exc)}"
                    ) from exc
            self._snapshot(listing)
        assert self._contracts is not None
        return list(self._contracts)

    async def refresh(self) -> bool:
        """List the tools again over the live session; returns whether the list changed.

        Agents built afterwards see the new snapshot; agents already built keep theirs.
        """
        conn = await self._connection()
        listing = await list_tools(conn.session_or_raise())
        changed = listing != self._listing
        if changed or self._contracts is None:
            self._snapshot(listing)
        self.tools_changed = False
        return changed

    def _snapshot(self, listing: list[dict[str, Any]]) -> None:
        self._listing = listing
        self._contracts = [self._contract(entry) for entry in listing]

    async def _list_once(self) -> list[dict[str, Any]]:
        async with contextlib.AsyncExitStack() as stack:
            session = await open_session(self, stack, message_handler=None)
            return await list_tools(session)

    def _contract(self, entry: dict[str, Any]) -> MCPToolContract:
        remote = str(entry["name"])
        effect = self.effects.get(remote, self.default_effect)
        rule = self.requires_approval
        if rule is None:
            approval = effect == "write"
        elif isinstance(rule, bool):
            approval = rule
        else:
            approval = remote in rule
        vetted = vet_tool(self.name, entry)
        return MCPToolContract(
            name=_local_name(remote),
            description=vetted.description,
            parameters=vetted.schema,
            fn=_remote_call(self, remote),
            is_async=True,
            effect=effect,
            risk=self.risk,
            owner=self.owner or f"mcp:{self.name}",
            version=f"mcp:{self.name}",
            # The executor's deadline also covers connecting (or restarting) on first use;
            # the call itself is held to ``timeout`` in :meth:`call`.
            timeout=float(self.timeout) + self.connect_timeout,
            retry=self.retry if self.retry is not None else RetryPolicy(),
            idempotent=False,
            requires_approval=approval,
            max_result_bytes=self.max_result_bytes,
            server=self,
            remote_name=remote,
            validator=vetted.validator,
            schema_problem=vetted.problem,
        )

    # -- calls ------------------------------------------------------------------------------

    async def call(self, tool: str, arguments: Mapping[str, Any]) -> Any:
        """Call ``tool`` on the server and return its result as JSON-compatible data.

        Raises:
            TransientToolError: The server could not be reached; nothing was sent.
            MCPConnectionLostError: The connection ended with the call in flight.
            ToolCallError: The server refused the call, reported a tool error, or
                answered with something that is not a valid result.
        """
        conn = await self._connection()
        session = conn.session_or_raise()
        conn.busy += 1
        try:
            async with asyncio.timeout(self.timeout):
                result = await session.call_tool(tool, dict(arguments))
        except TimeoutError:
            conn.suspect = True  # a hung tool or a hung server: ping before the next call
            raise TimeoutError(
                f"MCP tool {tool!r} on server {self.name!r} did not answer within {self.timeout:g}s"
            ) from None
        except asyncio.CancelledError:
            conn.suspect = True  # timed out or cancelled: check the server before trusting it
            raise
        except Exception as exc:
            raise self._call_error(conn, tool, exc) from exc
        finally:
            conn.busy -= 1
        conn.last_ok = time.monotonic()
        return _shape(self.name, tool, result)

    def _call_error(self, conn: Connection, tool: str, exc: Exception) -> Exception:
        from mcp import types

        code = getattr(exc, "code", None)
        error_type = getattr(getattr(exc, "error", None), "code", None)
        if _is_mcp_error(exc) and code is not None and error_type is not None:
            if code == types.CONNECTION_CLOSED:
                conn.kill()
                return MCPConnectionLostError(
                    f"the connection to MCP server {self.name!r} closed during the call of {tool!r}"
                )
            return ToolCallError(
                _clip(f"MCP server {self.name!r} answered {tool!r} with error {code}: {exc}"),
                hint="check the arguments against the tool's schema",
            )
        if isinstance(exc, OSError) or _is_stream_error(exc):
            conn.kill()
            return MCPConnectionLostError(
                f"the connection to MCP server {self.name!r} failed during the call of {tool!r}: "
                f"{_describe(exc)}"
            )
        if isinstance(exc, ValidationError):
            return ToolCallError(
                _clip(f"MCP server {self.name!r} sent a malformed result for {tool!r}: {exc}"),
                error_code="mcp_protocol_error",
                hint="this is a defect in the server; do not retry the same call",
            )
        return ToolCallError(
            _clip(f"MCP server {self.name!r} gave an invalid answer for {tool!r}: {exc}"),
            error_code="mcp_protocol_error",
            hint="this is a defect in the server; do not retry the same call",
        )

    async def ping(self) -> None:
        """Check the server answers (connecting first if needed)."""
        conn = await self._connection()
        async with asyncio.timeout(PING_TIMEOUT):
            await conn.session_or_raise().send_ping()

    # -- the session ------------------------------------------------------------------------

    async def _connection(self) -> Connection:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        async with self._lock:
            conn = self._conn
            if conn is not None and conn.loop is not loop:
                conn = self._conn = None  # a session of a finished loop cannot be reused
            if (
                conn is not None
                and not conn.dead
                and conn.needs_check(self.health_interval)
                and not await conn.healthy()
            ):
                conn.kill()
            if conn is not None and conn.dead:
                await conn.close()
                conn = self._conn = None
            if conn is None:
                conn = Connection(self)
                try:
                    await conn.open()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    raise TransientToolError(
                        _clip(f"MCP server {self.name!r} is unavailable: {_describe(exc)}"),
                        hint="the call was not sent; try again later",
                    ) from exc
                self._conn = conn
            return conn

    async def aclose(self) -> None:
        """Close the session (a stdio server's process ends); the next use reconnects."""
        conn, self._conn = self._conn, None
        if conn is not None and conn.loop is asyncio.get_running_loop():
            await conn.close()

    async def __aenter__(self) -> MCPServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _on_list_changed(self) -> None:
        self.tools_changed = True


def _remote_call(server: MCPServer, remote: str) -> Callable[..., Any]:
    async def call_mcp_tool(**arguments: Any) -> Any:
        return await server.call(remote, arguments)

    call_mcp_tool.__qualname__ = f"mcp:{server.name}:{remote}"
    return call_mcp_tool


def _shape(server: str, tool: str, result: Any) -> Any:
    """A ``CallToolResult`` as the model sees it: structured content, text, or summaries."""
    data = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    blocks = data.get("content") or []
    if data.get("isError"):
        raise ToolCallError(
            _clip(_text(blocks) or f"MCP tool {tool!r} on {server!r} reported an error")
        )
    structured = data.get("structuredContent")
    if structured is not None:
        return structured
    shaped = [_block(b) for b in blocks if isinstance(b, dict)]
    if len(shaped) == 1:
        return shaped[0]
    if shaped and all(isinstance(s, str) for s in shaped):
        return "\n".join(shaped)
    return shaped


def _block(block: dict[str, Any]) -> Any:
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind in ("image", "audio"):
        size = len(str(block.get("data", ""))) * 3 // 4
        return {"type": kind, "mimeType": block.get("mimeType"), "bytes": size}
    if kind == "resource":
        resource = block.get("resource") or {}
        return {k: resource[k] for k in ("uri", "mimeType", "text") if k in resource} | {
            "type": "resource"
        }
    return {k: v for k, v in block.items() if k in ("type", "uri", "name", "mimeType")}


def _text(blocks: list[Any]) -> str:
    return "\n".join(
        str(b.get("text", "")) for b in blocks if isinstance(b, dict) and b.get("type") == "text"
    )


def _local_name(remote: str) -> str:
    """A model-safe tool name: MCP allows characters some providers refuse."""
    if _TOOL_NAME.match(remote):
        return remote
    return re.sub(r"[^A-Za-z0-9_-]", "_", remote)[:64] or "tool"


def _is_mcp_error(exc: BaseException) -> bool:
    from mcp.shared import exceptions

    cls = getattr(exceptions, "MCPError", None) or getattr(exceptions, "McpError", None)
    return cls is not None and isinstance(exc, cls)


def _is_stream_error(exc: BaseException) -> bool:
    import anyio

    return isinstance(
        exc, anyio.ClosedResourceError | anyio.BrokenResourceError | anyio.EndOfStream
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _describe(exc.exceptions[0])
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "..."


def expand_tools(items: Iterable[Any]) -> list[ToolContract]:
    """Contracts of an agent's ``tools``: native tools first, then each MCP server's.

    An MCP tool whose name a native tool has, or that another MCP server lists too, is
    renamed ``{server name}_{tool}``: no server can take a name by being listed first (a
    hostile server ahead of a trusted one would otherwise receive the calls meant for
    the trusted one). A name two servers share is logged as a warning naming both.
    Native tools keep their names (two native tools with one name are the agent's error).
    """
    native: list[ToolContract] = []
    servers: list[MCPServer] = []
    for item in items:
        if isinstance(item, MCPServer):
            servers.append(item)
        else:
            native.append(item if isinstance(item, ToolContract) else tool(item))
    listed = [(server, server.contracts()) for server in servers]
    listers: dict[str, list[str]] = {}
    for server, contracts in listed:
        for contract in contracts:
            names = listers.setdefault(contract.name, [])
            if server.name not in names:
                names.append(server.name)
    for name, names in listers.items():
        if len(names) > 1:
            log.warning(
                "MCP servers %s all list a tool %r; none keeps the name, each serves it as %s",
                ", ".join(repr(n) for n in names),
                name,
                ", ".join(repr(f"{n}_{name}"[:64]) for n in names),
            )
    taken = {c.name for c in native}
    out = list(native)
    for server, contracts in listed:
        for contract in contracts:
            name = contract.name
            if name in taken or len(listers[name]) > 1:
                name = f"{server.name}_{name}"[:64]
                if name in taken:
                    raise AgentDefinitionError(
                        f"MCP server {server.name!r}: tool {contract.remote_name!r} collides "
                        f"with another tool even when prefixed ({name!r})"
                    )
                contract = _renamed(contract, name)
            taken.add(name)
            out.append(contract)
    return out


def _renamed(contract: MCPToolContract, name: str) -> MCPToolContract:
    import dataclasses

    return dataclasses.replace(contract, name=name)


def mcp_servers(contracts: Iterable[ToolContract]) -> list[MCPServer]:
    """The distinct MCP servers behind ``contracts`` (to close them with their runtime)."""
    seen: dict[int, MCPServer] = {}
    for contract in contracts:
        if isinstance(contract, MCPToolContract):
            seen.setdefault(id(contract.server), contract.server)
    return list(seen.values())
