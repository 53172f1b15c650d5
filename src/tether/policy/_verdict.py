"""The gate's decision logic as pure functions: (call, rules, switches) -> ``Decision``.

The engine applies the verdicts (records events, parks, refuses); the logic that
produces them lives here so it can be read, tested and reused without a run. Every
function sees the *validated and coerced* arguments, the same ones the journal
records and the tool receives. A rule, predicate or hook that raises fails closed:
the call needs approval (a contract predicate) or is denied (a rule or hook), with a
structured reason, and the run goes on.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tether.policy._conditions import ConditionEvaluationError
from tether.policy._decision import ALLOW, Decision, combine

if TYPE_CHECKING:
    from tether.policy._policy import Policy
    from tether.policy._rules import PolicyFile
    from tether.tools import ToolContract


def decide_call(
    policy: Policy,
    contract: ToolContract,
    tool: str,
    arguments: Mapping[str, Any],
    *,
    killswitch_on: bool,
    tenant_rules: PolicyFile | None = None,
    hook_verdict: Decision | None = None,
) -> Decision:
    """Combine every source's verdict on one call; the most restrictive wins.

    Args:
        policy: The agent's policy (allowlist, rules).
        contract: The tool's contract (effect, approval requirement).
        tool: The tool name the call uses.
        arguments: The validated, coerced arguments that would execute.
        killswitch_on: Whether the runtime-wide kill switch for writes is on.
        tenant_rules: The tenant's policy file, applied on top of the agent's.
        hook_verdict: What the ``before_tool`` hook said (already awaited).
    """
    decisions: list[Decision] = []
    if contract.effect == "write" and killswitch_on:
        decisions.append(
            Decision.deny(
                "the kill switch is on: no write actions until an operator turns it off",
                source="killswitch",
            )
        )
    if policy.allow_tools is not None and not any(
        fnmatch.fnmatchcase(tool, pattern) for pattern in policy.allow_tools
    ):
        decisions.append(
            Decision.deny(f"{tool} is not in this agent's allowlist", source="allowlist")
        )
    for rules in (tenant_rules, policy.rules):
        if rules is None or isinstance(rules, str):
            continue
        decisions.extend(evaluate_rules(rules, tool, arguments))  # type: ignore[arg-type]  # Path is loaded in Policy.__post_init__
    required = approval_requirement(contract, tool, arguments)
    if required is not ALLOW:
        decisions.append(required)
    if hook_verdict is not None:
        decisions.append(hook_verdict.model_copy(update={"source": "hook"}))
    return combine(decisions)


def evaluate_rules(rules: PolicyFile, tool: str, arguments: Mapping[str, Any]) -> list[Decision]:
    """A policy file's verdicts; a rule that cannot be evaluated denies (fail closed).

    A condition that cannot judge an argument (a string where it compares with a number,
    a string too long for ``matches``) is the usual case: the reason names the rule, the
    argument and the type found, so the policy author sees which rule to fix.
    """
    try:
        return rules.evaluate(tool, arguments)
    except ConditionEvaluationError as exc:
        return [
            Decision.deny(
                f"policy rule {exc.rule!r} could not judge this call: {exc.problem}; "
                "denied to be safe",
                rule="policy_error",
                source="policy_file",
            )
        ]
    except Exception as exc:  # a rule must never fail the run; it must never let a call by
        return [
            Decision.deny(
                f"a policy rule could not be evaluated on this call ({type(exc).__name__}: "
                f"{exc}); denied to be safe",
                rule="policy_error",
                source="policy_file",
            )
        ]


def approval_requirement(
    contract: ToolContract, tool: str, arguments: Mapping[str, Any]
) -> Decision:
    """The contract's ``requires_approval``; a predicate that raises requires approval."""
    try:
        required = contract.approval_required(dict(arguments))
    except Exception as exc:  # fail closed: a person looks at a call the predicate cannot judge
        return Decision.require_approval(
            f"{tool} requires approval: its approval rule could not judge these arguments "
            f"({type(exc).__name__}: {exc})",
            rule=f"tool:{tool}",
            source="contract",
        )
    if required:
        return Decision.require_approval(
            f"{tool} requires approval", rule=f"tool:{tool}", source="contract"
        )
    return ALLOW


def hook_failure(tool: str, exc: BaseException) -> Decision:
    """What a ``before_tool`` hook that raised amounts to: a denial with the reason."""
    return Decision.deny(
        f"the before_tool hook raised {type(exc).__name__} on {tool}: {exc}; denied to be safe",
        rule="hook_error",
        source="hook",
    )


def loop_verdict(repeats: int, max_repeated_calls: int, escalate_after: int) -> str | None:
    """``"refuse"`` or ``"escalate"`` once a call repeats too often, else ``None``."""
    if repeats < max_repeated_calls:
        return None
    if repeats >= max_repeated_calls + escalate_after:
        return "escalate"
    return "refuse"


def policy_fingerprint(policy: Policy) -> str:
    """Canonical text of what a policy decides with: part of the agent version hash.

    Covers the allowlist, the rules (their content), the budget, loop, escalation and
    approval settings and the injection settings. Hooks are Python callables: their
    qualified names are included, not their code or module.
    """
    import json

    rules = policy.rules
    rules_text: Any = None
    if rules is not None and not isinstance(rules, str):
        rules_text = [
            [r.name, list(r.tools), r.action, r.reason, r.when]
            for r in rules.rules  # type: ignore[union-attr]  # a Path is loaded in __post_init__
        ]
    hooks = policy.hooks
    payload = {
        "allow_tools": list(policy.allow_tools) if policy.allow_tools is not None else None,
        "rules": rules_text,
        "budget": policy.budget.to_record() if policy.budget is not None else None,
        "loops": _fields(policy.loops),
        "escalation": _fields(policy.escalation),
        "approvals": _fields(policy.approvals),
        "hooks": {
            name: _qualname(getattr(hooks, name))
            for name in ("before_tool", "after_tool", "before_model", "after_model")
        },
        "degrade_model": policy.degrade_model
        if isinstance(policy.degrade_model, str | None)
        else policy.degrade_model.model_id,
        "injection": policy.injection.fingerprint() if policy.injection is not None else None,
        "escalate_on_injection": policy.escalate_on_injection,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in getattr(obj, "__slots__", ())}


def _qualname(fn: Any) -> str | None:
    # Not the module: the same file is "__main__" in one process and a module in another.
    if fn is None:
        return None
    return str(getattr(fn, "__qualname__", type(fn).__name__))


__all__: Sequence[str] = [
    "approval_requirement",
    "decide_call",
    "evaluate_rules",
    "hook_failure",
    "loop_verdict",
    "policy_fingerprint",
]
