"""Small, pure formatters shared by the ``tether`` commands: values, times, totals, panels.

Everything here returns text (or a rich :class:`Text`/:class:`Panel`) and prints
nothing, so the printers and commands stay about layout and flow.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from rich.panel import Panel
from rich.text import Text

from tether import LiveDelta, RunEvent, RunState
from tether.engine import ModelCompleted
from tether.models import Usage

STATUS_STYLE = {
    "pending": "dim",
    "running": "cyan",
    "waiting": "yellow",
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
    "escalated": "bold yellow",
    "quarantined": "bold red",
}
STATUS_ICON = {
    "pending": "·",
    "running": "▶",
    "waiting": "⏸",
    "completed": "✔",
    "failed": "✘",
    "cancelled": "■",
    "escalated": "⚠",
    "quarantined": "☣",
}

# -- small formatters ------------------------------------------------------------------------


def to_json(value: Any) -> str:
    """Compact one-line JSON for display (non-JSON values fall back to ``str``).

    A value the store holds sealed (encrypted, or a reference) is shown as
    ``"[sealed]"``/``"[redacted]"``, never as its ciphertext.
    """
    return json.dumps(_shown(value), ensure_ascii=False, default=str)


def _shown(value: Any) -> Any:
    if isinstance(value, dict):
        if "$sealed" in value and set(value) <= {"$sealed", "kid"}:
            return "[sealed]"
        if "$redacted" in value and len(value) == 1:
            return "[redacted]"
        return {key: _shown(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shown(item) for item in value]
    return value


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… (+{len(text) - limit} chars)"


def one_line(text: str) -> str:
    """Whitespace collapsed, so a reply fits the line it is printed on."""
    return " ".join(text.split())


def call_text(name: str, arguments: dict[str, Any], limit: int) -> str:
    """A tool call as it would be written in Python: ``lookup_order(order_id="1234")``."""
    args = ", ".join(f"{key}={to_json(value)}" for key, value in arguments.items())
    return f"{name}({clip(args, limit)})"


def format_tokens(usage: Usage) -> str:
    """Tokens in, of which cached, and out."""
    return (
        f"{usage.input_tokens:,} in / {usage.cached_input_tokens:,} cached / "
        f"{usage.output_tokens:,} out"
    )


def format_duration(seconds: float) -> str:
    """A human duration: ``38 ms``, ``2.41 s``, ``3m 07s``, ``1h 02m``."""
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_cost(value: float, priced: bool) -> str:
    """Dollars, or a dash when no model call had a known price."""
    return f"${value:.4f}" if priced else "— (price unknown)"


def format_time(ts: float) -> str:
    """Local wall-clock time of a timestamp."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def format_when(ts: float, now: float | None = None) -> str:
    """A compact local time for tables: the time today, else the date and minute."""
    moment = time.localtime(ts)
    if time.strftime("%Y-%m-%d", moment) == time.strftime("%Y-%m-%d", time.localtime(now)):
        return time.strftime("%H:%M:%S", moment)
    return time.strftime("%Y-%m-%d %H:%M", moment)


def event_json(rec: RunEvent) -> str:
    """One persisted event as a JSON line: its place in the log, then its fields."""
    place = {"run_id": rec.run_id, "seq": rec.seq, "step": rec.step, "ts": rec.ts}
    return to_json({**place, **rec.event.model_dump(mode="json")})


def delta_json(item: LiveDelta) -> str:
    """A live delta as a JSON line (``type: model.delta``, no ``seq``: it is never stored)."""
    return to_json({"run_id": item.run_id, "type": item.type, **item.delta.model_dump()})


# -- run summaries ----------------------------------------------------------------------------

_NOT_STEP_WORK = frozenset({"run.created", "run.status", "run.finished", "signal.received"})


def summary_line(state: RunState, events: Sequence[RunEvent]) -> Text:
    """Status, steps, calls, tokens, cost and duration of a run, on one line."""
    steps = len({rec.step for rec in events if rec.type not in _NOT_STEP_WORK})
    priced = any(
        isinstance(rec.event, ModelCompleted) and rec.event.cost_usd is not None for rec in events
    )
    status = state.status
    line = Text(
        f"{STATUS_ICON.get(status, '?')} {status}", style=f"bold {STATUS_STYLE.get(status, '')}"
    )
    parts = [
        f"{steps} step{'s' * (steps != 1)}",
        f"{state.model_calls} model call{'s' * (state.model_calls != 1)}",
        f"{state.tool_calls} tool call{'s' * (state.tool_calls != 1)}",
        f"tokens {format_tokens(state.usage)}",
        f"cost {format_cost(state.cost_usd, priced)}",
        format_duration(max(state.updated_at - state.created_at, 0.0)),
    ]
    line.append(" · " + " · ".join(parts))
    return line


def answer_panel(output: Any, *, title: str = "answer") -> Panel:
    """The final answer, boxed: text as written, structured output as indented JSON."""
    body = output if isinstance(output, str) else json.dumps(output, indent=2, default=str)
    return Panel(Text(body), title=title, title_align="left", border_style="green")


def error_panel(error: dict[str, Any] | None) -> Panel:
    """A failed run's error code and message, boxed in red."""
    error = error or {}
    body = Text(f"{error.get('error_code', 'failed')}: ", style="bold red")
    body.append(str(error.get("message", "")))
    if error.get("details"):
        body.append(f"\n{to_json(error['details'])}", style="dim")
    return Panel(body, title="failed", title_align="left", border_style="red")
