"""The ``tether`` command: run agents and watch them stream, list, inspect, resume and signal runs.

Commands: ``run`` (start and stream), ``runs`` (list), ``show`` (timeline),
``resume`` (continue a run whose process died), ``signal`` (deliver a signal and
stream the continuation), ``approve`` / ``deny`` (decide a tool call waiting for
approval), ``audit`` (decisions and side effects, and the log's hash chain checked).
Implementation lives in ``tether._cli``: agent loading, rendering and
the shared session.

Exit codes, the same for every command (``tether._cli._exit``):

====  ==============================================================================
0     the run completed (or a read-only command succeeded)
1     the run failed or was cancelled
2     usage error: bad arguments, an agent reference that does not load (missing, not
      an Agent, or its module raised or called ``sys.exit`` on import), a run id that
      does not exist, a run that cannot be resumed or signalled as asked
3     the run is parked for a person: waiting for a signal or an approval, or escalated
      (the output prints the command that continues it)
4     the store cannot be used: not a database (corrupt), not writable, a directory, or
      written by a newer Tether (the message says what to do)
5     ``tether audit --verify``: the run's stored log was changed, or events were removed
      or reordered (the message names the first bad sequence number)
70    internal error: a bug in Tether; one line, the traceback with ``TETHER_TRACEBACK=1``
130   interrupted (Ctrl-C); the run is left ``running`` and ``tether resume`` continues it
====  ==============================================================================

No command prints a traceback for an expected failure: each is one ``error:`` line on
stderr saying what went wrong and what to do next.

Every command reads ``--store URL``, else ``$TETHER_STORE``, else
``sqlite:///.tether/tether.db`` in the working directory.

Startup stays fast (``tether --help`` imports neither the engine nor rich): commands
import what they need when they run, and help is plain click formatting.
"""

from __future__ import annotations

import getpass
import json
import os
import time
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from tether import __version__
from tether._cli._exit import (
    EXIT_COMPLETED,
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_STORE,
    EXIT_TAMPERED,
    EXIT_USAGE,
    EXIT_WAITING,
)

if TYPE_CHECKING:
    from tether._cli._session import Session

__all__ = [
    "EXIT_COMPLETED",
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_STORE",
    "EXIT_TAMPERED",
    "EXIT_USAGE",
    "EXIT_WAITING",
    "app",
    "main",
]

app = typer.Typer(
    name="tether",
    help="Run LLM agents as durable, resumable runs; stream, inspect, resume and signal them.",
    no_args_is_help=True,
    add_completion=False,
    # Locals of a crashed frame can hold prompts and credentials: never print them.
    pretty_exceptions_show_locals=False,
    # Plain click help: rich help formatting alone costs ~50 ms of startup per command.
    rich_markup_mode=None,
)

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="URL",
        help="Store URL. Default: $TETHER_STORE, else sqlite:///.tether/tether.db.",
        show_default=False,
    ),
]
AgentRef = Annotated[
    str,
    typer.Argument(
        metavar="MODULE_OR_FILE:AGENT",
        help="path/to/file.py:name or package.module:name (an Agent or a function returning one).",
        show_default=False,
    ),
]
ServedAgentsOption = Annotated[
    str,
    typer.Option(
        "--agents",
        metavar="FILE_OR_MODULE",
        help="path/to/file.py or package.module: every Agent it defines is served by "
        "its name (FILE.py:NAME serves one).",
        show_default=False,
    ),
]
OptionalAgentRef = Annotated[
    str | None,
    typer.Argument(
        metavar="[MODULE_OR_FILE:AGENT]",
        help="The agent, to continue the run here and stream it. Without it the decision is "
        "recorded and any runtime that has the agent continues the run.",
        show_default=False,
    ),
]
ByOption = Annotated[
    str | None,
    typer.Option("--by", metavar="WHO", help="Who decides (recorded). Default: your user name."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print events as JSON lines instead.")]
AcceptFlag = Annotated[
    bool,
    typer.Option(
        "--accept-new-version",
        help="Continue under a changed agent definition (the switch is recorded in the log).",
    ),
]


RUN_STATUSES: tuple[str, ...] = (
    "pending",
    "running",
    "waiting",
    "escalated",
    "quarantined",
    "completed",
    "failed",
    "cancelled",
)
"""Statuses ``tether runs --status`` accepts: the engine's ``RunStatus``, spelled out so
the help text needs no engine import (a test holds the two equal)."""


# -- commands ---------------------------------------------------------------------------------


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"tether {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Run LLM agents as durable, resumable runs; stream, inspect, resume and signal them."""


TenantConcurrency = Annotated[
    int | None,
    typer.Option(
        "--tenant-concurrency",
        min=1,
        metavar="N",
        help="The most runs of one tenant executing at once, across every worker on the store.",
        show_default=False,
    ),
]
"""``tether serve`` and ``tether worker`` take the same tenant cap."""


@app.command()
def run(
    agent_ref: AgentRef,
    task: Annotated[
        str, typer.Argument(metavar="TASK", help="The run's input: what the agent should do.")
    ],
    store: StoreOption = None,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Tenant the run belongs to.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Start a run of an agent and stream it until it completes, fails or waits."""
    from tether._cli._session import RunView, Session, follow

    session = Session(store, agent_ref=agent_ref)
    agent = session.load(agent_ref)
    view = RunView(session, as_json=as_json)

    async def main() -> int:
        async with session.runtime(agent) as rt:
            handle = await rt.start(agent, task, tenant=tenant)
            session.run_id = handle.run_id
            view.printer.expect_step(0)
            return await follow(handle, view, after_seq=0)

    session.execute(main())


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run to continue.")],
    agent_ref: AgentRef,
    accept_new_version: AcceptFlag = False,
    store: StoreOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Continue a run left running (its process died) and stream it like `run`."""
    from rich.text import Text

    from tether._cli._next import parked_hint
    from tether._cli._session import (
        RunView,
        Session,
        check_agent,
        check_version,
        exit_code,
        follow,
        load_log,
    )
    from tether.engine import TERMINAL

    session = Session(store, agent_ref=agent_ref)
    agent = session.load(agent_ref)
    view = RunView(session, as_json=as_json)

    async def main() -> int:
        async with session.runtime(agent, accept_new_version=accept_new_version) as rt:
            state = await rt.load_state(run_id)
            check_agent(state, agent, agent_ref)
            session.run_id = run_id
            if state.status not in TERMINAL and state.status not in ("pending", "running"):
                reason = f" ({state.wait_reason})" if state.wait_reason else ""
                session.fail(
                    f"run {run_id} is {state.status}{reason}, not left running, so there is "
                    "nothing to resume",
                    parked_hint(run_id, state.status, state.wait_details, session.next_steps),
                )
            handle = rt.get(run_id)
            if state.status in TERMINAL:
                view.note(Text(f"run {run_id} already {state.status}; nothing to resume"))
                final, log = await load_log(handle)
                view.summary(final, log)
                return exit_code(final)
            check_version(state, agent, agent_ref, accept_new_version=accept_new_version)
            handle = await rt.resume(run_id, agent=agent, accept_new_version=accept_new_version)
            # No await between resume() and follow(): the stream subscribes before the driver runs.
            view.note(
                Text(
                    f"resuming run {run_id} (agent {state.agent}) at step {state.step}, "
                    f"after event {state.last_seq}",
                    style="bold",
                )
            )
            view.printer.expect_step(state.step)
            return await follow(handle, view, after_seq=state.last_seq)

    session.execute(main())


@app.command()
def signal(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run to signal.")],
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="Signal name, e.g. resolve_write, input, cancel.")
    ],
    agent_ref: AgentRef,
    payload: Annotated[
        str | None, typer.Option("--payload", metavar="JSON", help="Signal payload as JSON.")
    ] = None,
    by: ByOption = None,
    accept_new_version: AcceptFlag = False,
    store: StoreOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Deliver a signal to a run (such as resolve_write) and stream what it does next."""
    from rich.text import Text

    from tether._cli._session import RunView, Session, check_agent, check_version, follow
    from tether.engine import TERMINAL

    session = Session(store, agent_ref=agent_ref)
    value = _json_option(session, "--payload", payload)
    agent = session.load(agent_ref)
    view = RunView(session, as_json=as_json)

    async def main() -> int:
        async with session.runtime(agent, accept_new_version=accept_new_version) as rt:
            state = await rt.load_state(run_id)
            check_agent(state, agent, agent_ref)
            if name != "cancel" and state.status not in TERMINAL:
                # Cancelling needs no matching code; the runtime cancels under any version.
                check_version(state, agent, agent_ref, accept_new_version=accept_new_version)
            session.run_id = run_id
            handle = await rt.signal(run_id, name, value, by=_who(by))
            # No await between signal() and follow(): the stream subscribes before the driver runs.
            view.note(Text(f"signal {name!r} → run {run_id}", style="bold"))
            view.printer.expect_step(state.step)
            return await follow(handle, view, after_seq=state.last_seq)

    session.execute(main())


@app.command()
def cancel(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run to cancel.")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why, for the run's record.")
    ] = "cancelled from the command line",
    wait: Annotated[
        float, typer.Option("--wait", metavar="SECONDS", help="How long to wait for it to end.")
    ] = 15.0,
    by: ByOption = None,
    store: StoreOption = None,
) -> None:
    """Cancel a run: a running async tool is interrupted (in whichever process drives it),
    a thread tool is abandoned, a parked run ends at once. The cancellation is recorded."""
    import asyncio

    from rich.text import Text

    from tether import Runtime
    from tether._cli._session import Session

    session = Session(store)
    who = _who(by)

    async def main() -> int:
        async with Runtime(session.store_url, recover=False) as rt:
            await rt.cancel(run_id, reason=reason, by=who)
            deadline = asyncio.get_running_loop().time() + wait
            while True:
                record = await rt.get_run(run_id)
                status = record.status if record is not None else "unknown"
                if status in ("completed", "failed", "cancelled"):
                    break
                if asyncio.get_running_loop().time() >= deadline:
                    session.out.print(
                        Text(f"cancel requested for run {run_id}; it is still {status}")
                    )
                    return EXIT_WAITING
                await asyncio.sleep(0.1)
        session.out.print(Text(f"run {run_id} is {status} (by {who})", style="bold"))
        return EXIT_COMPLETED

    session.execute(main())


@app.command()
def approve(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run waiting for approval.")],
    call_id: Annotated[
        str,
        typer.Argument(
            metavar="APPROVAL_ID",
            help="The id the run printed for the call (step.index, e.g. 0.1).",
        ),
    ],
    agent_ref: OptionalAgentRef = None,
    arguments: Annotated[
        str | None,
        typer.Option(
            "--arguments", metavar="JSON", help="Approve with these arguments instead (JSON)."
        ),
    ] = None,
    by: ByOption = None,
    store: StoreOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Approve a tool call the run is waiting on, and stream the run as it continues."""
    from tether._cli._session import Session

    session = Session(store, agent_ref=agent_ref)
    changed = _json_option(session, "--arguments", arguments)
    if changed is not None and not isinstance(changed, dict):
        session.fail("--arguments must be a JSON object of the tool's arguments")
    _decide(session, run_id, call_id, approved=True, by=by, arguments=changed, as_json=as_json)


@app.command()
def deny(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run waiting for approval.")],
    call_id: Annotated[
        str,
        typer.Argument(
            metavar="APPROVAL_ID",
            help="The id the run printed for the call (step.index, e.g. 0.1).",
        ),
    ],
    reason: Annotated[
        str, typer.Option("--reason", help="Why; the model is told.", show_default=False)
    ],
    agent_ref: OptionalAgentRef = None,
    by: ByOption = None,
    store: StoreOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Deny a tool call the run is waiting on; the model hears why and the run continues."""
    from tether._cli._session import Session

    session = Session(store, agent_ref=agent_ref)
    _decide(session, run_id, call_id, approved=False, by=by, reason=reason, as_json=as_json)


def _decide(
    session: Session,
    run_id: str,
    call_id: str,
    *,
    approved: bool,
    by: str | None,
    as_json: bool,
    arguments: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """Record an approval decision and follow the run if it resumes."""
    from rich.text import Text

    from tether._cli._session import RunView, check_agent, check_version, follow

    who = _who(by)
    if session.agent_ref_given is False:
        _decide_only(
            session, run_id, call_id, approved=approved, by=who, arguments=arguments, reason=reason
        )
    agent_ref = session.next_steps.agent_ref
    agent = session.load(agent_ref)
    view = RunView(session, as_json=as_json)

    async def main() -> int:
        async with session.runtime(agent) as rt:
            state = await rt.load_state(run_id)
            check_agent(state, agent, agent_ref)
            check_version(state, agent, agent_ref, accept_new_version=False)
            session.run_id = run_id
            if approved:
                handle = await rt.approve(run_id, call_id, by=who, arguments=arguments)
            else:
                handle = await rt.deny(run_id, call_id, by=who, reason=reason or "")
            # No await between the decision and follow(): the stream subscribes first.
            verdict = "approved" if approved else "denied"
            view.note(Text(f"{call_id} {verdict} by {who} → run {run_id}", style="bold"))
            view.printer.expect_step(state.step)
            return await follow(handle, view, after_seq=state.last_seq)

    session.execute(main())


def _decide_only(
    session: Session,
    run_id: str,
    call_id: str,
    *,
    approved: bool,
    by: str,
    arguments: dict[str, Any] | None,
    reason: str | None,
) -> NoReturn:
    """Record a decision without the agent's code: another runtime continues the run."""
    from rich.text import Text

    from tether import Runtime

    async def main() -> int:
        async with Runtime(session.store_url, recover=False) as rt:
            if approved:
                await rt.approve(run_id, call_id, by=by, arguments=arguments)
            else:
                await rt.deny(run_id, call_id, by=by, reason=reason or "")
            record = await rt.get_run(run_id)
        verdict = "approved" if approved else "denied"
        status = record.status if record is not None else "unknown"
        session.out.print(
            Text(f"{call_id} {verdict} by {by} → run {run_id} is {status}", style="bold")
        )
        if status == "running":
            session.out.print(
                "It continues in any runtime that has its agent (your application, or "
                f"`tether resume {run_id} FILE.py:AGENT`)."
            )
        return EXIT_COMPLETED

    session.execute(main())


def _who(by: str | None) -> str:
    """Who acts, for the audit trail: ``--by``, else the local user name."""
    if by:
        return by
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment (containers, CI)
        return "cli"


def _json_option(session: Session, flag: str, raw: str | None) -> Any:
    """Parse a JSON option, or exit with a usage error showing how to quote it."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        session.fail(
            f"{flag} is not valid JSON ({exc.msg} at character {exc.pos})",
            f'quote it for your shell, e.g. {flag} \'{{"call_id": "call_0_0", '
            f'"action": "completed"}}\'',
        )


@app.command()
def killswitch(
    state: Annotated[
        str,
        typer.Argument(
            metavar="on|off|status",
            help="Turn write tools off everywhere, on again, or show the switch.",
        ),
    ] = "status",
    by: ByOption = None,
    store: StoreOption = None,
) -> None:
    """The runtime-wide kill switch: `on` denies every write tool in every process now."""
    from rich.text import Text

    from tether import Runtime
    from tether._cli._session import Session

    session = Session(store)
    if state not in ("on", "off", "status"):
        session.fail(f"unknown kill switch state {state!r}", "use: tether killswitch on|off|status")

    async def main() -> int:
        async with Runtime(session.store_url, recover=False) as rt:
            if state != "status":
                await rt.set_killswitch(state == "on", by=_who(by))
            on = await rt.killswitch_on()
        if on:
            session.out.print(
                Text("kill switch ON: ", style="bold red")
                + Text(
                    "every write tool is denied in every process using this store. "
                    "Turn it off with `tether killswitch off`."
                )
            )
        else:
            session.out.print(
                Text("kill switch off: ", style="bold green")
                + Text("write tools run as their policy allows.")
            )
        return EXIT_COMPLETED

    session.execute(main())


@app.command()
def runs(
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help=f"Only runs with this status (repeatable): {', '.join(RUN_STATUSES)}.",
            show_default=False,
        ),
    ] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Only runs of this agent.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many runs.")] = 50,
    escalated: Annotated[
        bool, typer.Option("--escalated", help="Only runs handed to a person (escalated).")
    ] = False,
    store: StoreOption = None,
) -> None:
    """List runs, newest first: id, agent, status, reason, times and last event."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from tether import Runtime
    from tether._cli._format import STATUS_STYLE, format_when
    from tether._cli._session import Session

    session = Session(store)
    if escalated:
        status = [*(status or []), "escalated"]
    unknown = [s for s in status or [] if s not in RUN_STATUSES]
    if unknown:
        session.fail(
            f"unknown status {', '.join(map(repr, unknown))}",
            f"use one of: {', '.join(RUN_STATUSES)}",
        )
    source = session.read_only_store()
    if source is None:
        session.out.print(
            Text(f"no store at {session.store_shown} yet, so no runs. ", style="yellow")
            + Text(
                'Start one with `tether run FILE.py:AGENT "task"`, or point --store '
                "(or $TETHER_STORE) at an existing store."
            )
        )
        raise typer.Exit(EXIT_COMPLETED)

    async def main() -> int:
        async with Runtime(source, recover=False) as rt:
            records = await rt.list_runs(statuses=status or None, agent=agent, limit=limit)
        if not records:
            filters = " matching these filters" if status or agent else ""
            session.out.print(
                Text(f"no runs{filters} in {session.store_shown}. ", style="yellow")
                + Text('Start one with `tether run FILE.py:AGENT "task"`.')
            )
            return EXIT_COMPLETED
        table = Table(
            title=f"runs in {session.store_shown}",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        # Ids and statuses never shrink (people copy ids, scripts grep them); the rest wraps.
        id_width = max(len(rec.run_id) for rec in records)
        table.add_column("run id", no_wrap=True, min_width=id_width, style="cyan")
        table.add_column("agent", overflow="fold")
        table.add_column("status", no_wrap=True, min_width=9)
        table.add_column("reason", overflow="fold")
        table.add_column("created", no_wrap=True)
        table.add_column("updated", no_wrap=True)
        table.add_column("last seq", justify="right")
        now = time.time()
        for rec in records:
            table.add_row(
                rec.run_id,
                rec.agent,
                Text(rec.status, style=STATUS_STYLE.get(rec.status, "")),
                rec.reason or "",
                format_when(rec.created_at, now),
                format_when(rec.updated_at, now),
                str(rec.last_seq),
            )
        session.out.print(table, soft_wrap=False)
        return EXIT_COMPLETED

    session.execute(main())


@app.command()
def audit(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run to audit.")],
    store: StoreOption = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Exit 5 if any stored event was changed, removed or reordered (hash chain).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """A run's decisions and side effects (who approved what), and whether its log is intact."""
    from tether._cli._audit import audit_command

    audit_command(run_id, store, verify=verify, as_json=as_json)


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run to show.")],
    store: StoreOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the stored events as JSON lines.")
    ] = False,
) -> None:
    """Print a run's timeline: every step's model calls, tool calls, errors and totals."""
    from rich.text import Text

    from tether import Runtime
    from tether._cli._format import event_json, summary_line
    from tether._cli._render import EventPrinter
    from tether._cli._session import Session
    from tether.engine import fold

    session = Session(store)
    source = session.read_only_store()
    if source is None:
        session.fail(
            f"no run {run_id!r}: there is no store at {session.store_shown}",
            "pass --store URL or set $TETHER_STORE to the store the run was started with",
        )

    async def main() -> int:
        async with Runtime(source, recover=False) as rt:
            log = [rec async for rec in rt.get(run_id).events(follow=False)]
        if as_json:
            for rec in log:
                typer.echo(event_json(rec))
            return EXIT_COMPLETED
        state = fold(run_id, log)
        printer = EventPrinter(session.out, detail=True, next_steps=session.next_steps)
        for rec in log:
            printer.event(rec)
        session.out.print(Text("totals ", style="bold") + summary_line(state, log))
        if state.status in ("running", "pending"):
            session.out.print(
                Text(
                    f"run {run_id} is {state.status}: if the process driving it died, "
                    "continue it with ",
                    style="yellow",
                )
                + Text(session.next_steps.resume_command(run_id), style="bold")
            )
        return EXIT_COMPLETED

    session.execute(main())


@app.command()
def serve(
    agents_ref: ServedAgentsOption,
    store: StoreOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port.")] = 8000,
    metrics_token: Annotated[
        str | None,
        typer.Option(
            "--metrics-token",
            metavar="TOKEN",
            help="Require 'Authorization: Bearer TOKEN' on /metrics (open otherwise).",
            envvar="TETHER_METRICS_TOKEN",
        ),
    ] = None,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Also execute runs here (default), or serve the API alone and leave the "
            "runs to `tether worker` processes on the same store.",
        ),
    ] = True,
    max_pending: Annotated[
        int | None,
        typer.Option(
            "--max-pending",
            min=1,
            metavar="N",
            help="Backpressure: past N runs waiting to be executed (counted in the store), "
            "POST /v1/runs answers 429 with Retry-After.",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            min=1,
            help="Runs the built-in worker drives at once; the others wait, as pending "
            "runs, for a free slot (and count toward --max-pending).",
        ),
    ] = 100,
    tenant_concurrency: TenantConcurrency = None,
) -> None:
    """Serve agents over HTTP: runs, live event streams, approvals, the UI and /metrics.

    The server also drives its runs: recovery, approval timers and approved runs
    continue inside it. Clients need an API key (`tether keys create`).
    """
    from tether._cli._load import load_agents
    from tether._cli._session import Session
    from tether.exceptions import TetherError

    session = Session(store)
    try:
        from tether._cli._serve import listen
        from tether._cli._serve import serve as serve_forever
    except ImportError as exc:
        session.fail(
            f"tether serve needs the [server] extra ({exc.name} is missing)",
            'pip install "tether-runtime[server]"',
        )
    try:
        agents = load_agents(agents_ref)
    except TetherError as exc:
        session.fail(exc.message)
    try:
        sock = listen(host, port)
    except OSError as exc:
        session.fail(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            "pick another --port or --host, or stop what uses it",
        )
    session.execute(
        serve_forever(
            agents,
            session.store_url,
            sock,
            metrics_token=metrics_token,
            say=session.out.print,
            worker=worker,
            max_pending=max_pending,
            concurrency=concurrency,
            tenant_concurrency=tenant_concurrency,
        )
    )


def _positive_seconds(value: float | None) -> float | None:
    """Refuse a duration that is not above 0 and finite, with click's usage error (exit 2)."""
    if value is not None and not 0 < value < float("inf"):  # also refuses nan
        raise typer.BadParameter(f"{value:g} is not a finite number of seconds above 0.")
    return value


def _lease_seconds(value: float) -> float:
    """A lease TTL from 0.1 s to a day, else click's usage error (exit 2): an infinite or
    huge one keeps a dead worker's runs from every other worker (for good, with ``inf``)."""
    if not 0 < value < float("inf"):  # also refuses nan
        raise typer.BadParameter(f"{value:g} is not a finite number of seconds above 0.")
    if not 0.1 <= value <= 86_400:
        raise typer.BadParameter(
            f"{value:g} s is outside 0.1 s to 86400 s (a day): a dead worker's runs are "
            "taken over only after it."
        )
    return value


@app.command()
def worker(
    agents_ref: ServedAgentsOption,
    store: StoreOption = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Runs driven at once by this worker.")
    ] = 100,
    lease_ttl: Annotated[
        float,
        typer.Option(
            "--lease-ttl",
            metavar="SECONDS",
            callback=_lease_seconds,
            help="How long a run stays this worker's without a heartbeat; a dead worker's "
            "runs are taken over after about this long.",
        ),
    ] = 30.0,
    quarantine_after: Annotated[
        int,
        typer.Option(
            "--quarantine-after",
            min=1,
            metavar="N",
            help="A run claimed this many times at the same step (its driver kept dying "
            "there) is quarantined instead of retried.",
        ),
    ] = 3,
    tenant_concurrency: TenantConcurrency = None,
    claim_interval: Annotated[
        float | None,
        typer.Option(
            "--claim-interval",
            metavar="SECONDS",
            callback=_positive_seconds,
            help="How often this worker looks for runs to claim (default: 1, or --lease-ttl "
            "if shorter).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Execute runs from the store as one worker of a fleet, until SIGTERM drains it.

    Runs started by clients (Runtime(worker=False), the HTTP API) and runs left by
    workers that died are claimed here, fairly across tenants. The first SIGTERM or
    Ctrl-C finishes each run's current step and gives it back; a second exits at once.
    """
    from tether._cli._load import load_agents
    from tether._cli._session import Session
    from tether._cli._worker import work
    from tether.exceptions import TetherError

    session = Session(store)
    try:
        agents = load_agents(agents_ref)
    except TetherError as exc:
        session.fail(exc.message)
    session.execute(
        work(
            agents,
            session.store_url,
            concurrency=concurrency,
            lease_ttl=lease_ttl,
            quarantine_after=quarantine_after,
            tenant_concurrency=tenant_concurrency,
            claim_interval=claim_interval,
            say=session.out.print,
            console=session.err,
        )
    )


@app.command()
def tools(
    agents_ref: Annotated[
        str,
        typer.Option(
            "--agents",
            metavar="FILE_OR_MODULE",
            help="path/to/file.py or package.module: every Agent it defines (FILE.py:NAME: one).",
            show_default=False,
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the registry as one JSON document.")
    ] = False,
) -> None:
    """List every tool of the agents: owner, effect, risk, version, schema hash, approval
    rule, rate limit, breaker and source (native, mcp:SERVER or builtin)."""
    from tether._cli._tools import tools_command

    tools_command(agents_ref, as_json=as_json)


def _register_groups() -> None:
    """Command groups that live in their own modules (they import only typer here)."""
    from tether._cli._fixtures import fixtures_app
    from tether._cli._keys import keys_app
    from tether._cli._mcp import mcp_app

    app.add_typer(fixtures_app, name="fixtures")
    app.add_typer(keys_app, name="keys")
    app.add_typer(mcp_app, name="mcp")


_register_groups()


def main() -> None:
    """Entry point of the ``tether`` console script.

    Commands report their own failures; this catches what escapes them (a bug before
    a command's run starts), so even that is one line and ``EXIT_INTERNAL``.
    """
    try:
        app()
    except Exception as exc:
        if os.environ.get("TETHER_TRACEBACK"):
            raise
        from tether._cli._errors import internal_failure

        failure = internal_failure(exc)
        typer.echo(f"error: {failure.message} — {failure.hint}", err=True)
        raise SystemExit(failure.code) from None


if __name__ == "__main__":
    main()
