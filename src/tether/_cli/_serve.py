"""``tether serve``: the HTTP API (and UI, and metrics) over one store, driving its runs.

The agents come from a file or module: every ``Agent`` it defines at module level is
served by its name (``FILE.py:NAME`` serves just that one). The process is a full
runtime: it recovers runs whose process died, fires approval timers and continues
runs once they are approved, whether the decision came over HTTP or from the CLI.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Iterator

import uvicorn

from tether import Agent
from tether.runtime import SERVING_LOOP_SLICE


class _Server(uvicorn.Server):
    """uvicorn's server, stopped by SIGINT or SIGTERM as its normal end (exit 0).

    uvicorn re-raises the signal once it has shut down, which would turn every stop
    into an "interrupted" exit; a server has no other way to end.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (raises ``OSError`` if it is taken or not ours)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


async def serve(
    agents: list[Agent],
    store_url: str,
    sock: socket.socket,
    *,
    metrics_token: str | None,
    say: Callable[[str], object],
    worker: bool = True,
    max_pending: int | None = None,
    concurrency: int | None = None,
    tenant_concurrency: int | None = None,
) -> int:
    """Open a runtime on the store and serve the app on ``sock`` until interrupted.

    ``worker=False`` serves the API alone: its runtime is a pure client, and the runs it
    starts wait for ``tether worker`` processes on the same store. ``max_pending`` bounds
    the runs waiting to be executed: past it, starting one answers 429. ``concurrency``
    caps the runs the built-in worker drives at once, as ``tether worker --concurrency``
    does: the runs beyond it wait, pending, for a free slot, so ``max_pending`` bounds them
    (with no cap every start would be driven at once, and none would ever wait).
    ``tenant_concurrency`` caps each tenant's runs executing at once, fleet-wide, as
    ``tether worker --tenant-concurrency`` does (the built-in worker keeps it too).
    """
    from tether import Runtime
    from tether.observe import enable_tracing, tracing_requested
    from tether.server import create_app
    from tether.store import safe_store_url

    async with Runtime(
        store_url,
        agents=agents,
        worker=worker,
        max_pending=max_pending,
        concurrency=concurrency,
        tenant_concurrency=tenant_concurrency,
        # API requests and SSE streams stay answered while many runs wake at once.
        loop_slice=SERVING_LOOP_SLICE,
    ) as runtime:
        app = create_app(runtime, {a.name: a for a in agents}, metrics_token=metrics_token)
        host, port = sock.getsockname()[:2]
        shown_host = f"[{host}]" if ":" in host else host
        names = ", ".join(sorted(a.name for a in agents))
        shown_store = safe_store_url(store_url)  # never its password
        say(f"serving {names} on http://{shown_host}:{port} (store {shown_store})")
        if not worker:
            say(f"API only (--no-worker): runs wait for `tether worker --store {shown_store}`")
        if worker and concurrency is not None:
            say(f"concurrency {concurrency} (runs driven here at once; the others wait)")
        if worker and tenant_concurrency is not None:
            say(f"tenant concurrency {tenant_concurrency} (runs of one tenant at once)")
        if max_pending is not None:
            say(f"backpressure: past {max_pending} runs waiting, POST /v1/runs answers 429")
        say("API: /v1 (see /openapi.json) · UI: /ui · metrics: /metrics · health: /healthz")
        if not await runtime.store.list_api_keys():
            say(
                "no API keys yet: create one with `tether keys create --tenant NAME "
                f"--scopes runs:read,runs:write,approvals:write --store {shown_store}`"
            )
        config = uvicorn.Config(
            app,
            log_level="info",
            lifespan="on",
            timeout_graceful_shutdown=5,
            server_header=False,
        )
        # OpenTelemetry when the standard OTEL_* variables ask for it (needs [otel]).
        tracing = enable_tracing(runtime) if tracing_requested() else None
        if tracing is not None:
            say("tracing: spans exported as OTEL_* configures them")
        try:
            await _Server(config).serve(sockets=[sock])
            if worker:
                # Stopped by SIGTERM or Ctrl-C: drain as `tether worker` does, so every
                # run driven here finishes its step and is given back with a release mark
                # (not counted as a driver that died). A second signal now ends the
                # process at once (uvicorn has put the default handlers back): the
                # leases expire and the runs resume elsewhere from their logs.
                driving = len(runtime.active_runs)
                say(
                    f"draining: {driving} run{'s' if driving != 1 else ''} finish their "
                    "current step, then go back to the store (a second signal exits at once)"
                )
                await runtime.drain()
                say("drained: every lease given back; exiting")
        finally:
            if tracing is not None:
                await tracing.flush()  # a run span rebuilt from the log needs the store
                tracing.close()
    return 0
