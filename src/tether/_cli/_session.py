"""What every ``tether`` command shares: consoles, errors that say what to do, following a run.

``Session`` owns one command's consoles, its store URL and the hints it prints;
``follow`` streams a run until it stops and turns its final status into the exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
from collections.abc import AsyncGenerator, Coroutine, Iterable
from typing import Any, NoReturn, cast

import typer
from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.text import Text

from tether import Agent, LiveDelta, RunEvent, RunHandle, RunState, Runtime
from tether._cli._errors import internal_failure, store_failure
from tether._cli._exit import (
    EXIT_COMPLETED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    EXIT_WAITING,
)
from tether._cli._format import delta_json, event_json, summary_line, visible
from tether._cli._load import load_agent
from tether._cli._next import NextSteps
from tether._cli._render import EventPrinter
from tether.engine import TERMINAL, fold
from tether.exceptions import (
    AgentVersionMismatchError,
    ApprovalError,
    RunError,
    RunFinishedError,
    RunLeasedError,
    RunNotFoundError,
    RunNotWaitingError,
    TetherError,
    UserError,
)
from tether.store import Store, default_store_url, open_store, safe_store_url

_PIPE_WIDTH = 120
_WATCH_INTERVAL = 0.5
_DRIVEN = frozenset({"pending", "running"})
"""Statuses in which a run needs a driver; every other status is a stop (ended or parked)."""


# -- the context every command shares ---------------------------------------------------------


class SafeConsole(Console):
    """A console that never hands the terminal a control sequence from the text it prints.

    Every command prints run content (tool results and errors, replies, tool names,
    inputs), which an attacker may write. Rich passes ESC through, so such text could
    rewrite an approval line already on screen, write the clipboard (OSC 52) or clear
    the screen. Here every text segment a renderable yields (``render`` is what
    ``print`` and every nested renderable go through) passes :func:`visible` before
    styles are applied; Rich's own control segments (a live display's cursor moves) stay.
    """

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control:
                yield segment
            else:
                yield Segment(visible(segment.text), segment.style)


class Session:
    """One command's consoles, store URL and the "what to do next" hints it prints."""

    def __init__(self, store: str | None, *, agent_ref: str | None = None) -> None:
        # soft_wrap: long lines are left to the terminal, so copied commands stay whole.
        # No markup or emoji codes: run content (replies, tool results) is printed as written.
        self.out = SafeConsole(highlight=False, soft_wrap=True, markup=False, emoji=False)
        if not self.out.is_terminal and "COLUMNS" not in os.environ:
            # Piped or captured output has no width to fit; 80 columns would squeeze tables.
            self.out.width = _PIPE_WIDTH
        self.err = SafeConsole(
            stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False
        )
        self.store_url = store or default_store_url()
        self.store_shown = safe_store_url(self.store_url)
        """The store URL as output may show it (its password masked)."""
        explicit = store is not None and store != default_store_url()
        self.next_steps = NextSteps(
            store_flag=f" --store {shlex.quote(self.store_shown)}" if explicit else "",
            agent_ref=agent_ref or "FILE.py:AGENT",
        )
        self.run_id: str | None = None
        self.agent_ref_given = agent_ref is not None

    def fail(self, message: str, hint: str | None = None, *, code: int = EXIT_USAGE) -> NoReturn:
        """Print one red line (what went wrong, then what to do) and exit with ``code``."""
        line = Text("error: ", style="bold red") + Text(message, style="red")
        if hint:
            line.append(f" — {hint}", style="red")
        self.err.print(line)
        raise typer.Exit(code)

    def load(self, ref: str) -> Agent:
        """Load the agent a reference names, or exit with a message listing what exists."""
        try:
            return load_agent(ref)
        except TetherError as exc:
            self.fail(exc.message)
        except Exception as exc:  # a bug while looking for the agent: still one line
            self.fail_with(exc)

    def execute(self, main: Coroutine[Any, Any, int]) -> NoReturn:
        """Run a command's coroutine; expected errors become one red line and exit code 2."""
        try:
            code = asyncio.run(main)
        except KeyboardInterrupt:
            self.err.print()
            if self.run_id is not None:
                self.err.print(
                    Text(f"interrupted: run {self.run_id} is left running; continue it with ")
                    + Text(self.next_steps.resume_command(self.run_id), style="bold"),
                    style="yellow",
                )
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (typer.Exit, typer.Abort):
            raise  # a command's own exit (e.g. ``fail`` inside ``main``), already reported
        except Exception as exc:
            self.fail_with(exc)
        raise typer.Exit(code)

    def fail_with(self, exc: Exception) -> NoReturn:
        """Report an exception that ended a command as one line, never a traceback.

        A store that cannot be used exits ``EXIT_STORE``; other Tether errors are usage
        errors whose message says what to change. Anything else is a bug in Tether:
        one line and ``EXIT_INTERNAL``, with the traceback only when
        ``$TETHER_TRACEBACK`` is set (it can hold prompts and arguments).
        """
        failure = store_failure(exc, self.store_url)
        if failure is not None:
            self.fail(failure.message, failure.hint, code=failure.code)
        if isinstance(exc, TetherError):
            self.fail(exc.message, self._hint(exc))
        if os.environ.get("TETHER_TRACEBACK"):
            raise exc
        failure = internal_failure(exc)
        self.fail(failure.message, failure.hint, code=failure.code)

    def _hint(self, exc: TetherError) -> str | None:
        flag = self.next_steps.store_flag
        if isinstance(exc, RunNotFoundError):
            return f"list the runs in this store with `tether runs{flag}`"
        if isinstance(exc, RunFinishedError | ApprovalError):
            return f"see what happened with `tether show {exc.run_id}{flag}`"
        if isinstance(exc, RunLeasedError):
            return (
                f"wait for that process (watch with `tether show {exc.run_id}{flag}`), or, "
                "if it died, run this again once its lease has expired"
            )
        if isinstance(exc, RunNotWaitingError):
            return (
                "if the process driving it died, continue it with "
                f"`{self.next_steps.resume_command(exc.run_id)}`"
            )
        # AgentVersionMismatchError and RunParkedError name what to do in their message.
        return None

    def runtime(self, agent: Agent | None = None, *, accept_new_version: bool = False) -> Runtime:
        """A runtime on this session's store that drives only the runs this command names.

        ``recover=False`` even for commands that drive a run: a short-lived CLI process
        must not adopt other processes' orphaned runs, because it would abandon them again
        mid-step when its own run stops (turning an unfinished write into an escalation).
        """
        return Runtime(
            self.store_url,
            agents=[agent] if agent is not None else [],
            recover=False,
            accept_new_version=accept_new_version,
        )

    def read_only_store(self) -> Store | None:
        """The store, or ``None`` if its SQLite file does not exist (reads must not create it)."""
        try:
            store = open_store(self.store_url)
        except TetherError as exc:
            self.fail(exc.message)
        # A Store has no public "exists" yet; SQLite's file path is the one way to ask.
        path = getattr(store, "path", None)
        if path is not None and not path.exists():
            return None
        return store


# -- following a run as it happens ------------------------------------------------------------


class RunView:
    """Where a followed run goes: readable lines for people or JSON lines for programs."""

    def __init__(self, session: Session, *, as_json: bool) -> None:
        self.session = session
        self.as_json = as_json
        self.printer = EventPrinter(session.out, detail=False, next_steps=session.next_steps)

    def item(self, item: Any) -> None:
        """Print one streamed item: a persisted event or a live delta."""
        if self.as_json:
            typer.echo(delta_json(item) if isinstance(item, LiveDelta) else event_json(item))
        elif isinstance(item, LiveDelta):
            self.printer.delta(item)
        else:
            self.printer.event(item)

    def note(self, text: Text) -> None:
        """A line for people only (JSON output stays pure)."""
        if not self.as_json:
            self.session.out.print(text)

    def summary(self, state: RunState, events: list[RunEvent]) -> None:
        """The closing line: status, steps, calls, tokens, cost, duration."""
        self.printer.end_live()
        self.note(summary_line(state, events))


async def follow(handle: RunHandle, view: RunView, *, after_seq: int) -> int:
    """Stream a run from ``after_seq`` until it stops; returns the exit code of its status.

    The first ``events()`` step registers the subscriber synchronously, before the run's
    driver gets the loop, so the first model call already streams its deltas. If the
    driver dies with an exception the stream would wait forever for a stop that never
    comes, so a watchdog (:func:`_watch_driver`) interrupts it and the error is reported.
    """
    me = asyncio.current_task()
    assert me is not None
    crashed: list[Exception] = []
    watchdog = asyncio.create_task(_watch_driver(handle, me, crashed))
    events = cast(AsyncGenerator[Any, None], handle.events(after_seq=after_seq, deltas=True))
    try:
        async with contextlib.aclosing(events):
            async for item in events:
                view.item(item)
    except asyncio.CancelledError:
        if not crashed:
            raise
        me.uncancel()
    except TetherError as failure:
        # The runtime re-raises a driver's failure from events(): report it like the watchdog.
        if handle.driver_error() is not failure:
            raise
        crashed.append(failure)
    finally:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
    view.printer.end_live()
    if crashed:
        exc = crashed[0]
        if not isinstance(exc, TetherError):
            raise exc
        view.session.err.print(
            Text(f"error: run {handle.run_id} stopped being driven: {exc.message} — ", style="red")
            + Text(view.session.next_steps.resume_command(handle.run_id), style="bold red")
        )
        return EXIT_FAILED
    state, log = await load_log(handle)
    view.summary(state, log)
    return exit_code(state)


async def _watch_driver(
    handle: RunHandle, follower: asyncio.Task[Any], crashed: list[Exception]
) -> None:
    """Cancel ``follower`` if this process stops driving the run before the run stops.

    ``handle.result()`` re-raises a driver's exception, but only if it was awaiting the
    driver when it died; a driver that died earlier is seen in the store instead: the
    run is not stopped, yet this runtime no longer holds its lease.
    """
    rt = handle.runtime
    result = asyncio.create_task(handle.result())
    try:
        while True:
            done, _ = await asyncio.wait({result}, timeout=_WATCH_INTERVAL)
            if done:
                exc = result.exception()
                if exc is None:
                    return
                if not isinstance(exc, Exception):
                    raise exc
                crashed.append(exc)
                break
            record = await rt.get_run(handle.run_id)
            if record is None or record.status not in _DRIVEN or record.lease_owner == rt.owner:
                continue
            crashed.append(
                RunError(
                    f"its driver in this process ended while the run was {record.status}",
                    run_id=handle.run_id,
                )
            )
            break
        follower.cancel()
    finally:
        result.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await result


async def load_log(handle: RunHandle) -> tuple[RunState, list[RunEvent]]:
    """A run's whole stored log and the state folded from it, for summaries and timelines."""
    log = [rec async for rec in handle.events(follow=False)]
    return fold(handle.run_id, log), log


def exit_code(state: RunState) -> int:
    """The exit code for where a run stopped: 0 completed, 3 parked for a person, else 1.

    Parked covers ``waiting`` (a signal or an approval) and ``escalated`` (handed to a
    person): in both the run is fine and continues once someone acts.
    """
    if state.status == "completed":
        return EXIT_COMPLETED
    if state.status in TERMINAL or state.status in _DRIVEN:
        return EXIT_FAILED
    return EXIT_WAITING


def check_agent(state: RunState, agent: Agent, ref: str) -> None:
    """Refuse a reference to a different agent than the one that started the run."""
    if state.agent != agent.name:
        raise UserError(
            f"run {state.run_id} belongs to agent {state.agent!r}, but {ref} is agent "
            f"{agent.name!r}; pass the reference of the agent that started the run"
        )


def check_version(state: RunState, agent: Agent, ref: str, *, accept_new_version: bool) -> None:
    """Refuse changed agent code before the runtime leases the run.

    ``Runtime.resume``/``signal`` take the run's lease before they compare versions and
    keep it when they refuse, which would lock the run for a lease period; checking
    here first keeps a refused command from blocking the corrected one that follows.
    """
    if agent.version != state.agent_version and not accept_new_version:
        raise AgentVersionMismatchError(
            f"run {state.run_id} is pinned to agent {state.agent!r} version "
            f"{state.agent_version}, but {ref} now defines version {agent.version}; restore "
            "the old definition, or pass --accept-new-version to continue under the new one "
            "(the switch is recorded in the run's log)",
            run_id=state.run_id,
            pinned=state.agent_version,
            offered=agent.version,
        )
