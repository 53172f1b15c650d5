"""``tether worker``: one member of a fleet that executes the runs in a store.

It serves every ``Agent`` the module defines, claims runs that need a driver (started by
clients, or left by a worker that died) up to ``--concurrency`` at once, and keeps them
with heartbeats. The first SIGTERM (or Ctrl-C) drains: no more claims, each run finishes
the step it is in and is given back, still ``running``, for another worker; then exit 0.
A second one ends the process at once (killed by that signal), which is safe too: the
leases expire and the runs are resumed from their logs elsewhere.
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

if TYPE_CHECKING:
    from tether import Runtime

_SHOW_EVERY = 2.0
"""Seconds between progress updates on a terminal."""


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
) -> int:
    """Drive runs from the store until a signal drains this worker; returns the exit code."""
    from tether import Runtime

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
        async with Runtime(
            store_url, agents=agents, concurrency=concurrency, lease_ttl=lease_ttl
        ) as runtime:
            names = ", ".join(sorted(a.name for a in agents))
            say(
                f"worker {runtime.owner} serving {names} on {store_url} "
                f"(concurrency {concurrency}, lease TTL {lease_ttl:g} s)"
            )
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
