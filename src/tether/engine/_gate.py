"""The policy gate inside a step: admit or refuse each proposed action, deterministically.

Before a tool call runs, its verdict is the most restrictive of: loop
detection, budgets, the kill switch (write tools), the agent's allowlist, the
tenant's and the agent's policy rules, the tool contract's approval
requirement and the ``before_tool`` hook. Before a model call, budgets are
checked against a worst-case estimate and ``max_tokens`` is capped, so a hard
limit is never overshot. Every non-trivial verdict is a ``policy.decided``
event with its reason; a plain allow (no rule said anything) is not recorded.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from tether.engine._events import (
    ApprovalRequested,
    BudgetWarned,
    ModelRejected,
    PolicyDecided,
)
from tether.engine._machine import Escalate, Fail
from tether.engine._state import RunState, call_signature
from tether.models._pricing import DEFAULT_PRICING, PricingTable
from tether.models._types import ModelRequest, ToolCall
from tether.observe._redact import Redactor
from tether.policy._budget import (
    Budget,
    BudgetExceededError,
    Use,
    check_model_call,
    check_tool_call,
    soft_crossings,
)
from tether.policy._decision import Decision, combine
from tether.policy._policy import call_hook
from tether.policy._secrets import SecretBroker
from tether.tools import ToolContract, ToolError

if TYPE_CHECKING:
    from tether.engine._context import StepContext
    from tether.policy._rules import PolicyFile


class EscalationRequested(Exception):  # control flow, not an error
    """Raised inside a step to hand the run to a person."""

    def __init__(self, escalate: Escalate) -> None:
        super().__init__(escalate.reason)
        self.escalate = escalate


class GateFailure(Exception):  # control flow, not an error
    """Raised inside a step when policy ends the run (budget exceeded, model call denied)."""

    def __init__(self, fail: Fail) -> None:
        super().__init__(fail.reason)
        self.fail = fail


@dataclass(kw_only=True, slots=True)
class Governance:
    """Runtime-wide inputs to the gate, shared by every run of a runtime."""

    killswitch: Callable[[], Awaitable[bool]] | None = None
    tenant_rules: Mapping[str, PolicyFile] = field(default_factory=dict)
    secrets: SecretBroker | None = None
    redactor: Redactor | None = None
    pricing: PricingTable = field(default_factory=lambda: DEFAULT_PRICING)


@dataclass(slots=True)
class Admission:
    """What the gate decided for one call: run it, answer with an error, or park the run."""

    kind: Literal["run", "refused", "await"]
    call: ToolCall
    error: ToolError | None = None


def current_use(state: RunState, now: float | None = None) -> Use:
    """What a run has used so far."""
    wall = state.active_seconds
    if state.running_since is not None:
        wall += max(0.0, (now or time.time()) - state.running_since)
    return Use(
        model_calls=state.model_calls,
        tool_calls=state.tool_calls,
        tool_counts=state.tool_counts,
        input_tokens=state.usage.input_tokens,
        output_tokens=state.usage.output_tokens,
        cost_usd=state.cost_usd,
        wall_seconds=wall,
    )


def pinned_budget(state: RunState) -> Budget | None:
    """The budget the run was started with."""
    return Budget.from_record(state.budget)


def budget_failure(exc: BudgetExceededError) -> Fail:
    """The run's ending when a hard limit would be crossed."""
    return Fail(
        exc.message,
        error_code="budget_exceeded",
        details={"dimension": exc.dimension, "usage": exc.usage},
    )


async def gate_model_call(ctx: StepContext, request: ModelRequest) -> ModelRequest:
    """Check budgets and the ``before_model`` hook; returns the request to send.

    Raises:
        GateFailure: the call is refused (budget exceeded or denied by a hook).
    """
    policy = ctx.agent.policy
    hook = policy.hooks.before_model
    if hook is not None:
        verdict = await call_hook(hook, request)
        if isinstance(verdict, Decision) and verdict.action != "allow":
            raise GateFailure(
                Fail(f"model call denied: {verdict.reason}", error_code="policy_denied")
            )
        if isinstance(verdict, ModelRequest):
            request = verdict
    budget = pinned_budget(ctx.state)
    if budget is None:
        return request
    client = ctx.model_client()
    pricing = ctx.governance.pricing
    try:
        cap = check_model_call(
            budget,
            current_use(ctx.state),
            request,
            lambda usage: pricing.cost(client.model_id, usage),
        )
    except BudgetExceededError as exc:
        raise GateFailure(budget_failure(exc)) from None
    if cap is not None and cap != request.settings.max_tokens:
        settings = request.settings.model_copy(update={"max_tokens": cap})
        request = request.model_copy(update={"settings": settings})
    return request


def note_use(ctx: StepContext) -> Escalate | None:
    """After a call: warn on soft thresholds, maybe degrade or escalate."""
    budget = pinned_budget(ctx.state)
    if budget is None:
        return None
    crossings = soft_crossings(budget, current_use(ctx.state), ctx.state.budget_warned)
    escalate = None
    for dimension, used, limit in crossings:
        degrade = ctx.agent.policy.degrade_model
        degraded_to = None
        if degrade is not None and ctx.state.degraded_to is None:
            degraded_to = degrade if isinstance(degrade, str) else degrade.model_id
        ctx.record(
            BudgetWarned(dimension=dimension, used=used, limit=limit, degraded_to=degraded_to)
        )
        if budget.escalate_on_soft_limit and escalate is None:
            escalate = Escalate(
                f"budget {dimension} reached {used} of {limit}",
                source="budget",
                suggested_next_step="raise the budget or stop the run",
            )
    return escalate


async def admit_tool_call(
    ctx: StepContext,
    call: ToolCall,
    contract: ToolContract,
    admitted: dict[str, int],
    killswitch: Callable[[], Awaitable[bool]],
) -> Admission:
    """Decide one proposed call. Raises ``GateFailure`` / ``EscalationRequested`` to stop."""
    state = ctx.state
    policy = ctx.agent.policy
    loops = policy.loops
    signature = state.call_signatures.get(call.id) or call_signature(call.name, call.arguments)
    repeats = state.signature_counts.get(signature, 0)
    if repeats >= loops.max_repeated_calls:
        if repeats >= loops.max_repeated_calls + loops.escalate_after:
            raise EscalationRequested(
                Escalate(
                    f"the agent keeps calling {call.name} with the same arguments "
                    f"({repeats} times)",
                    source="loop",
                    suggested_next_step="check why the tool result does not satisfy the agent",
                    context={"tool": call.name, "arguments": call.arguments},
                )
            )
        return Admission(
            "refused",
            call,
            ToolError(
                error_code="loop_detected",
                message=f"{call.name} was already called {repeats} times with these arguments; "
                "calling it again will not change the result",
                hint="Use the results you have, try different arguments, or give your answer.",
            ),
        )
    budget = pinned_budget(state)
    if budget is not None:
        try:
            check_tool_call(budget, current_use(state), call.name, admitted)
        except BudgetExceededError as exc:
            raise GateFailure(budget_failure(exc)) from None

    decision = await decide(ctx, call, contract, killswitch)
    already_asked = decision.action == "require_approval" and call.id in state.approvals
    if (decision.action != "allow" or decision.rule is not None) and not already_asked:
        ctx.record(
            PolicyDecided(
                call_id=call.id,
                tool=call.name,
                action=decision.action,
                reason=decision.reason,
                rule=decision.rule,
                source=decision.source,
            )
        )
    if decision.action == "deny":
        return Admission(
            "refused",
            call,
            ToolError(
                error_code="denied",
                message=f"policy denied {call.name}: {decision.reason}",
                hint="Do not retry this call; choose another action or tell the user it is "
                "not allowed.",
                details={"rule": decision.rule, "source": decision.source},
            ),
        )
    if decision.action == "escalate":
        raise EscalationRequested(
            Escalate(
                decision.reason or f"policy escalates {call.name}",
                source=f"policy:{decision.rule or decision.source}",
                suggested_next_step=f"review the proposed {call.name} call and resume or cancel",
                context={"tool": call.name, "arguments": call.arguments},
            )
        )
    if decision.action == "require_approval":
        approval = state.approvals.get(call.id)
        if approval is None:
            settings = policy.approvals
            reply = state.last_reply
            ctx.record(
                ApprovalRequested(
                    call_id=call.id,
                    tool=call.name,
                    arguments=call.arguments,
                    reason=decision.reason,
                    rule=decision.rule,
                    task=_task_text(state),
                    reasoning=reply.text if reply is not None else None,
                    expires_at=(
                        time.time() + settings.timeout_seconds
                        if settings.timeout_seconds is not None
                        else None
                    ),
                    on_expiry=settings.on_expiry,
                )
            )
            return Admission("await", call)
        if approval.decision is None:
            return Admission("await", call)
        if not approval.decision.approved:
            return Admission(
                "refused",
                call,
                ToolError(
                    error_code="denied",
                    message=f"{approval.decision.by} denied {call.name}"
                    + (f": {approval.decision.reason}" if approval.decision.reason else ""),
                    hint="Do not retry this call; tell the user what was declined and why.",
                ),
            )
        if approval.decision.arguments is not None:
            call = call.model_copy(update={"arguments": approval.decision.arguments})
    admitted[call.name] = admitted.get(call.name, 0) + 1
    return Admission("run", call)


async def decide(
    ctx: StepContext,
    call: ToolCall,
    contract: ToolContract,
    killswitch: Callable[[], Awaitable[bool]],
) -> Decision:
    """Combine every source's verdict on one call (most restrictive wins)."""
    policy = ctx.agent.policy
    decisions: list[Decision] = []
    if contract.effect == "write" and await killswitch():
        decisions.append(
            Decision.deny(
                "the kill switch is on: no write actions until an operator turns it off",
                source="killswitch",
            )
        )
    if policy.allow_tools is not None and not any(
        fnmatch.fnmatchcase(call.name, pattern) for pattern in policy.allow_tools
    ):
        decisions.append(
            Decision.deny(f"{call.name} is not in this agent's allowlist", source="allowlist")
        )
    tenant = ctx.state.tenant
    tenant_rules = ctx.governance.tenant_rules.get(tenant) if tenant is not None else None
    for rules in (tenant_rules, policy.rules):
        if rules is not None and not isinstance(rules, str):
            decisions.extend(rules.evaluate(call.name, call.arguments))  # type: ignore[union-attr]
    if contract.approval_required(call.arguments):
        decisions.append(
            Decision.require_approval(
                f"{call.name} requires approval", rule=f"tool:{call.name}", source="contract"
            )
        )
    hook = policy.hooks.before_tool
    if hook is not None:
        verdict = await call_hook(hook, call, call.arguments)
        if isinstance(verdict, Decision):
            decisions.append(verdict.model_copy(update={"source": "hook"}))
    return combine(decisions)


def reject_repeated_reply(ctx: StepContext) -> Escalate | bool:
    """If the model keeps sending the same reply, tell it (and escalate if it persists).

    Returns ``True`` when the reply was rejected, an ``Escalate`` when the run must
    go to a person, ``False`` when the reply is fine.
    """
    loops = ctx.agent.policy.loops
    repeats = ctx.state.repeated_replies + 1
    if repeats < loops.max_repeated_replies:
        return False
    if repeats >= loops.max_repeated_replies + loops.escalate_after:
        return Escalate(
            f"the model sent the same reply {repeats} times in a row",
            source="loop",
            suggested_next_step="inspect the conversation; the agent is stuck",
        )
    ctx.record(
        ModelRejected(
            reason=f"you sent the same reply {repeats} times in a row",
            hint="Change your approach: use the results you already have or give your answer.",
        )
    )
    return True


def check_failures(ctx: StepContext) -> Escalate | None:
    """Escalate when tool calls keep failing in a row."""
    limit = ctx.agent.policy.escalation.max_consecutive_tool_failures
    failures = ctx.state.consecutive_failures
    if limit is None or failures < limit:
        return None
    return Escalate(
        f"{failures} tool calls failed in a row",
        source="tool_failures",
        suggested_next_step="check the failing tools, then resume the run or cancel it",
    )


def _task_text(state: RunState) -> str:
    first = state.messages[0].content if state.messages else None
    return first or ""
