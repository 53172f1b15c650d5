"""A real server for the API tests: uvicorn on a free 127.0.0.1 port, in its own thread.

The thread runs its own event loop with an open :class:`Runtime` on a SQLite file
store, and ``create_app`` on top; tests talk HTTP to it like any client and reach into
its loop with :meth:`LiveServer.call` when they need the runtime or the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

import uvicorn
from fastapi import FastAPI

from tether import Agent, Runtime
from tether.server import create_app
from tether.store import new_api_key


class _Uvicorn(uvicorn.Server):
    """uvicorn that says when it listens, instead of being polled for it."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self.up.set()


class LiveServer:
    """A running server: its URL, its loop and its runtime."""

    def __init__(
        self,
        url: str,
        loop: asyncio.AbstractEventLoop,
        runtime: Runtime,
        app: FastAPI,
        server: _Uvicorn,
    ) -> None:
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.loop = loop
        self.runtime = runtime
        self.app = app
        self._server = server

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        """Run ``coro`` on the server's loop (where the runtime lives) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=timeout)

    def key(self, tenant: str, scopes: Sequence[str], *, label: str | None = None) -> str:
        """A new API key for ``tenant`` with ``scopes`` (stored hashed, as the CLI does)."""
        record, key = new_api_key(tenant, scopes, label=label)
        self.call(self.runtime.store.create_api_key(record))
        return key

    def revoke(self, key: str) -> None:
        """Revoke a key made by :meth:`key`."""
        key_id = key.split("_", 2)[1]
        self.call(self.runtime.store.revoke_api_key(key_id))


@contextlib.contextmanager
def live_server(
    store_url: str,
    agents: Sequence[Agent],
    *,
    app_options: Mapping[str, Any] | None = None,
    runtime_options: Mapping[str, Any] | None = None,
    send_buffer: int | None = None,
) -> Iterator[LiveServer]:
    """Serve ``agents`` over HTTP until the block ends.

    ``send_buffer`` sets the kernel send buffer of every accepted connection (they
    inherit it from the listening socket), so a client that stops reading pushes back
    on the server after a few kilobytes instead of megabytes.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if send_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    ready: Future[LiveServer] = Future()

    async def main() -> None:
        try:
            async with Runtime(store_url, **(runtime_options or {})) as runtime:
                app = create_app(runtime, {a.name: a for a in agents}, **(app_options or {}))
                config = uvicorn.Config(
                    app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2
                )
                server = _Uvicorn(config)
                serving = asyncio.create_task(server.serve(sockets=[sock]))
                up = asyncio.create_task(server.up.wait())
                await asyncio.wait({serving, up}, return_when=asyncio.FIRST_COMPLETED)
                if not server.up.is_set():
                    await serving  # raises why it did not start
                    raise RuntimeError("uvicorn stopped before it listened")
                loop = asyncio.get_running_loop()
                ready.set_result(LiveServer(f"http://127.0.0.1:{port}", loop, runtime, app, server))
                await serving
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    live = ready.result(timeout=60)
    try:
        yield live
    finally:
        live._server.should_exit = True
        thread.join(timeout=30)
        sock.close()
