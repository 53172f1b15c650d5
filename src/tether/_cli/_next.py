"""What to do next: the exact commands that continue a parked run.

A run that stops for a person (a signal, an approval, an escalation) is only as
useful as the instruction printed with it; these helpers build those commands with
the store and agent reference the person already used, ready to paste.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from tether._cli._format import STATUS_ICON, call_text, to_json


@dataclass(kw_only=True, frozen=True, slots=True)
class NextSteps:
    """What printed "how to continue" commands need: the store flag and the agent reference."""

    store_flag: str = ""
    agent_ref: str = "FILE.py:AGENT"

    def signal_command(self, run_id: str, signal: str, payload: Any = None) -> str:
        """The ``tether signal`` line that continues a waiting run."""
        parts = ["tether signal", run_id, shlex.quote(signal)]
        if payload is not None:
            parts += ["--payload", shlex.quote(to_json(payload))]
        return " ".join(parts) + self.store_flag + " " + shlex.quote(self.agent_ref)

    def approve_command(self, run_id: str, call_id: str, *, deny: bool = False) -> str:
        """The ``tether approve`` (or ``deny``) line that decides a pending tool call."""
        verb = "deny" if deny else "approve"
        reason = " --reason 'why'" if deny else ""
        return (
            f"tether {verb} {run_id} {shlex.quote(call_id)}{reason}{self.store_flag} "
            f"{shlex.quote(self.agent_ref)}"
        )

    def resume_command(self, run_id: str) -> str:
        """The ``tether resume`` line that continues a run left running."""
        return f"tether resume {run_id}{self.store_flag} {shlex.quote(self.agent_ref)}"


RESOLVE_ACTIONS = 'action: "completed" (it happened; add "result"), "not_performed", or "retry"'


def example_payload(signal: str, details: dict[str, Any]) -> Any:
    """A payload to show in the suggested ``tether signal`` command, when one is known."""
    calls = details.get("calls")
    if signal == "resolve_write" and isinstance(calls, list) and calls:
        first = calls[0] if isinstance(calls[0], dict) else {}
        # The idempotency key names the call in the run; provider call ids repeat.
        return {
            "call_id": first.get("idempotency_key") or first.get("call_id"),
            "action": "not_performed",
        }
    if signal == "input":
        return "your reply"
    return None


def wait_lines(run_id: str, reason: str | None, details: Any, nxt: NextSteps) -> list[Text]:
    """Why a run waits, and the exact command that continues it."""
    info = details if isinstance(details, dict) else {}
    signal = str(info.get("signal") or "SIGNAL")
    head = f"{STATUS_ICON['waiting']} waiting for signal {signal!r}"
    lines = [Text(head + (f" ({reason})" if reason else ""), style="bold yellow")]
    if info.get("message"):
        lines.append(Text(f"  {info['message']}", style="yellow"))
    calls: Any = info.get("calls")
    if signal == "approval":
        return approval_lines(run_id, reason, calls if isinstance(calls, list) else [], nxt)
    for call in calls if isinstance(calls, list) else []:
        if isinstance(call, dict):
            raw: Any = call.get("arguments")
            args: dict[str, Any] = raw if isinstance(raw, dict) else {}
            lines.append(
                Text(f"  call {call.get('call_id')}: ", style="yellow")
                + Text(call_text(str(call.get("tool")), args, 300))
            )
    payload = example_payload(signal, info)
    if signal == "resolve_write":
        lines.append(Text(f"  {RESOLVE_ACTIONS}", style="dim"))
    lines.append(
        Text("  to continue: ", style="dim")
        + Text(nxt.signal_command(run_id, signal, payload), style="bold")
    )
    return lines


def parked_hint(run_id: str, status: str, details: Any, nxt: NextSteps) -> str:
    """One line saying how a parked run (waiting or escalated) continues."""
    info = details if isinstance(details, dict) else {}
    signal = str(info.get("signal") or "SIGNAL")
    if status == "escalated":
        return f"hand it back with: {nxt.signal_command(run_id, 'resume')}"
    if status == "quarantined":
        return (
            "it crashed its worker repeatedly (see `tether events`); fix the cause, then "
            f"continue it with: {nxt.signal_command(run_id, 'resume')} (or cancel it)"
        )
    if signal == "approval":
        calls = info.get("calls") if isinstance(info.get("calls"), list) else None
        call_id = str(calls[0]) if calls else "CALL_ID"
        return (
            f"decide the pending call with: {nxt.approve_command(run_id, call_id)} "
            f"(or: {nxt.approve_command(run_id, call_id, deny=True)})"
        )
    command = nxt.signal_command(run_id, signal, example_payload(signal, info))
    actions = f" ({RESOLVE_ACTIONS})" if signal == "resolve_write" else ""
    return f"send the signal it waits for: {command}{actions}"


def approval_lines(
    run_id: str, reason: str | None, call_ids: list[Any], nxt: NextSteps
) -> list[Text]:
    """Which tool calls wait for a person's decision, and the commands that decide them."""
    ids = [str(c) for c in call_ids] or ["CALL_ID"]
    head = f"{STATUS_ICON['waiting']} waiting for approval of {', '.join(ids)}"
    lines = [Text(head + (f" ({reason})" if reason else ""), style="bold yellow")]
    for call_id in ids:
        lines.append(
            Text("  to approve: ", style="dim")
            + Text(nxt.approve_command(run_id, call_id), style="bold")
        )
        lines.append(
            Text("  to deny:    ", style="dim")
            + Text(nxt.approve_command(run_id, call_id, deny=True), style="bold")
        )
    return lines


def escalation_lines(run_id: str, reason: str | None, nxt: NextSteps) -> list[Text]:
    """A run handed to a person, and the commands that hand it back or stop it."""
    head = f"{STATUS_ICON['escalated']} escalated to a person"
    lines = [Text(head + (f": {reason}" if reason else ""), style="bold yellow")]
    lines.append(
        Text("  to continue: ", style="dim")
        + Text(nxt.signal_command(run_id, "resume"), style="bold")
        + Text(" (or signal 'input' with a message for the agent)", style="dim")
    )
    lines.append(
        Text("  to stop it:  ", style="dim")
        + Text(nxt.signal_command(run_id, "cancel", {"reason": "why"}), style="bold")
    )
    return lines
