"""``tether worker``: one member of a fleet that executes the runs in a store.

It serves every ``Agent`` the module defines, claims runs that need a driver (started by
clients, or left by a worker that died) up to ``--concurrency`` at once, and keeps them
with heartbeats. The first SIGTERM (or Ctrl-C) drains: no more claims, each run finishes
the step it is in and is given back, still ``running``, for another worker; then exit 0.
A second one ends the process at once (killed by that signal), which is safe too: the
leases expire and the runs are resumed from their logs elsewhere.

A store that cannot be reached yet (Postgres restarting, or not up yet when the fleet
starts) is waited for, with backoff, instead of ending the worker: a supervisor that
restarts workers during an outage would otherwise see them die in a loop. A store that
refuses for good (a wrong password, a schema newer than this code) still ends it.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console

from tether import Agent
from tether._cli._exit import EXIT_COMPLETED
from tether.exceptions import StoreError
from tether.runtime import SERVING_LOOP_SLICE

if TYPE_CHECKING:
    from tether import Runtime
    from tether.store import Store

_SHOW_EVERY = 2.0
"""Seconds between progress updates on a terminal."""
_REACH_BACKOFF = (0.1, 2.0)
"""First and longest wait between attempts to reach a store that is not answering."""


def _sqlite_note(store_url: str) -> str | None:
    if store_url.startswith("sqlite:"):
        return (
            "SQLite store: several workers on one machine share it safely (WAL, leases); "
            "for workers on several machines use a Postgres store"
        )
    return None


async def work(
    agents: list[Agent],
    store_url: str,
    *,
    concurrency: int,
    lease_ttl: float,
    say: Callable[[str], object],
    console: Console | None = None,
    quarantine_after: int = 3,
    tenant_concurrency: int | None = None,
    claim_interval: float | None = None,
) -> int:
    """Drive runs from the store until a signal drains this worker; returns the exit code.

    The fleet settings (``quarantine_after`` and on) go to :class:`~tether.Runtime` as they
    are; ``None`` keeps the runtime's default.
    """
    from tether import Runtime
    from tether.store import open_store, safe_store_url

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    stops = 0

    def on_signal(signum: int) -> None:
        nonlocal stops
        stops += 1
        if stops > 1:
            # Die of the signal as if nothing handled it. Safe: every commit is whole (a
            # transaction), the leases expire and another worker resumes each run from
            # its last commit.
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        stop.set()

    handled = (signal.SIGTERM, signal.SIGINT)
    for sig in handled:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        store = await _reach(open_store(store_url), stop, say)
        if store is None:
            say("stopped before the store answered; exiting")
            return EXIT_COMPLETED
        async with Runtime(
            store,
            agents=agents,
            concurrency=concurrency,
            lease_ttl=lease_ttl,
            quarantine_after=quarantine_after,
            tenant_concurrency=tenant_concurrency,
            claim_interval=claim_interval,
            # Heartbeats and signals stay timely while many runs wake at once.
            loop_slice=SERVING_LOOP_SLICE,
        ) as runtime:
            names = ", ".join(sorted(a.name for a in agents))
            settings = _settings(
                runtime, tenant_concurrency=tenant_concurrency, claim_interval=claim_interval
            )
            shown = safe_store_url(store_url)  # never its password
            say(f"worker {runtime.owner} serving {names} on {shown} ({settings})")
            note = _sqlite_note(store_url)
            if note:
                say(note)
            await _until(stop, runtime, console)
            driving = len(runtime.active_runs)
            say(
                f"draining: {driving} run{'s' if driving != 1 else ''} finish their current "
                "step, then go back to the store (a second SIGTERM exits at once)"
            )
            await runtime.drain()
            say("drained: every lease given back; exiting")
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
    return EXIT_COMPLETED


def _settings(
    runtime: Runtime, *, tenant_concurrency: int | None, claim_interval: float | None
) -> str:
    """The fleet settings in force, for the startup line; unset optional ones are left out."""
    parts = [
        f"concurrency {runtime.concurrency}",
        f"lease TTL {runtime.lease_ttl:g} s",
        f"quarantine after {runtime.quarantine_after}",
    ]
    if tenant_concurrency is not None:
        parts.append(f"tenant concurrency {tenant_concurrency}")
    if claim_interval is not None:
        parts.append(f"claim interval {claim_interval:g} s")
    return ", ".join(parts)


async def _reach(store: Store, stop: asyncio.Event, say: Callable[[str], object]) -> Store | None:
    """Open the store, waiting out transient failures; ``None`` if stopped meanwhile."""
    delay, longest = _REACH_BACKOFF
    while True:
        try:
            await store.open()
            return store
        except StoreError as exc:
            if not exc.transient:
                raise
            say(f"the store does not answer yet ({exc.message}); retrying in {delay:g} s")
        try:
            await asyncio.wait_for(stop.wait(), delay)
            return None
        except TimeoutError:
            delay = min(delay * 2, longest)


async def _until(stop: asyncio.Event, runtime: Runtime, console: Console | None) -> None:
    """Wait for the stop signal, showing how busy the worker is on a terminal."""
    if console is None or not console.is_terminal:
        await stop.wait()
        return
    with console.status("") as status:
        while not stop.is_set():
            status.update(
                f"driving {len(runtime.active_runs)}/{runtime.concurrency} runs · Ctrl-C drains"
            )
            try:
                await asyncio.wait_for(stop.wait(), _SHOW_EVERY)
            except TimeoutError:
                continue
