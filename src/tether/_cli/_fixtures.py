"""``tether fixtures export RUN_ID``: a run's tool calls and results as a fixtures file.

The format is :class:`tether.tools.Fixtures` (``"format": "tether.fixtures"``,
``"version": 1``; documented in ``tether.tools._simulator``). The log is read through
the runtime's public API (``Runtime.get(run_id).events(follow=False)``), which yields
events as stored: sealed values stay sealed and are written as ``{"$sealed": true}``
(their ciphertext is left out), redacted text stays redacted. Nothing is unsealed.

``ToolSimulator.from_fixtures(FILE)`` replays the file offline.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer

fixtures_app = typer.Typer(
    name="fixtures",
    help="Recorded tool I/O: export a run's tool calls and results, for ToolSimulator.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

_StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="URL",
        help="Store URL. Default: $TETHER_STORE, else sqlite:///.tether/tether.db.",
        show_default=False,
    ),
]

_MAX_DEPTH = 200


@fixtures_app.command("export")
def export(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run to export.")],
    store: _StoreOption = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to FILE instead of stdout."),
    ] = None,
) -> None:
    """Print a run's tool calls and results as JSON (fixtures for ToolSimulator)."""
    from tether import Runtime
    from tether._cli._exit import EXIT_COMPLETED
    from tether._cli._session import Session

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
        text = json.dumps(export_fixtures(run_id, log), ensure_ascii=False, indent=1) + "\n"
        if output is None:
            typer.echo(text, nl=False)
        else:
            try:
                output.write_text(text, encoding="utf-8")
            except OSError as exc:
                session.fail(
                    f"cannot write {output}: {exc.strerror or exc}",
                    "pick another --output path, or leave it out to print to stdout",
                )
        return EXIT_COMPLETED

    session.execute(main())


def export_fixtures(run_id: str, log: Iterable[Any]) -> dict[str, Any]:
    """The fixtures document of a run from its events (``RunEvent`` s, as stored).

    One entry per final tool result (``tool.completed``, or ``tool.failed`` that is not
    retried: an attempt that will be retried, or a call a killed driver may have made,
    charged before it ran again, is not a result), in log order, with the arguments of
    the call: a write's as journaled by its ``tool.started`` (validated, possibly edited
    by an approver), otherwise as the model sent them.
    """
    from tether.engine import ModelCompleted, RunCreated, ToolCompleted, ToolFailed, ToolStarted
    from tether.tools import Fixtures, RecordedCall

    agent: str | None = None
    version: str | None = None
    asked: dict[str, dict[str, Any]] = {}
    started: dict[tuple[int, int], dict[str, Any]] = {}
    calls: list[RecordedCall] = []
    for rec in log:
        event = rec.event
        if isinstance(event, RunCreated):
            agent, version = event.agent, event.agent_version
        elif isinstance(event, ModelCompleted):
            for call in event.response.tool_calls:
                asked[call.id] = call.arguments
        elif isinstance(event, ToolStarted):
            started[(rec.step, event.call)] = event.arguments
        elif isinstance(event, ToolCompleted | ToolFailed):
            if isinstance(event, ToolFailed) and event.will_retry:
                continue
            journaled = started.get((rec.step, event.call))
            arguments = journaled if journaled is not None else asked.get(event.call_id, {})
            effect = "write" if journaled is not None else ("read" if event.attempt > 0 else None)
            fields: dict[str, Any] = {
                "order": len(calls) + 1,
                "seq": rec.seq,
                "step": rec.step,
                "call_id": event.call_id,
                "tool": event.tool,
                "effect": effect,
                "arguments": _masked(arguments),
                "attempts": event.attempt,
                "simulated": getattr(event, "simulated", None),
            }
            if isinstance(event, ToolCompleted):
                fields.update(ok=True, result=_masked(event.result))
            else:
                fields.update(ok=False, error=event.error)
            calls.append(RecordedCall.model_validate(fields))
    document = Fixtures(run_id=run_id, agent=agent, agent_version=version, calls=calls)
    dumped: dict[str, Any] = document.model_dump(mode="json", exclude_none=True)
    for call in dumped["calls"]:
        if "result" not in call and call["ok"]:
            call["result"] = None  # a tool that returned None: keep the key, it is the answer
    return dumped


def _masked(value: Any, depth: int = 0) -> Any:
    """``value`` with each sealed value reduced to its marker (never its ciphertext)."""
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        if "$sealed" in value and set(value) <= {"$sealed", "kid"}:
            return {"$sealed": True}
        return {k: _masked(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, depth + 1) for v in value]
    return value
