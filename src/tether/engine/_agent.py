"""``Agent``: instructions, model, tools and loop settings, pinned by a version hash."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from tether.context import prefix_bytes, prefix_hash
from tether.engine._escalate import ESCALATE_TOOL, escalate_to_human
from tether.engine._machine import Machine
from tether.engine.loops import react_machine
from tether.exceptions import AgentDefinitionError, PolicyWarning
from tether.models import ModelClient, ModelSettings, ToolSpec
from tether.policy import Policy, policy_fingerprint
from tether.tools import (
    Catalog,
    MCPServer,
    RetryPolicy,
    ToolContract,
    expand_tools,
    flatten_catalogs,
    tool,
)


@dataclass(kw_only=True, eq=False)
class Agent:
    """What to run: a named agent definition.

    Args:
        name: Stable name; runs record it and recovery finds the agent by it.
        instructions: The system prompt (the start of the cache-stable prefix).
        model: A :class:`ModelClient` or a model id such as ``"local"`` or
            ``"openai:gpt-4.1-mini"`` (resolved on first use).
        tools: ``@tool`` contracts, plain typed functions or :class:`~tether.tools.MCPServer` s
            (whose tools join from the server's tool-list snapshot), or a
            :class:`~tether.tools.Catalog` (a router tool opens its domains on demand).
        max_turns: Model calls allowed before the run fails with ``max_turns_exceeded``.
        output_type: A pydantic model the final answer must validate against.
        max_output_repairs: Repair turns allowed when the final answer does not validate.
        model_settings: Sampling settings passed to the provider.
        model_retry: Retries for retryable model errors (rate limits, 5xx, timeouts).
        machine: The state machine to run; defaults to ReAct.
        policy: The deterministic gate: allowlist, rules, budget, loops, approvals,
            escalation, hooks (see :class:`tether.policy.Policy`).
    """

    name: str
    instructions: str = ""
    model: ModelClient | str = "local"
    tools: Sequence[ToolContract | MCPServer | Catalog | Callable[..., Any]] = ()
    max_turns: int = 30
    output_type: type[BaseModel] | None = None
    max_output_repairs: int = 2
    model_settings: ModelSettings = field(default_factory=ModelSettings)
    model_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_attempts=3))
    machine: Machine | None = None
    policy: Policy = field(default_factory=Policy)

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise AgentDefinitionError(
                f"agent name {self.name!r} must be non-empty letters, digits, '-' or '_'"
            )
        if self.max_turns < 1:
            raise AgentDefinitionError(f"agent {self.name!r}: max_turns must be >= 1")
        contracts: dict[str, ToolContract] = {}
        # A catalog's domain tools join the registry but stay out of the prompt's prefix.
        items, self.tool_domains = flatten_catalogs(self.tools)
        # MCP servers' tools come from their snapshot, after the native ones (see expand_tools).
        for contract in expand_tools(items):
            if contract.name in contracts:
                raise AgentDefinitionError(
                    f"agent {self.name!r}: two tools are named {contract.name!r}"
                )
            contracts[contract.name] = contract
        if self.policy.escalation.model_can_escalate:
            if ESCALATE_TOOL in contracts:
                raise AgentDefinitionError(
                    f"agent {self.name!r}: {ESCALATE_TOOL!r} is reserved for the built-in "
                    "escalation tool (EscalationPolicy(model_can_escalate=True))"
                )
            contracts[ESCALATE_TOOL] = tool(escalate_to_human)
        self.registry: dict[str, ToolContract] = contracts
        if self.machine is None:
            self.machine = react_machine()
        self.machine.validate()
        self._client: ModelClient | None = None if isinstance(self.model, str) else self.model
        self._resolved: dict[str, ModelClient] = {}
        rules = self.policy.rules
        if rules is not None and not isinstance(rules, str | Path):
            for message in rules.unknown_tool_rules(self.registry):
                warnings.warn(f"agent {self.name!r}: {message}", PolicyWarning, stacklevel=3)
            schemas = {name: contract.parameters for name, contract in self.registry.items()}
            for message in rules.unknown_argument_rules(schemas):
                warnings.warn(f"agent {self.name!r}: {message}", PolicyWarning, stacklevel=3)

    def resolve(self, model: ModelClient | str) -> ModelClient:
        """A model client for ``model`` (ids resolved once and cached)."""
        if not isinstance(model, str):
            return model
        if model not in self._resolved:
            from tether.models import resolve_model

            self._resolved[model] = resolve_model(model)
        return self._resolved[model]

    @property
    def client(self) -> ModelClient:
        """The model client, resolved from the model id on first use."""
        if self._client is None:
            from tether.models import resolve_model

            self._client = resolve_model(self.model)
        return self._client

    @property
    def model_id(self) -> str:
        """The model's id as recorded in the version hash."""
        return self.model if isinstance(self.model, str) else self.model.model_id

    @cached_property
    def tool_specs(self) -> list[ToolSpec]:
        """What the model is told about each tool, in a stable order.

        A catalog's domain tools are left out: the router's result describes them.
        """
        hidden = self.tool_domains
        return [c.spec() for c in self.registry.values() if c.name not in hidden]

    @cached_property
    def output_adapter(self) -> TypeAdapter[Any] | None:
        """Validator of the final answer, when ``output_type`` is set."""
        return TypeAdapter(self.output_type) if self.output_type is not None else None

    @cached_property
    def output_schema(self) -> dict[str, Any] | None:
        """JSON Schema of the final answer, when ``output_type`` is set."""
        return self.output_type.model_json_schema() if self.output_type is not None else None

    @cached_property
    def prefix(self) -> bytes:
        """The stable prompt prefix (instructions and tool schemas) as canonical JSON."""
        return prefix_bytes(self.instructions, self.tool_specs, self.output_schema)

    @cached_property
    def prefix_hash(self) -> str:
        """Hash of :attr:`prefix`; model calls record it to spot cache busts."""
        return prefix_hash(self.prefix)

    @cached_property
    def version(self) -> str:
        """Hash of everything that changes behaviour: pinned by every run at creation."""
        assert self.machine is not None
        parts = [
            self.name,
            self.prefix.decode(),
            self.model_id,
            self.model_settings.model_dump_json(),
            str(self.max_turns),
            str(self.max_output_repairs),
            self.machine.fingerprint(),
            *(c.schema_fingerprint() for c in self.registry.values()),
            *(_contract_settings(c) for c in self.registry.values()),
            policy_fingerprint(self.policy),
        ]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def _contract_settings(contract: ToolContract) -> str:
    """A tool's behaviour beyond its schema (approval, timeout, retries...) for the version.

    An approval predicate is a Python callable: its qualified name and a digest of its
    bytecode stand in for it (stable across processes of the same Python).
    """
    rule = contract.requires_approval
    approval: Any = bool(rule)
    if callable(rule):
        code = getattr(rule, "__code__", None)
        body = (
            ""
            if code is None
            else hashlib.sha256(
                code.co_code + repr(code.co_consts).encode() + repr(code.co_names).encode()
            ).hexdigest()[:16]
        )
        name = getattr(rule, "__qualname__", type(rule).__name__)
        # Not the module: the same file is "__main__" in one process, a module in another.
        approval = f"{name}:{body}"
    settings = {
        "requires_approval": approval,
        "timeout": contract.timeout,
        "risk": contract.risk,
        "idempotent": contract.idempotent,
        "retry": repr(contract.retry),
        "owner": contract.owner,
        "max_result_bytes": getattr(contract, "max_result_bytes", None),
        "examples": list(getattr(contract, "examples", ())),
    }
    return json.dumps(settings, sort_keys=True, default=str)
