"""How runs look to people: the live stream of ``tether run`` and the timeline of ``show``.

One :class:`EventPrinter` serves both. Streaming (``detail=False``) prints a line per
event and live model text inline as it arrives; the timeline (``detail=True``) adds
what an investigation needs: tokens, latency, attempt and prefix hash per model call,
arguments and result per tool call. All user content goes through :class:`Text`, so a
model reply containing ``[bold]`` is printed as written, never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from tether import LiveDelta, RunEvent
from tether._cli._format import (
    STATUS_STYLE,
    answer_panel,
    call_text,
    clip,
    error_panel,
    format_duration,
    format_time,
    format_tokens,
    one_line,
    to_json,
)
from tether._cli._next import NextSteps, escalation_lines, wait_lines
from tether.engine import (
    TERMINAL,
    EffectRecorded,
    ModelCompleted,
    ModelFailed,
    ModelRejected,
    OutputRejected,
    RunCreated,
    RunFinished,
    RunStatusChanged,
    SignalReceived,
    ToolCompleted,
    ToolFailed,
    ToolStarted,
    Transitioned,
)
from tether.models import ToolCall

_LABEL_WIDTH = 7
_INDENT = " " * (_LABEL_WIDTH + 3)


@dataclass(kw_only=True, frozen=True, slots=True)
class Limits:
    """How much of long values to print: tight while streaming, generous in a timeline."""

    text: int
    arguments: int
    result: int


STREAM_LIMITS = Limits(text=400, arguments=300, result=240)
TIMELINE_LIMITS = Limits(text=4000, arguments=4000, result=4000)


# -- the printer ----------------------------------------------------------------------------


class EventPrinter:
    """Prints one run's events, live (``detail=False``) or as a full timeline."""

    def __init__(self, console: Console, *, detail: bool, next_steps: NextSteps) -> None:
        self.console = console
        self.detail = detail
        self.next_steps = next_steps
        self.limits = TIMELINE_LIMITS if detail else STREAM_LIMITS
        self._step = -1
        self._calls: dict[str, ToolCall] = {}
        self._streamed: list[str] = []
        self._live = False
        self._next_step: int | None = None

    def expect_step(self, step: int) -> None:
        """Say which step live deltas belong to before any event has (resume, signal)."""
        self._next_step = step

    # Live deltas ------------------------------------------------------------------------------

    def delta(self, item: LiveDelta) -> None:
        """Print a live fragment inline (dim); the stored reply that follows completes the line."""
        delta = item.delta
        if not self._live and self._next_step is not None:
            self._step_rule(self._next_step)
        if not self._live:
            self._live = True
            self._streamed = []
            self.console.print(self._label("model", "bold blue"), end="")
        if delta.kind == "text":
            self._streamed.append(delta.text)
            self.console.print(Text(delta.text, style="dim"), end="")
            return
        if delta.tool_name:
            self.console.print(Text(f" → {delta.tool_name} ", style="dim"), end="")
        if delta.arguments_fragment:
            self.console.print(Text(delta.arguments_fragment, style="dim"), end="")

    def end_live(self) -> None:
        """Finish a half-written live line (before any other output)."""
        if self._live:
            self._live = False
            self.console.print()

    # Persisted events -------------------------------------------------------------------------

    def event(self, rec: RunEvent) -> None:
        """Print one persisted event."""
        ev = rec.event
        if isinstance(ev, ModelCompleted):
            self._step_rule(rec.step)
            self._model_completed(ev)
            return
        if isinstance(ev, RunCreated):
            self._run_created(rec, ev)
            return
        if isinstance(ev, RunStatusChanged) and not self._shows_status(ev):
            return
        self._step_rule(rec.step)
        if isinstance(ev, ToolCompleted):
            self._tool_completed(ev)
        elif isinstance(ev, ToolFailed):
            self._tool_failed(ev)
        elif isinstance(ev, ToolStarted):
            self._line(
                "write",
                "magenta",
                Text(f"{call_text(ev.tool, ev.arguments, self.limits.arguments)} started")
                + Text(f"  (idempotency key {ev.idempotency_key})", style="dim"),
            )
        elif isinstance(ev, RunStatusChanged):
            self._status(rec, ev)
        elif isinstance(ev, RunFinished):
            self._finished(ev)
        elif isinstance(ev, ModelFailed):
            self._model_failed(ev)
        elif isinstance(ev, ModelRejected):
            hint = f" — {ev.hint}" if ev.hint else ""
            self._line("model", "yellow", Text(f"⚠ reply rejected: {ev.reason}{hint}"))
        elif isinstance(ev, OutputRejected):
            text = clip(ev.errors, self.limits.text)
            self._line(
                "output",
                "yellow",
                Text(f"⚠ answer failed its schema (repair {ev.attempt}): {text}"),
            )
        elif isinstance(ev, SignalReceived):
            by = f" by {ev.by}" if ev.by else ""
            payload = (
                "" if ev.payload is None else " " + clip(to_json(ev.payload), self.limits.result)
            )
            self._line("signal", "cyan", Text(f"⚑ {ev.name}{by}") + Text(payload, style="dim"))
        elif isinstance(ev, EffectRecorded):
            if self.detail:
                value = clip(to_json(ev.value), self.limits.result)
                self._line("effect", "dim", Text(f"{ev.kind} = {value}", style="dim"))
        elif isinstance(ev, Transitioned):
            # Deltas carry no step: the ones after this transition belong to the next step.
            self._next_step = rec.step + 1
            if self.detail:
                self._line("next", "dim", Text(f"→ {ev.to}", style="dim"))
        else:
            self._governance(ev.type, ev.model_dump(mode="json"))

    def _governance(self, kind: str, fields: dict[str, Any]) -> None:
        """Policy, approval, budget and escalation events, read by field name.

        They are matched on ``type`` rather than class so this view keeps working while
        those events evolve; a type it does not know is still printed, compactly.
        """
        get = fields.get
        if kind == "policy.decided":
            action = str(get("action"))
            style = {"deny": "red", "allow": "dim"}.get(action, "yellow")
            rule = f" [rule {get('rule')}]" if get("rule") else ""
            text = Text(f"{action} {get('tool')}: {get('reason')}{rule}", style=style)
            self._line("policy", style, text + Text(f"  ({get('source')})", style="dim"))
        elif kind == "approval.requested":
            raw: Any = get("arguments")
            args: dict[str, Any] = raw if isinstance(raw, dict) else {}
            call = call_text(str(get("tool")), args, self.limits.arguments)
            text = Text(f"✋ {call} needs approval: {get('reason')}", style="yellow")
            if get("preview"):
                text += Text(f" — {get('preview')}", style="bold yellow")
            # The id `tether approve` takes: Tether's "step.index" (provider ids are labels).
            approval = get("approval_id") or get("call_id")
            self._line("approve", "yellow", text + Text(f"  [{approval}]", style="dim"))
        elif kind == "approval.decided":
            approved = bool(get("approved"))
            verdict, style = ("approved", "green") if approved else ("denied", "red")
            approval = get("approval_id") or get("call_id")
            text = Text(f"{approval} {verdict} by {get('by')}", style=style)
            if get("reason"):
                text.append(f": {get('reason')}")
            if get("arguments") is not None:
                text.append(f"  with arguments {clip(to_json(get('arguments')), 300)}", style="dim")
            self._line("approve", style, text)
        elif kind == "budget.warned":
            text = Text(f"⚠ {get('dimension')} at {get('used')} of {get('limit')}")
            if get("degraded_to"):
                text.append(f"; switching to {get('degraded_to')}")
            self._line("budget", "yellow", text)
        elif kind == "run.escalated":
            text = Text(f"⚠ {get('reason')} ({get('source')})", style="yellow")
            if get("suggested_next_step"):
                text.append(f"; suggested: {get('suggested_next_step')}", style="dim")
            self._line("handoff", "bold yellow", text)
        elif kind == "injection.flagged":
            patterns = ", ".join(str(p) for p in get("patterns") or [])
            text = Text(f"⚠ {get('tool')} result looks like a prompt injection: {patterns}")
            self._line("inject", "yellow", text + Text(f"  [{get('call_id')}]", style="dim"))
        elif kind == "breaker.changed":
            current = get("current")
            style = {"open": "red", "half_open": "yellow"}.get(str(current), "green")
            text = Text(f"circuit of {get('key')} {get('previous')} → {current}: {get('reason')}")
            self._line("breaker", style, text)
        elif kind == "prefix.changed":
            changed = ", ".join(str(c) for c in get("changed") or [])
            self._line("prefix", "yellow", Text(f"prompt prefix changed ({changed}): cache miss"))
        else:
            rest = {k: v for k, v in fields.items() if k not in ("v", "type")}
            self._line(kind[:_LABEL_WIDTH], "dim", Text(clip(to_json(rest), 300), style="dim"))

    # -- per event ---------------------------------------------------------------------------

    def _run_created(self, rec: RunEvent, ev: RunCreated) -> None:
        head = Text("▶ run ", style="bold") + Text(rec.run_id, style="bold cyan")
        head.append(f" · agent {ev.agent}", style="bold")
        head.append(f" (version {ev.agent_version})", style="dim")
        if ev.tenant:
            head.append(f" · tenant {ev.tenant}")
        if ev.parent_run_id:
            head.append(f" · parent {ev.parent_run_id}")
        if self.detail:
            head.append(f" · created {format_time(rec.ts)}", style="dim")
        self._print(head)
        value = ev.input if isinstance(ev.input, str) else to_json(ev.input)
        self._print(Text("  input: ", style="dim") + Text(clip(value, self.limits.text)))

    def _model_completed(self, ev: ModelCompleted) -> None:
        response = ev.response
        for call in response.tool_calls:
            self._calls[call.id] = call
        meta = self._model_meta(ev)
        streamed = "".join(self._streamed)
        if self._live and streamed == (response.text or ""):
            # The live line already shows this reply's text: finish it with the numbers.
            self._live = False
            self.console.print(Text("  ") + meta)
        else:
            self.end_live()
            body = Text()
            if response.text:
                text = response.text if self.detail else one_line(response.text)
                body.append(clip(text, self.limits.text))
            elif not response.tool_calls:
                body.append("(empty reply)", style="dim")
            self._line("model", "bold blue", body + Text("  ") + meta if body else meta)
        self._streamed = []
        for call in response.tool_calls:
            line = Text(_INDENT + "→ ", style="bold") + Text(
                call_text(call.name, call.arguments, self.limits.arguments), style="bold"
            )
            if self.detail:
                line.append(f"  [{call.id}]", style="dim")
            if call.invalid_arguments is not None:
                line.append(
                    f"  invalid arguments: {clip(call.invalid_arguments, 200)}", style="red"
                )
            self._print(line)

    def _model_meta(self, ev: ModelCompleted) -> Text:
        response = ev.response
        parts = [f"{format_tokens(response.usage)} tok", format_duration(ev.latency_ms / 1000)]
        if self.detail:
            parts = [f"call {ev.call}", f"attempt {ev.attempt}", *parts]
            if ev.prefix_hash:
                parts.append(f"prefix {ev.prefix_hash[:8]}")
            if response.model:
                parts.append(response.model)
            parts.append(f"finish {response.finish_reason}")
            if ev.cost_usd is not None:
                parts.append(f"${ev.cost_usd:.4f}")
        elif ev.attempt > 1:
            parts.append(f"attempt {ev.attempt}")
        return Text(f"({' · '.join(parts)})", style="dim")

    def _model_failed(self, ev: ModelFailed) -> None:
        retry = ev.will_retry
        text = Text(f"{'↻' if retry else '✘'} {ev.model} attempt {ev.attempt} failed ")
        text.append(f"[{ev.error_code}] ", style="bold")
        text.append(ev.message)
        if retry:
            after = f" after {ev.retry_after:g} s" if ev.retry_after else ""
            text.append(f"; retrying{after}", style="dim")
        self._line("model", "yellow" if retry else "red", text)

    def _tool_completed(self, ev: ToolCompleted) -> None:
        result = clip(to_json(ev.result), self.limits.result)
        meta = [format_duration(ev.duration_ms / 1000)]
        if ev.attempt > 1 or self.detail:
            meta.insert(0, f"attempt {ev.attempt}")
        if not self.detail:
            line = Text(f"✓ {ev.tool} → ", style="green") + Text(result)
            self._line("tool", "green", line + Text(f"  ({' · '.join(meta)})", style="dim"))
            return
        head = Text(f"✓ {ev.tool}", style="bold green") + Text(
            f"  [{ev.call_id}] ({' · '.join(meta)})", style="dim"
        )
        self._line("tool", "green", head)
        self._arguments(ev.call_id)
        self._print(Text(_INDENT + "result ", style="dim") + Text(result))

    def _tool_failed(self, ev: ToolFailed) -> None:
        error = ev.error
        icon, style = ("↻", "yellow") if ev.will_retry else ("✘", "red")
        text = Text(f"{icon} {ev.tool} ", style=f"bold {style}")
        text.append(f"[{error.error_code}] ", style=f"bold {style}")
        text.append(error.message, style=style)
        meta = f"  (attempt {ev.attempt} · {format_duration(ev.duration_ms / 1000)})"
        if self.detail:
            meta = f"  [{ev.call_id}]" + meta
        if ev.charged:
            meta += "; charged to the budget, running again"
        elif ev.will_retry:
            meta += "; retrying"
        text.append(meta, style="dim")
        self._line("tool", style, text)
        if self.detail:
            self._arguments(ev.call_id)
        if error.hint:
            self._print(Text(_INDENT + "hint: ", style="dim") + Text(error.hint, style=style))
        if self.detail and error.details:
            details = clip(to_json(error.details), self.limits.result)
            self._print(Text(_INDENT + "details ", style="dim") + Text(details))

    def _arguments(self, call_id: str) -> None:
        call = self._calls.get(call_id)
        if call is not None:
            args = clip(to_json(call.arguments), self.limits.arguments)
            self._print(Text(_INDENT + "args   ", style="dim") + Text(args))

    def _shows_status(self, ev: RunStatusChanged) -> bool:
        # While streaming, the header says the run started and the summary how it ended.
        return self.detail or not (ev.status in TERMINAL or ev.previous == "pending")

    def _status(self, rec: RunEvent, ev: RunStatusChanged) -> None:
        if ev.status == "waiting":
            for line in wait_lines(rec.run_id, ev.reason, ev.details, self.next_steps):
                self._print(line)
            return
        if ev.status == "escalated":
            for line in escalation_lines(rec.run_id, ev.reason, self.next_steps):
                self._print(line)
            return
        text = Text(f"{ev.previous} → ")
        text.append(ev.status, style=STATUS_STYLE.get(ev.status, ""))
        if ev.reason:
            text.append(f" ({ev.reason})", style="dim")
        self._line("status", "dim", text)

    def _finished(self, ev: RunFinished) -> None:
        if ev.status == "completed":
            self._print(answer_panel(ev.output), soft_wrap=False)
        elif ev.status == "failed":
            error = ev.error.model_dump(mode="json") if ev.error is not None else None
            self._print(error_panel(error), soft_wrap=False)
        else:
            message = (ev.error.message if ev.error is not None else None) or ev.status
            self._line("run", "magenta", Text(f"■ {ev.status}: {message}", style="magenta"))

    # -- layout ------------------------------------------------------------------------------

    def _step_rule(self, step: int) -> None:
        if step != self._step:
            self._step = step
            self._print(Text(f"── step {step} ", style="dim") + Text("─" * 24, style="dim"))

    def _print(self, renderable: Text | Panel, *, soft_wrap: bool | None = None) -> None:
        self.end_live()
        self.console.print(renderable, soft_wrap=soft_wrap)

    def _label(self, label: str, style: str) -> Text:
        return Text(f"  {label:<{_LABEL_WIDTH}} ", style=style)

    def _line(self, label: str, style: str, body: Text) -> None:
        self._print(self._label(label, style) + body)
