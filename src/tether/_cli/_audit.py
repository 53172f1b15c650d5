"""``tether audit RUN_ID``: a run's decisions and side effects, and whether its log is intact.

The table lists, in log order, the run's start and finish, status changes, policy
decisions, approvals (who approved or denied, with edited arguments), tool calls with
their effect, signals, cancellations and escalations. Below it one line says what the
hash chain found:

- ``chain intact`` — every stored event is chained and unchanged;
- ``TAMPERED at seq N`` — event N (or one before it) was changed, removed or reordered;
- ``not chained before seq N`` — the run began before its store chained events
  (a database from an older Tether): events before N cannot be checked, the rest were.
  This is not tampering, and ``--verify`` does not fail on it.

``--verify`` exits ``EXIT_TAMPERED`` (5) when the chain is broken; ``--json`` prints the
report as one JSON document (the HTTP API's body).
"""

from __future__ import annotations

import json

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from tether._cli._exit import EXIT_COMPLETED, EXIT_TAMPERED
from tether._cli._format import clip, format_when, to_json
from tether._cli._session import Session
from tether.runtime import AuditEntry, AuditReport, Runtime, audit_run

_KIND_STYLE = {
    "approval.approved": "green",
    "approval.denied": "red",
    "approval.requested": "yellow",
    "policy": "yellow",
    "tool.failed": "red",
    "escalation": "yellow",
    "cancellation": "yellow",
    "injection.flagged": "red",
    "breaker.changed": "yellow",
    "unreadable": "bold red",
    "run.finished": "bold",
}
_DETAIL_LIMIT = 80


def audit_command(run_id: str, store: str | None, *, verify: bool, as_json: bool) -> None:
    """Print a run's audit record; with ``verify``, exit non-zero if its chain is broken."""
    session = Session(store)
    source = session.read_only_store()
    if source is None:
        session.fail(
            f"no run {run_id!r}: there is no store at {session.store_shown}",
            "pass --store URL or set $TETHER_STORE to the store the run was started with",
        )

    async def main() -> int:
        async with Runtime(source, recover=False) as rt:
            report = await audit_run(rt, run_id)
        if as_json:
            typer.echo(json.dumps(report.to_json(), ensure_ascii=False, default=str))
        else:
            _print(session, report)
        if verify and report.first_bad_seq is not None:
            session.fail(
                f"run {run_id}'s log was tampered with: {report.problem}",
                f"events from seq {report.first_bad_seq} on cannot be trusted; compare this "
                "store with a backup, and keep this copy as evidence",
                code=EXIT_TAMPERED,
            )
        return EXIT_COMPLETED

    session.execute(main())


def _print(session: Session, report: AuditReport) -> None:
    who = f"agent {report.agent}" if report.agent else "agent unknown"
    if report.tenant:
        who += f", tenant {report.tenant}"
    session.out.print(
        Text(f"audit of run {report.run_id}", style="bold")
        + Text(f" ({who}) is {report.status}, {report.last_seq} events")
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("seq", justify="right")
    table.add_column("time", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("what")
    table.add_column("details")
    for entry in report.entries:
        style = _KIND_STYLE.get(entry.kind, "")
        table.add_row(
            str(entry.seq),
            format_when(entry.ts),
            Text(entry.kind, style=style),
            Text(entry.summary),
            Text(_details(entry), style="dim"),
        )
    session.out.print(table)
    session.out.print(verdict_line(report))


def _details(entry: AuditEntry) -> str:
    """The exact arguments of an approval or a write, and a failure's message."""
    fields = entry.fields
    if "arguments" in fields:
        return clip(to_json(fields["arguments"]), _DETAIL_LIMIT)
    if "error" in fields:
        return clip(str(fields["error"]), _DETAIL_LIMIT)
    return ""


def verdict_line(report: AuditReport) -> Text:
    """What the hash chain says, in one line."""
    if report.first_bad_seq is not None:
        return Text(f"TAMPERED at seq {report.first_bad_seq}: ", style="bold red") + Text(
            f"{report.problem}. Events before it are intact.", style="red"
        )
    head = f" (head {report.head[:16]}…)" if report.head else ""
    if report.unchained_before is not None:
        if report.unchained_before > report.last_seq:
            return Text(
                f"not chained before seq {report.unchained_before}: ", style="bold yellow"
            ) + Text(
                "every event of this run was written before its store chained events, "
                "so none can be verified (not a sign of tampering).",
                style="yellow",
            )
        return Text(
            f"not chained before seq {report.unchained_before}: ", style="bold yellow"
        ) + Text(
            f"events 1..{report.unchained_before - 1} were written before this store chained "
            f"events and cannot be verified; events {report.unchained_before}.."
            f"{report.last_seq} are intact{head}.",
            style="yellow",
        )
    return Text("chain intact: ", style="bold green") + Text(
        f"events 1..{report.last_seq} are unchanged, none removed or reordered{head}."
    )
