"""What callers get back from a run: its result, usage and live deltas."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tether.engine import ApprovalRequested, RunFailure, RunState, RunStatus
from tether.models import StreamDelta


@dataclass(frozen=True, kw_only=True, slots=True)
class RunUsage:
    """Totals of one run: tokens, calls and cost."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    model_calls: int = 0
    tool_calls: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class RunResult:
    """Where a run stopped: completed, failed, cancelled, or waiting for a signal."""

    run_id: str
    status: RunStatus
    output: Any = None
    error: RunFailure | None = None
    """Why it failed or was cancelled: ``error_code`` (a ``RunFailureCode``), ``message``."""
    usage: RunUsage
    steps: int = 0
    wait_reason: str | None = None
    wait_details: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """Whether the run completed successfully."""
        return self.status == "completed"

    @classmethod
    def from_state(cls, state: RunState, output: Any = None) -> RunResult:
        """Summarize a folded run state."""
        usage = state.usage
        return cls(
            run_id=state.run_id,
            status=state.status,
            output=state.output if output is None else output,
            error=state.error,
            usage=RunUsage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cached_input_tokens=usage.cached_input_tokens,
                model_calls=state.model_calls,
                tool_calls=state.tool_calls,
                cost_usd=round(state.cost_usd, 8),
            ),
            steps=state.step,
            wait_reason=state.wait_reason,
            wait_details=state.wait_details,
        )


@dataclass(frozen=True, slots=True)
class LiveDelta:
    """A streamed token or tool-call fragment: live only, never stored."""

    run_id: str
    delta: StreamDelta
    type: str = "model.delta"


@dataclass(frozen=True, kw_only=True, slots=True)
class PendingApproval:
    """A call waiting for a person: readable in 30 seconds.

    ``approval_id`` is what to pass to ``Runtime.approve``/``deny``: Tether's identity
    of the exact call (its step and index). ``call_id`` is the provider's label, which
    providers may reuse or omit.
    """

    approval_id: str
    call_id: str
    tool: str
    arguments: dict[str, Any]
    reason: str
    rule: str | None
    task: str
    reasoning: str | None
    expires_at: float | None
    preview: str | None = None
    """What the call will do, in the tool's words (see ``@tool(preview=...)``)."""

    @classmethod
    def from_request(cls, request: ApprovalRequested) -> PendingApproval:
        """Summarize an ``approval.requested`` event."""
        return cls(
            approval_id=request.key,
            call_id=request.call_id,
            tool=request.tool,
            arguments=request.arguments,
            reason=request.reason,
            rule=request.rule,
            task=request.task,
            reasoning=request.reasoning,
            expires_at=request.expires_at,
            preview=request.preview,
        )
