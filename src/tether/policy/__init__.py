"""The deterministic gate between a proposed action and its execution."""

from tether.exceptions import BudgetExceededError
from tether.policy._budget import (
    DEFAULT_REPLY_TOKENS,
    Budget,
    Use,
    charged_usage,
    check_model_call,
    check_tool_call,
    estimate_input_tokens,
    estimate_output_tokens,
    soft_crossings,
)
from tether.policy._decision import Decision, combine
from tether.policy._guards import (
    BreakerChange,
    GuardTicket,
    GuardVerdict,
    ToolGuard,
    breaker_for,
    breaker_key,
    counts_as_failure,
    rate_limit_for,
    tool_limit_error,
)
from tether.policy._injection import DEFAULT_PATTERNS as DEFAULT_INJECTION_PATTERNS
from tether.policy._injection import (
    InjectionPattern,
    InjectionScanner,
    default_scanner,
)
from tether.policy._policy import (
    ApprovalSettings,
    EscalationPolicy,
    Hooks,
    LoopPolicy,
    Policy,
    call_hook,
)
from tether.policy._rules import PolicyError, PolicyFile, PolicyRule
from tether.policy._secrets import (
    EnvSecrets,
    FileSecrets,
    MappingSecrets,
    MissingSecretError,
    SecretBroker,
    SecretProvider,
    default_broker,
)
from tether.policy._verdict import decide_call, hook_failure, loop_verdict, policy_fingerprint

__all__ = [
    "DEFAULT_INJECTION_PATTERNS",
    "DEFAULT_REPLY_TOKENS",
    "ApprovalSettings",
    "BreakerChange",
    "Budget",
    "BudgetExceededError",
    "Decision",
    "EnvSecrets",
    "EscalationPolicy",
    "FileSecrets",
    "GuardTicket",
    "GuardVerdict",
    "Hooks",
    "InjectionPattern",
    "InjectionScanner",
    "LoopPolicy",
    "MappingSecrets",
    "MissingSecretError",
    "Policy",
    "PolicyError",
    "PolicyFile",
    "PolicyRule",
    "SecretBroker",
    "SecretProvider",
    "ToolGuard",
    "Use",
    "breaker_for",
    "breaker_key",
    "call_hook",
    "charged_usage",
    "check_model_call",
    "check_tool_call",
    "combine",
    "counts_as_failure",
    "decide_call",
    "default_broker",
    "default_scanner",
    "estimate_input_tokens",
    "estimate_output_tokens",
    "hook_failure",
    "loop_verdict",
    "policy_fingerprint",
    "rate_limit_for",
    "soft_crossings",
    "tool_limit_error",
]
