"""The live side of an MCP server: its transport, its session and the task that owns them.

The SDK's transports and ``ClientSession`` are anyio context managers that must be exited
by the task that entered them, so each session has an owner task (:class:`Connection`)
that opens it, pings it while idle and closes it; run tasks call tools on it
concurrently. A session that fails a ping, or whose transport ends, is marked dead and
the next call opens a new one (restarting a stdio server).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tether.tools._errors import TransientToolError

if TYPE_CHECKING:
    from mcp import ClientSession

    from tether.tools._mcp import MCPServer

PING_TIMEOUT = 5.0
"""Seconds a health-check ping may take before the session counts as dead."""


@dataclass(kw_only=True, slots=True, frozen=True)
class Stdio:
    """A server started as ``command``, spoken to over its stdin and stdout."""

    command: tuple[str, ...]
    env: Mapping[str, str] | None
    cwd: str | None


@dataclass(kw_only=True, slots=True, frozen=True)
class Http:
    """A server reached over streamable HTTP at ``url``."""

    url: str
    headers: Mapping[str, str] | None


class Connection:
    """One live session, owned by a background task that entered its context managers.

    The SDK's transports and session are anyio context managers that must be exited by
    the task that entered them; calls from run tasks use the session concurrently.
    """

    def __init__(self, server: MCPServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.session: ClientSession | None = None
        self.dead = False
        self.suspect = False
        self.busy = 0
        self.last_ok = time.monotonic()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def session_or_raise(self) -> ClientSession:
        if self.session is None or self.dead:
            raise TransientToolError(
                f"MCP server {self.server.name!r} is not connected",
                hint="the call was not sent; try again",
            )
        return self.session

    async def open(self) -> None:
        ready: asyncio.Future[None] = self.loop.create_future()
        self._task = asyncio.create_task(self._own(ready), name=f"mcp:{self.server.name}")
        try:
            await ready
        except BaseException:
            await self.close()
            raise

    async def _own(self, ready: asyncio.Future[None]) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                session = await open_session(self.server, stack, message_handler=self._on_message)
                # Caches the output schemas the SDK validates results against.
                async with asyncio.timeout(self.server.connect_timeout):
                    await session.list_tools()
                self.session = session
                self.last_ok = time.monotonic()
                ready.set_result(None)
                await self._watch(session)
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
        finally:
            self.dead = True
            self.session = None
            if not ready.done():
                ready.cancel()

    async def _watch(self, session: ClientSession) -> None:
        """Ping the server while the session is idle; stop on close or a failed ping."""
        interval = self.server.health_interval
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._stop.wait()
                    return
            if self.busy:
                continue
            try:
                async with asyncio.timeout(PING_TIMEOUT):
                    await session.send_ping()
            except Exception:
                return  # dead: the next call reconnects
            self.last_ok = time.monotonic()

    async def _on_message(self, message: Any) -> None:
        root = getattr(message, "root", message)
        if getattr(root, "method", None) == "notifications/tools/list_changed":
            self.server._on_list_changed()

    def needs_check(self, interval: float) -> bool:
        if self.transport_closed():
            self.kill()
            return False
        return self.suspect or time.monotonic() - self.last_ok > interval

    def transport_closed(self) -> bool:
        """Whether the session already saw its transport end (a server that exited).

        Reads the SDK dispatcher's private flag (best effort; ``False`` when absent), so
        a call after a crash reconnects first instead of failing as possibly in flight.
        """
        dispatcher = getattr(self.session, "_dispatcher", None)
        return bool(getattr(dispatcher, "_closed", False))

    async def healthy(self) -> bool:
        session = self.session
        if session is None:
            return False
        try:
            async with asyncio.timeout(PING_TIMEOUT):
                await session.send_ping()
        except Exception:
            return False
        self.suspect = False
        self.last_ok = time.monotonic()
        return True

    def kill(self) -> None:
        """Mark the session dead and have its owner close it."""
        self.dead = True
        self._stop.set()

    async def close(self) -> None:
        self.kill()
        task = self._task
        if task is not None and not task.done():
            # Bounded: the SDK's stdio shutdown escalates to SIGKILL within a few seconds.
            done, _ = await asyncio.wait({task}, timeout=10.0)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def open_session(
    server: MCPServer,
    stack: contextlib.AsyncExitStack,
    *,
    message_handler: Any,
) -> ClientSession:
    """Start the transport and an initialized session on ``stack``."""
    from mcp import ClientSession

    transport = server.transport
    if isinstance(transport, Stdio):
        from mcp import StdioServerParameters, stdio_client

        params = StdioServerParameters(
            command=transport.command[0],
            args=list(transport.command[1:]),
            env=dict(transport.env) if transport.env else None,
            cwd=transport.cwd,
        )
        read, write = await stack.enter_async_context(stdio_client(params))
    else:
        read, write = await stack.enter_async_context(await _http_client(transport, stack))
    session = await stack.enter_async_context(
        ClientSession(read, write, message_handler=message_handler)
    )
    async with asyncio.timeout(server.connect_timeout):
        await session.initialize()
    return session


async def _http_client(transport: Http, stack: contextlib.AsyncExitStack) -> Any:
    """The SDK's streamable-HTTP transport with the configured headers.

    The HTTP client is ours to close (the SDK closes only a client it created), so it
    goes on ``stack`` first and closes after the transport.
    """
    from mcp.client import streamable_http

    headers = dict(transport.headers) if transport.headers else None
    modern = getattr(streamable_http, "streamable_http_client", None)
    if modern is not None:
        from mcp.shared._httpx_utils import create_mcp_http_client

        client = await stack.enter_async_context(create_mcp_http_client(headers=headers))
        return modern(transport.url, http_client=client)
    return streamable_http.streamablehttp_client(  # type: ignore[attr-defined]  # mcp 1.x
        transport.url, headers=headers
    )


async def list_tools(session: ClientSession) -> list[dict[str, Any]]:
    """Every tool the server lists (all pages, at most 100), in wire form."""
    from mcp import types

    tools: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        result = await session.list_tools(params=params)
        tools.extend(
            t.model_dump(by_alias=True, mode="json", exclude_none=True) for t in result.tools
        )
        data = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        cursor = data.get("nextCursor")
        if not cursor:
            break
    return tools
