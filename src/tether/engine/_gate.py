"""The policy gate inside a step: admit or refuse each proposed action, deterministically.

Before a tool call runs, its verdict is the most restrictive of: loop
detection, budgets, the kill switch (write tools), the agent's allowlist, the
tenant's and the agent's policy rules, the tool contract's approval
requirement and the ``before_tool`` hook. An admitted call then passes the
process's circuit breakers and rate limits (:func:`guard_tool_call`), whose
transitions are ``breaker.changed`` events of the run that saw them. Before a
model call, budgets are checked against a worst-case estimate and ``max_tokens``
is capped, so a hard limit is never overshot. Every non-trivial verdict is a
``policy.decided`` event with its reason; a plain allow (no rule said anything)
is not recorded.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from tether.engine._events import (
    ApprovalRequested,
    BreakerChanged,
    BudgetWarned,
    ModelRejected,
    PolicyDecided,
)
from tether.engine._protect import PayloadProtection
from tether.engine._share import LoopShare
from tether.engine._signals import EscalationRequested, GateFailure
from tether.engine._state import (
    EXPIRED_APPROVAL,
    Approval,
    RunState,
    args_hash,
    call_signature,
)
from tether.engine._transitions import Escalate, Fail
from tether.exceptions import BudgetExceededError
from tether.models import (
    DEFAULT_PRICING,
    NOT_GENERATED_CODES,
    ModelClient,
    ModelRequest,
    PricingTable,
    Router,
    StepKind,
    ToolCall,
    Usage,
)
from tether.policy import (
    DEFAULT_REPLY_TOKENS,
    BreakerChange,
    Budget,
    Decision,
    GuardTicket,
    GuardVerdict,
    SecretBroker,
    ToolGuard,
    Use,
    call_hook,
    check_model_call,
    check_tool_call,
    decide_call,
    estimate_input_tokens,
    hook_failure,
    loop_verdict,
    soft_crossings,
    tool_limit_error,
)
from tether.tools import ToolContract, ToolError, ToolOutcome

if TYPE_CHECKING:
    from tether.engine._step import StepContext
    from tether.policy import PolicyFile


class ModelPacing(Protocol):
    """Paces model calls (provider rate limits): wait before a call, pay its usage after."""

    async def before(self, model_id: str) -> None: ...

    def after(self, model_id: str, usage: Usage) -> None: ...


@dataclass(kw_only=True, slots=True)
class Governance:
    """Runtime-wide inputs to the gate, shared by every run of a runtime."""

    killswitch: Callable[[], Awaitable[bool]] | None = None
    tenant_rules: Mapping[str, PolicyFile] = field(default_factory=dict)
    secrets: SecretBroker | None = None
    protection: PayloadProtection = field(default_factory=PayloadProtection)
    pricing: PricingTable = field(default_factory=lambda: DEFAULT_PRICING)
    guard: ToolGuard = field(default_factory=ToolGuard)
    model_pacing: ModelPacing | None = None
    loop_share: LoopShare | None = None
    clock: Callable[[], float] = time.time
    """Now, on the clock approval expiry is stamped and judged by: the store's
    (:meth:`~tether.store.Store.clock`), one for every worker of a fleet."""


@dataclass(slots=True)
class Admission:
    """What the gate decided for one call: run it, answer with an error, or park the run."""

    kind: Literal["run", "refused", "await"]
    call: ToolCall
    error: ToolError | None = None


def current_use(state: RunState, now: float) -> Use:
    """What a run has used so far, at ``now`` (on the clock its events are stamped by)."""
    wall = state.active_seconds
    if state.running_since is not None:
        wall += max(0.0, now - state.running_since)
    # Failed attempts are model calls too, and one whose outcome is unknown may have
    # used (and billed) a whole reply: the budget counts its worst case.
    charged = state.charged_usage
    return Use(
        model_calls=state.model_calls + state.failed_model_calls,
        tool_calls=state.tool_calls,
        tool_counts=state.tool_counts,
        input_tokens=state.usage.input_tokens + charged.input_tokens,
        output_tokens=state.usage.output_tokens + charged.output_tokens,
        cost_usd=state.cost_usd + state.charged_cost_usd,
        wall_seconds=wall,
    )


def wall_seconds_left(ctx: StepContext) -> float | None:
    """Seconds of running time the run's budget has left (``None``: no such limit)."""
    budget = pinned_budget(ctx.state)
    if budget is None or budget.max_wall_seconds is None:
        return None
    return max(0.0, budget.max_wall_seconds - _use(ctx).wall_seconds)


def _use(ctx: StepContext) -> Use:
    """:func:`current_use` now, on the store's clock (the one events are stamped by)."""
    return current_use(ctx.state, ctx.governance.clock())


def pinned_budget(state: RunState) -> Budget | None:
    """The budget the run was started with (parsed once per record)."""
    record = state.budget
    if record is None:
        return None
    parsed = state.parsed_budget
    if parsed is None or parsed[0] is not record:
        budget = Budget.from_record(record)
        assert budget is not None
        parsed = state.parsed_budget = (record, budget)
    return parsed[1]


def limits_model_use(state: RunState) -> bool:
    """Whether the run's budget limits what model calls use (calls, tokens or dollars).

    Such a run commits what it recorded before each model call it makes (the commit of
    the step before, which would otherwise overlap the call, and any failed attempt):
    a crash then loses at most the call in flight, which the next driver charges (see
    ``StepContext.call_model``), never replies that were in and counted only in memory.
    """
    budget = pinned_budget(state)
    return budget is not None and budget.limits_model_use


def limits_tool_use(state: RunState) -> bool:
    """Whether the run's budget limits its tool calls (in all, or per tool).

    Such a run commits what it recorded before its tools run, as :func:`limits_model_use`
    does before a model call: a crash then re-runs at most the calls in flight, never
    calls whose results were in and counted only in memory.
    """
    budget = pinned_budget(state)
    return budget is not None and budget.limits_tool_use


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
    return regate_model_call(ctx, request)


def regate_model_call(ctx: StepContext, request: ModelRequest) -> ModelRequest:
    """The budget's check alone, before each attempt of a call (a retry, a fallback).

    Every attempt is a model call the provider may bill: one the budget no longer allows
    is not made, and each is capped to what is left.

    Raises:
        GateFailure: the budget does not allow another attempt.
    """
    budget = pinned_budget(ctx.state)
    if budget is None:
        return request
    prices = _call_prices(ctx.model_client(), request.step_kind, ctx.governance.pricing)
    try:
        cap = check_model_call(budget, _use(ctx), request, prices)
    except BudgetExceededError as exc:
        raise GateFailure(budget_failure(exc)) from None
    # The cap covers the output-token budget and, with a cost budget, the longest reply
    # the dollars left can pay for: the provider stops there, so the limit holds.
    if cap is not None and cap != request.settings.max_tokens:
        settings = request.settings.model_copy(update={"max_tokens": cap})
        request = request.model_copy(update={"settings": settings})
    return request


def worst_case_charge(
    ctx: StepContext,
    model_id: str,
    request: ModelRequest,
    error_code: str,
    *,
    broke_off: bool = False,
) -> tuple[Usage | None, float | None]:
    """What a failed attempt may have used, under a budget, when its outcome is unknown.

    A timeout, a dropped connection or a reply that broke off may come after the provider
    generated (and billed) the whole reply: the attempt is charged the request's
    estimated input and its ``max_tokens`` (the gate caps it). ``(None, None)`` without a
    budget, or for a failure that came before generation (a 429, a 4xx, a 5xx), unless the
    reply ``broke_off`` after it began: a streamed reply cut by an error event mid-way is
    charged whatever the error's code (red team 14c).
    """
    if pinned_budget(ctx.state) is None or (error_code in NOT_GENERATED_CODES and not broke_off):
        return None, None
    cap = request.settings.max_tokens
    usage = Usage(
        input_tokens=estimate_input_tokens(request),
        output_tokens=cap if cap is not None else DEFAULT_REPLY_TOKENS,
    )
    return usage, ctx.governance.pricing.cost(model_id, usage)


def _call_prices(
    client: ModelClient, step_kind: StepKind, pricing: PricingTable
) -> Callable[[Usage], float | None] | dict[str, Callable[[Usage], float | None]]:
    """What a model call may cost: the model's price, or each model's a router may use.

    A :class:`Router` has no price of its own: the call may be answered by any of its
    candidates for the step kind (a nested router's candidates too), so it is priced at
    each of them and the budget takes the most expensive.
    """
    if not isinstance(client, Router):
        model_id = client.model_id
        return lambda usage: pricing.cost(model_id, usage)
    prices: dict[str, Callable[[Usage], float | None]] = {}
    pending: list[ModelClient] = list(client.candidates(step_kind))
    seen: set[int] = {id(client)}
    while pending:
        candidate = pending.pop(0)
        if isinstance(candidate, Router):
            if id(candidate) not in seen:  # a router routing to itself adds nothing
                seen.add(id(candidate))
                pending[:0] = candidate.candidates(step_kind)
            continue
        prices[candidate.model_id] = functools.partial(pricing.cost, candidate.model_id)
    return prices


def note_use(ctx: StepContext) -> Escalate | None:
    """After a call: warn on soft thresholds, maybe degrade or escalate."""
    budget = pinned_budget(ctx.state)
    if budget is None:
        return None
    crossings = soft_crossings(budget, _use(ctx), ctx.state.budget_warned)
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
    index: int,
    admitted: dict[str, int],
    killswitch: Callable[[], Awaitable[bool]],
    *,
    reissue: bool = False,
) -> Admission:
    """Decide one proposed call; its arguments are already validated and coerced.

    The approval a call needs is bound to Tether's own identity of the call (the step
    and the call's index in it, :func:`approval_key`) and to a hash of its exact
    arguments; the provider's call id is only a label. ``reissue`` marks a write that
    was started before a crash (or that an operator asked to retry): it goes through
    the same gate, loop detection aside.

    Raises:
        GateFailure: a hard budget limit would be crossed.
        EscalationRequested: policy hands the run to a person.
    """
    state = ctx.state
    policy = ctx.agent.policy
    key = approval_key(state.step, index)
    if not reissue:
        loops = policy.loops
        # The signature the fold counts with (computed once, from the model's reply).
        signature = state.call_signatures.get(call.id) or call_signature(call.name, call.arguments)
        repeats = state.signature_counts.get(signature, 0)
        verdict = loop_verdict(repeats, loops.max_repeated_calls, loops.escalate_after)
        if verdict == "escalate":
            raise EscalationRequested(
                Escalate(
                    f"the agent keeps calling {call.name} with the same arguments "
                    f"({repeats} times)",
                    source="loop",
                    suggested_next_step="check why the tool result does not satisfy the agent",
                    context={"tool": call.name, "arguments": call.arguments},
                )
            )
        if verdict == "refuse":
            return Admission(
                "refused",
                call,
                ToolError(
                    error_code="loop_detected",
                    message=f"{call.name} was already called {repeats} times with these "
                    "arguments; calling it again will not change the result",
                    hint="Use the results you have, try different arguments, or give your answer.",
                ),
            )
    budget = pinned_budget(state)
    if budget is not None:
        try:
            check_tool_call(budget, _use(ctx), call.name, admitted)
        except BudgetExceededError as exc:
            if budget.on_tool_limit != "refuse":
                raise GateFailure(budget_failure(exc)) from None
            # A ceiling: this call is not made, and the model can still answer.
            ctx.record(
                PolicyDecided(
                    call_id=call.id,
                    key=key,
                    tool=call.name,
                    action="deny",
                    reason=exc.message,
                    rule=exc.dimension,
                    source="budget",
                )
            )
            return Admission("refused", call, tool_limit_error(exc))

    decision = await decide(ctx, call, contract, killswitch)
    approval = state.approvals.get(key)
    person = state.escalation_decisions.get(key)
    if (
        (decision.action != "allow" or decision.rule is not None)
        and approval is None
        and person is None
    ):
        ctx.record(_policy_event(call, key, decision))
    if decision.action == "deny":
        return Admission("refused", call, _denied(call, decision, reissue=reissue))
    if decision.action == "escalate":
        if person is None:
            raise EscalationRequested(
                Escalate(
                    decision.reason or f"policy escalates {call.name}",
                    source=f"policy:{decision.rule or decision.source}",
                    suggested_next_step=f"review the proposed {call.name} call, then resume "
                    "with approve=true or approve=false, send input, or cancel",
                    context={"call": key, "tool": call.name, "arguments": call.arguments},
                )
            )
        if not person.get("approved"):
            return Admission("refused", call, _declined(call, person))
    elif decision.action == "require_approval":
        arguments_hash = args_hash(call.arguments)
        if approval is None:
            ctx.record(_approval_request(ctx, call, contract, key, index, arguments_hash, decision))
            return Admission("await", call)
        if approval.request.args_hash not in (None, arguments_hash) and not (
            reissue and _edited_to(contract, approval, arguments_hash)
        ):
            return Admission("refused", call, _mismatch(call, key))
        if person is not None and _open_at_expiry(approval):
            # The request expired undecided and was escalated to a person, whose decision
            # (bound to this call's key and argument hash) stands in for the approval.
            if person.get("args_hash") not in (None, arguments_hash) and not (
                reissue and _edited_to(contract, approval, arguments_hash)
            ):
                return Admission("refused", call, _mismatch(call, key))
            if not person.get("approved"):
                return Admission("refused", call, _declined(call, person))
            admitted[call.name] = admitted.get(call.name, 0) + 1
            return Admission("run", call)
        if approval.decision is None:
            if (
                _expired(approval, ctx.governance.clock())
                and approval.request.on_expiry == "escalate"
            ):
                # Nobody decided in time and no person has decided since: hand the call
                # to a person (again) rather than park on a request that is over, whose
                # timer is already due.
                raise EscalationRequested(
                    Escalate(
                        f"approval of {call.name} expired undecided",
                        source=EXPIRED_APPROVAL,
                        suggested_next_step="resume with approve=true to run the call or "
                        "approve=false to decline it, send input, or cancel",
                        context={"calls": [key]},
                    )
                )
            return Admission("await", call)
        if _decided_too_late(approval):
            return Admission(
                "refused",
                call,
                ToolError(
                    error_code="approval_expired",
                    message=f"the approval request for this {call.name} call expired before "
                    f"{approval.decision.by} approved it; it does not cover this call",
                    hint="Tell the user the request expired; propose the call again if it is "
                    "still needed.",
                ),
            )
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
            edited = await _admit_edit(
                ctx, call, contract, approval.decision.arguments, killswitch, key
            )
            if isinstance(edited, Admission):
                return edited
            call = edited
    admitted[call.name] = admitted.get(call.name, 0) + 1
    return Admission("run", call)


def _mismatch(call: ToolCall, key: str) -> ToolError:
    return ToolError(
        error_code="approval_mismatch",
        message=f"the approval of {key} was given for other arguments than this "
        f"{call.name} call has; it does not cover this call",
        hint="Propose the call again if it is still needed.",
    )


def _expired(approval: Approval, now: float) -> bool:
    """Whether an undecided approval request is past its expiry at ``now`` (the store's
    clock, on which the expiry was set)."""
    expires_at = approval.request.expires_at
    return approval.decision is None and expires_at is not None and now >= expires_at


def _open_at_expiry(approval: Approval) -> bool:
    """Whether nobody decided an approval request before it expired.

    Such a request is decided only by the person it was escalated to (``resume`` with
    ``approve``, or ``input``); the decision recorded on the request afterwards closes it.
    """
    decision, expires_at = approval.decision, approval.request.expires_at
    if decision is None:
        return True
    return (
        expires_at is not None
        and approval.decided_at is not None
        and approval.decided_at >= expires_at
    )


def _decided_too_late(approval: Approval) -> bool:
    """Whether an approval was recorded after its request had expired (it approves nothing)."""
    decision, expires_at = approval.decision, approval.request.expires_at
    return (
        decision is not None
        and decision.approved
        and expires_at is not None
        and approval.decided_at is not None
        and approval.decided_at >= expires_at
    )


def _edited_to(contract: ToolContract, approval: Approval, arguments_hash: str) -> bool:
    """Whether a person approved this call by editing its arguments into these ones.

    A re-issued write (started, then the process died) carries the arguments it was
    started with: after an edited approval, the edit, not what the model asked for.
    """
    decision = approval.decision
    if decision is None or not decision.approved or decision.arguments is None:
        return False
    try:
        edited = contract.normalize(decision.arguments)
    except Exception:  # an edit that no longer validates approves nothing
        return False
    return args_hash(edited) == arguments_hash


async def _admit_edit(
    ctx: StepContext,
    call: ToolCall,
    contract: ToolContract,
    arguments: dict[str, Any],
    killswitch: Callable[[], Awaitable[bool]],
    key: str,
) -> ToolCall | Admission:
    """Validate a person's edited arguments and check them against every rule again.

    An edit is approved by the person who made it, so a rule that only asks for
    approval is satisfied; a rule that denies or escalates still wins. An edit can never
    pass a deny rule.
    """
    try:
        normalized = contract.normalize(arguments)
    except Exception as exc:  # ValidationError or anything a validator raised
        return Admission(
            "refused",
            call,
            ToolError(
                error_code="invalid_arguments",
                message=f"the approved, edited arguments for {call.name} do not fit its "
                f"schema: {exc}",
                hint="Tell the user the approved change could not be applied.",
            ),
        )
    edited = call.model_copy(update={"arguments": normalized})
    decision = await decide(ctx, edited, contract, killswitch)
    if decision.action in ("deny", "escalate"):
        ctx.record(_policy_event(edited, key, decision))
        return Admission("refused", edited, _denied(edited, decision, reissue=False))
    return edited


async def decide(
    ctx: StepContext,
    call: ToolCall,
    contract: ToolContract,
    killswitch: Callable[[], Awaitable[bool]],
) -> Decision:
    """Gather the inputs (kill switch, tenant rules, hook) and apply the pure decision."""
    policy = ctx.agent.policy
    tenant = ctx.state.tenant
    tenant_rules = ctx.governance.tenant_rules.get(tenant) if tenant is not None else None
    hook = policy.hooks.before_tool
    verdict: Decision | None = None
    if hook is not None:
        try:
            answer = await call_hook(hook, call, call.arguments)
        except Exception as exc:  # fail closed, never fail the run
            verdict = hook_failure(call.name, exc)
        else:
            verdict = answer if isinstance(answer, Decision) else None
    killswitch_on = contract.effect == "write" and await killswitch()
    return decide_call(
        policy,
        contract,
        call.name,
        call.arguments,
        killswitch_on=killswitch_on,
        tenant_rules=tenant_rules,
        hook_verdict=verdict,
    )


async def guard_tool_call(ctx: StepContext, contract: ToolContract) -> GuardVerdict:
    """Ask the breakers and rate limits (shared ones in the store) about an admitted call;
    record transitions.

    The verdict's error (``circuit_open``, ``rate_limited``) is the call's result when
    set: the tool is not called. Otherwise the caller waits ``verdict.wait`` seconds,
    runs the call and hands the outcome to :func:`settle_tool_call`.
    """
    guard = ctx.governance.guard
    verdict = await guard.acquire(contract, policy=ctx.agent.policy, tenant=ctx.state.tenant)
    _record_breaker_changes(ctx, verdict.changes)
    return verdict


def settle_tool_call(ctx: StepContext, ticket: GuardTicket, outcome: ToolOutcome | None) -> None:
    """Count a guarded call's outcome against its breaker (``None``: it never finished)."""
    if outcome is None:
        changes = ctx.governance.guard.settle(ticket, None, called=False)
    else:
        changes = ctx.governance.guard.settle(ticket, outcome.error, called=outcome.attempts > 0)
    _record_breaker_changes(ctx, changes)


def _record_breaker_changes(ctx: StepContext, changes: Sequence[BreakerChange]) -> None:
    for change in changes:
        ctx.record(
            BreakerChanged(
                key=change.key,
                tool=change.tool,
                previous=change.previous,
                current=change.current,
                reason=change.reason,
                failures=change.failures,
                retry_after=change.retry_after,
            )
        )


def approval_key(step: int, index: int) -> str:
    """Tether's identity of a call: its step and its index in the step (``"4.1"``)."""
    return f"{step}.{index}"


def _policy_event(call: ToolCall, key: str, decision: Decision) -> PolicyDecided:
    return PolicyDecided(
        call_id=call.id,
        key=key,
        tool=call.name,
        action=decision.action,
        reason=decision.reason,
        rule=decision.rule,
        source=decision.source,
    )


def _approval_request(
    ctx: StepContext,
    call: ToolCall,
    contract: ToolContract,
    key: str,
    index: int,
    arguments_hash: str,
    decision: Decision,
) -> ApprovalRequested:
    state = ctx.state
    settings = ctx.agent.policy.approvals
    reply = state.last_reply
    return ApprovalRequested(
        approval_id=key,
        call_id=call.id,
        step=state.step,
        call=index,
        args_hash=arguments_hash,
        tool=call.name,
        arguments=call.arguments,
        reason=decision.reason,
        rule=decision.rule,
        task=_task_text(state),
        reasoning=reply.text if reply is not None else None,
        # On the store's clock: whichever worker's timer pass or person's decision looks
        # at it next judges it on the same clock.
        expires_at=(
            ctx.governance.clock() + settings.timeout_seconds
            if settings.timeout_seconds is not None
            else None
        ),
        on_expiry=settings.on_expiry,
        preview=_preview(contract, call),
    )


_PREVIEW_CHARS = 500


def _preview(contract: ToolContract, call: ToolCall) -> str | None:
    """The tool's own words for what the call will do; a failing preview never fails the
    run (the person then decides from the arguments)."""
    describe = contract.preview
    if describe is None:
        return None
    try:
        text = describe(dict(call.arguments))
    except Exception as exc:
        return f"(no preview: {contract.name}'s preview raised {type(exc).__name__})"
    return None if text is None else str(text)[:_PREVIEW_CHARS]


def _denied(call: ToolCall, decision: Decision, *, reissue: bool) -> ToolError:
    message = f"policy denied {call.name}: {decision.reason}"
    if reissue:
        message = (
            f"{call.name} was started before the process stopped and may or may not have "
            f"happened; re-issuing it was denied: {decision.reason}"
        )
    return ToolError(
        error_code="denied",
        message=message,
        hint="Do not retry this call; choose another action or tell the user it is not allowed.",
        details={"rule": decision.rule, "source": decision.source},
    )


def _declined(call: ToolCall, person: Mapping[str, Any]) -> ToolError:
    by = person.get("by") or "a person"
    reason = person.get("reason")
    return ToolError(
        error_code="denied",
        message=f"{by} declined {call.name} after reviewing the escalation"
        + (f": {reason}" if reason else ""),
        hint="Do not retry this call; follow the person's instructions or tell the user.",
    )


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
