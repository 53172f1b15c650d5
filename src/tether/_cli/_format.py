"""Small, pure formatters shared by the ``tether`` commands: values, times, totals, panels.

Everything here returns text (or a rich :class:`Text`/:class:`Panel`) and prints
nothing, so the printers and commands stay about layout and flow.
"""

from __future__ import annotations

import json
import re
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
    text = json.dumps(_shown(value), ensure_ascii=False, default=str)
    # Invisible and control characters as escapes: an approver reads "\u202e4321-8765",
    # not the "5678-1234" a bidi override would display.
    return _UNSAFE.sub(_escaped_char, text) if _UNSAFE.search(text) else text


def _escaped_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


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
    """A tool call as it would be written in Python: ``lookup_order(order_id="1234")``.

    ``limit`` is shared out between the values, each clipped on its own, and every key
    is always shown with numbers and booleans in full: a long first argument must not
    push an amount off the line a person approves from.
    """
    if not arguments:
        return f"{name}()"
    share = max(24, limit // len(arguments))
    args = ", ".join(f"{key}={_clipped_value(value, share)}" for key, value in arguments.items())
    return f"{name}({args})"


def _clipped_value(value: Any, limit: int) -> str:
    shown = to_json(value)
    if isinstance(value, bool | int | float) or value is None:
        return shown
    return clip(shown, limit)


_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f"
    "\u202a-\u202e\u2028\u2029\u2060-\u2064\u2066-\u206f\u3164\ufeff\ufff9-\ufffb"
    "\U000e0000-\U000e007f]"
)
"""Characters a terminal acts on or does not show: C0 and C1 controls (ESC starts every
escape sequence), DEL, and the invisible formatting characters (bidi overrides and
isolates, zero-width spaces and joiners, tag characters). Newline and tab are text."""


def _visible_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: ESC is shown as "␛"
    if code == 0x7F:
        return "\u2421"
    return "\ufffd"


def visible(text: str) -> str:
    """``text`` with every character a terminal would act on, or hide, made visible.

    One character for one, so styled spans over the text keep their places. Run content
    (tool results, replies, tool names, inputs) is attacker-controlled: an escape
    sequence in it could move the cursor and rewrite the line a person approves from,
    write the clipboard, or clear the screen; a bidi override could show "5678-1234"
    for "4321-8765".
    """
    return _UNSAFE.sub(_visible_char, text) if _UNSAFE.search(text) else text


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
