"""``Policy``: everything that governs what a run may do, outside the model.

The model proposes; these settings, evaluated deterministically before every
tool dispatch and model call, decide. Nothing a model says can widen them.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tether.policy._budget import Budget
from tether.policy._decision import Decision
from tether.policy._injection import InjectionScanner, default_scanner
from tether.tools import Breaker, RateLimit

if TYPE_CHECKING:
    from tether.models import ModelClient, ModelRequest, ModelResponse, ToolCall
    from tether.policy._rules import PolicyFile

BeforeTool = Callable[["ToolCall", dict[str, Any]], "Decision | Awaitable[Decision | None] | None"]
AfterTool = Callable[["ToolCall", Any], Any]
BeforeModel = Callable[["ModelRequest"], "ModelRequest | Decision | Awaitable[Any] | None"]
AfterModel = Callable[["ModelResponse"], "ModelResponse | Awaitable[Any] | None"]


@dataclass(frozen=True, kw_only=True, slots=True)
class LoopPolicy:
    """Loop detection.

    Args:
        max_repeated_calls: Calls of one tool with the same arguments before further
            identical calls are refused with a ``loop_detected`` error.
        max_repeated_replies: Identical consecutive model replies before the model is
            told it is repeating itself.
        escalate_after: Further repeats, after the model was told, before the run
            is escalated to a person.
    """

    max_repeated_calls: int = 3
    max_repeated_replies: int = 3
    escalate_after: int = 2


@dataclass(frozen=True, kw_only=True, slots=True)
class EscalationPolicy:
    """When a run is handed to a person.

    Args:
        max_consecutive_tool_failures: Failed tool calls in a row before escalating
            (``None``: never for this reason).
        model_can_escalate: Offer the model a built-in ``escalate_to_human`` tool, so it
            can signal low confidence itself; calling it parks the run as escalated
            with the model's reason and suggested next step.
    """

    max_consecutive_tool_failures: int | None = 5
    model_can_escalate: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class ApprovalSettings:
    """How approval requests behave.

    Args:
        timeout_seconds: Time a person has to decide (``None``: no expiry).
        on_expiry: What an expired request becomes: a denial, or an escalation.
    """

    timeout_seconds: float | None = None
    on_expiry: Literal["deny", "escalate"] = "deny"


@dataclass(frozen=True, kw_only=True, slots=True)
class Hooks:
    """Python hooks for what rules cannot express (sync or async callables).

    ``before_tool(call, arguments)`` may return a :class:`Decision`;
    ``after_tool(call, result)`` may return a replacement result (e.g. filtered);
    ``before_model(request)`` may return a changed request or a deny Decision;
    ``after_model(response)`` may return a replacement response.
    """

    before_tool: BeforeTool | None = None
    after_tool: AfterTool | None = None
    before_model: BeforeModel | None = None
    after_model: AfterModel | None = None


@dataclass(kw_only=True, eq=False)
class Policy:
    """The deterministic gate of an agent.

    Args:
        allow_tools: Glob patterns of the tools this agent may call (``None``: all of
            its tools). A call outside the allowlist is denied.
        rules: A policy file (path or loaded :class:`PolicyFile`) of rules on tool
            names and arguments.
        budget: Hard and soft limits (pinned in each run when it starts).
        loops: Loop detection settings.
        escalation: When to hand a run to a person.
        approvals: Expiry of approval requests.
        hooks: Python hooks.
        degrade_model: Model to switch to once a budget's soft threshold is crossed.
        injection: Scanner that flags prompt-injection patterns in tool outputs
            (``injection.flagged`` events; ``None`` turns it off). Flagging is a signal,
            not the defence: the gate decides what runs whatever a tool output says.
        escalate_on_injection: Hand the run to a person when a tool output is flagged.
            Expect handoffs on text that quotes attacks: on a set written by someone who
            never saw the scanner it flagged 12% of hard benign outputs (security
            writing, docs and code that quote injections) and caught 75% of attacks
            (``benchmarks/redteam.py``, ``outsider``).
        breakers: Circuit breakers for tools whose contract sets none, by tool name, by
            breaker key (``"mcp:SERVER"``: one breaker for all of a server's tools) or by
            glob (``"*"``). See :class:`tether.tools.Breaker`.
        rate_limits: Rate limits for tools whose contract sets none, keyed the same way
            (an ``"mcp:SERVER"`` limit is one bucket shared by the server's tools).
        tenant_rate_limit: Tool calls per period of each tenant (one bucket per tenant,
            shared by every run whose agent sets it, in every worker on the store unless
            the limit says ``shared=False``).

    Breakers hold their state per runtime process, rate limits in the store (or per
    process with ``shared=False``); neither is part of the agent version (they can be
    tuned without pinning runs to a new version). The tool-call ceiling of a run is
    ``budget`` (``Budget(max_tool_calls=..., on_tool_limit="refuse")``).
    """

    allow_tools: Sequence[str] | None = None
    rules: PolicyFile | str | Path | None = None
    budget: Budget | None = None
    loops: LoopPolicy = field(default_factory=LoopPolicy)
    escalation: EscalationPolicy = field(default_factory=EscalationPolicy)
    approvals: ApprovalSettings = field(default_factory=ApprovalSettings)
    hooks: Hooks = field(default_factory=Hooks)
    degrade_model: ModelClient | str | None = None
    injection: InjectionScanner | None = field(default_factory=default_scanner)
    escalate_on_injection: bool = False
    breakers: Mapping[str, Breaker] = field(default_factory=dict)
    rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    tenant_rate_limit: RateLimit | None = None

    def __post_init__(self) -> None:
        if isinstance(self.rules, str | Path):
            from tether.policy._rules import PolicyFile

            self.rules = PolicyFile.load(self.rules)


async def call_hook(hook: Callable[..., Any], *args: Any) -> Any:
    """Call a sync or async hook."""
    value = hook(*args)
    if inspect.isawaitable(value):
        value = await value
    return value
