"""``@tool``: turn a typed function into a :class:`ToolContract` the executor can run.

A contract is everything the runtime must know before calling a tool: the JSON Schema the
model is shown, how to validate its arguments, whether the call writes, how long it may
take, how it is retried, and who owns it. The contract stays callable like the original
function, so decorated tools remain easy to unit-test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import random
import re
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, overload

import pydantic.types
from pydantic import BaseModel, Secret, SecretBytes, SecretStr
from pydantic_core import to_jsonable_python

from tether.exceptions import AgentDefinitionError
from tether.models import ExampleToolSpec, ToolSpec
from tether.observe import declare_sensitive_fields, tool_traceparent
from tether.tools._limits import Breaker, RateLimit
from tether.tools._schema import SchemaBuildError, build_arguments, split_docstring
from tether.tools._serialize import DEFAULT_MAX_RESULT_BYTES

Effect = Literal["read", "write"]
Risk = Literal["low", "medium", "high"]
ApprovalRule = bool | Callable[[dict[str, Any]], bool]

# The union of what OpenAI, Anthropic and llama.cpp grammars accept as a function name.
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Credential names become environment variable suffixes and file keys: plain identifiers.
_CREDENTIAL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_NO_SECRETS: Mapping[str, str] = MappingProxyType({})


@dataclass(kw_only=True, slots=True, frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter for transient tool failures.

    Retried: :class:`~tether.tools.TransientToolError` (any ``ToolCallError`` with
    ``retryable=True``), tool timeouts and ``ConnectionError``. Everything else is permanent.

    Attributes:
        max_attempts: Total attempts including the first (``1`` disables retries).
        initial_delay: Backoff cap in seconds before the second attempt.
        max_delay: Upper bound of any single backoff, in seconds.
        multiplier: Growth of the cap per attempt.
        jitter: Full jitter (uniform in ``[0, cap]``) so retrying callers spread out.
    """

    max_attempts: int = 3
    initial_delay: float = 0.2
    max_delay: float = 5.0
    multiplier: float = 2.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise AgentDefinitionError("RetryPolicy.max_attempts must be at least 1")
        if self.initial_delay < 0 or self.max_delay < 0:
            raise AgentDefinitionError("RetryPolicy delays must not be negative")
        if self.multiplier < 1:
            raise AgentDefinitionError("RetryPolicy.multiplier must be at least 1")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        Args:
            attempt: The attempt that just failed; the first retry follows attempt 1.
            rng: Source of jitter (a fresh ``random.Random`` when omitted).
        """
        try:
            cap = self.initial_delay * self.multiplier ** max(attempt - 1, 0)
        except OverflowError:
            cap = self.max_delay
        cap = min(cap, self.max_delay)
        if not self.jitter:
            return cap
        return (rng or random.Random()).uniform(0.0, cap)


@dataclass(kw_only=True, slots=True, frozen=True)
class ToolContext:
    """What a tool learns about the call it serves; declare a parameter of this type to get it.

    The executor passes a new context per attempt (``attempt`` changes); the
    ``idempotency_key`` stays the same across attempts and across crash recovery, so a
    write tool can hand it to the system it writes to and be safely re-issued.

    Attributes:
        run_id: The run making the call.
        tenant: Tenant of the run, if any.
        call_id: The model's tool call id.
        tool_name: Name of the tool being called.
        idempotency_key: Stable key of this logical call (same on every attempt).
        attempt: 1-based attempt number within this execution.
        step: Engine step the call belongs to.
        metadata: Free-form extras from the engine (shared across attempts).
        secrets: The credentials the contract declares, resolved by the secrets broker
            (name to value). Only the tool sees them: they are left out of ``repr``, so
            they never reach a log line, an event or an error message by accident.
    """

    run_id: str
    call_id: str
    tool_name: str
    idempotency_key: str
    tenant: str | None = None
    attempt: int = 1
    step: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    # A shared read-only empty mapping: most tools need no secrets, so no dict per call.
    secrets: Mapping[str, str] = field(default_factory=lambda: _NO_SECRETS, repr=False)
    artifacts: Any = field(default=None, repr=False)
    """Where a tool may keep a large output whole: an object with ``async put_blob(key,
    data)`` (the engine passes the run's store; ``None`` outside a run)."""

    @property
    def traceparent(self) -> str:
        """The W3C ``traceparent`` of this call's ``execute_tool`` span (same on every attempt).

        Its trace id is the run's (``tether.observe.run_trace_id``), so a request a tool
        sends with this header joins the run's trace. While tracing is on, the same span
        context is also the current OpenTelemetry context during the call, so clients
        instrumented by OpenTelemetry propagate it without being told.
        """
        return tool_traceparent(self.run_id, self.idempotency_key)


@dataclass(kw_only=True, slots=True, frozen=True, eq=False)
class ToolContract:
    """A tool as the runtime sees it: schema, validation, effects and execution limits.

    Build one with :func:`tool`. Calling the contract calls the wrapped function.

    Attributes:
        name: Name the model calls the tool by.
        description: What the tool does, shown to the model.
        parameters: Strict JSON Schema of the arguments.
        fn: The wrapped function (sync or async).
        is_async: Whether ``fn`` returns an awaitable.
        effect: ``"read"`` (safe to re-run) or ``"write"`` (journaled before it runs).
        risk: Coarse risk class for policy rules.
        owner: Team or person accountable for the tool.
        version: Bump when behaviour changes; part of the agent version hash.
        timeout: Seconds one attempt may take.
        retry: Backoff for transient failures.
        idempotent: Whether the tool honours ``ToolContext.idempotency_key``, so a write
            whose outcome is unknown may be re-issued.
        requires_approval: ``True``, ``False`` or a predicate over the validated arguments.
        arguments_model: Pydantic model validating arguments (``None``: accept any object).
        field_names: ``(model field, parameter name)`` pairs mapping the model to kwargs.
        context_param: Parameter that receives the :class:`ToolContext`, if any.
        credentials: Names of the secrets the tool needs; the broker resolves them at
            execution time into ``ToolContext.secrets``. Never shown to the model.
        max_result_bytes: Cap on the JSON text of one result; a larger result becomes a
            ``result_too_large`` error (never a truncated one).
        examples: Example user messages this tool serves, for example-based routing on
            the local model (see ``tether.models.LocalModel``).
        breaker: Circuit breaker of the tool (``None``: none, unless the agent's policy
            or the runtime sets one). Operational: not part of the agent version.
        rate_limit: Calls per period this tool may make, across every worker on the
            store unless the limit says ``shared=False`` (``None``: unlimited, unless
            the agent's policy sets one).
        preview: What a call will do, in a line for the person asked to approve it,
            computed from the validated arguments when the approval is requested.
            Operational: not part of the agent version.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any]
    is_async: bool
    effect: Effect = "read"
    risk: Risk = "low"
    owner: str | None = None
    version: str = "1"
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    idempotent: bool = False
    requires_approval: ApprovalRule = False
    arguments_model: type[BaseModel] | None = None
    field_names: tuple[tuple[str, str], ...] = ()
    context_param: str | None = None
    credentials: tuple[str, ...] = ()
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES
    examples: tuple[str, ...] = ()
    breaker: Breaker | None = None
    rate_limit: RateLimit | None = None
    preview: Callable[[dict[str, Any]], str] | None = None

    def __post_init__(self) -> None:
        # Also reached by direct construction, so a list becomes a tuple here too.
        object.__setattr__(self, "credentials", _check_credentials(self.credentials, self.name))
        object.__setattr__(self, "examples", _check_examples(self.examples, self.name))
        if self.arguments_model is not None:
            # A parameter typed SecretStr (or SecretBytes, Secret[...]) is a secret whatever
            # its name: its key is sealed in the store like "password" (see _protect).
            names = _secret_fields(self.arguments_model)
            if names:
                declare_sensitive_fields(names)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped function directly (no validation, timeout or retry)."""
        return self.fn(*args, **kwargs)

    def with_examples(self, examples: Sequence[str]) -> ToolContract:
        """This contract with routing examples (itself when there are none)."""
        return dataclasses.replace(self, examples=tuple(examples)) if examples else self

    @property
    def rerunnable(self) -> bool:
        """Whether running the call again is safe when its outcome is unknown.

        Reads are; writes only when they honour the idempotency key.
        """
        return self.effect == "read" or self.idempotent

    def spec(self) -> ToolSpec:
        """What the model is told about this tool (with its routing examples, if any)."""
        if self.examples:
            return ExampleToolSpec(
                name=self.name,
                description=self.description,
                parameters=self.parameters,
                examples=list(self.examples),
                writes=self.effect == "write",
            )
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Validate model-supplied arguments and return them as Python keyword arguments.

        Args:
            arguments: The JSON object the model sent.

        Raises:
            pydantic.ValidationError: The arguments do not match the schema.
        """
        if self.arguments_model is None:
            return dict(arguments)
        # The core validator directly: half the cost of model_validate on the hot path.
        validator = self.arguments_model.__pydantic_validator__
        values = validator.validate_python(arguments).__dict__
        return {param: values[internal] for internal, param in self.field_names}

    def normalize(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and coerce arguments into the canonical JSON object that will execute.

        The policy gate, the approver, the journal and the tool all see this same
        object: ``{"amount_cents": "900000"}`` becomes ``{"amount_cents": 900000}``
        before any rule compares it. Validating the result again gives the same values.
        A ``SecretStr`` (``SecretBytes``, ``Secret[...]``) argument keeps its real value
        here, not pydantic's ``"**********"``: this object is what executes, and the
        store seals it (redaction never changes what executes).

        Raises:
            pydantic.ValidationError: The arguments do not match the schema.
        """
        if self.arguments_model is None:
            return dict(arguments)
        validator = self.arguments_model.__pydantic_validator__
        model = validator.validate_python(arguments)
        dumped = _dump(model)
        if not _plain_validation(self.arguments_model):
            # A validator of the tool's own (dollars in, cents out) may not give the same
            # values twice; the executor validates what the gate saw, so they must agree.
            again = _dump(validator.validate_python(dumped))
            if again != dumped:
                changed = sorted(
                    k for k in dumped.keys() | again.keys() if dumped.get(k) != again.get(k)
                )
                raise ValueError(
                    f"the arguments change when validated again ({', '.join(changed)}): a "
                    f"validator of {self.name!r} is not idempotent, so the call could not run "
                    "with the values the policy checked"
                )
        return dumped

    def approval_required(self, arguments: dict[str, Any]) -> bool:
        """Whether a call with these (validated) arguments needs human approval."""
        rule = self.requires_approval
        return rule(arguments) if callable(rule) else bool(rule)

    def schema_fingerprint(self) -> str:
        """Stable sha256 of name, version, effect, schema and credentials, for the agent version.

        Credentials enter the payload only when declared, so tools without any keep the
        fingerprint (and pinned runs their agent version) they had before the option existed.
        """
        fields: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "effect": self.effect,
            "parameters": self.parameters,
        }
        if self.credentials:
            fields["credentials"] = sorted(self.credentials)
        payload = json.dumps(
            fields,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()


@overload
def tool(fn: Callable[..., Any], /) -> ToolContract: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    effect: Effect = "read",
    risk: Risk | None = None,
    owner: str | None = None,
    version: str = "1",
    timeout: float = 30.0,
    retry: RetryPolicy | None = None,
    idempotent: bool = False,
    requires_approval: ApprovalRule = False,
    credentials: Iterable[str] = (),
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
    examples: Sequence[str] = (),
    breaker: Breaker | None = None,
    rate_limit: RateLimit | None = None,
    preview: Callable[[dict[str, Any]], str] | None = None,
) -> Callable[[Callable[..., Any]], ToolContract]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    effect: Effect = "read",
    risk: Risk | None = None,
    owner: str | None = None,
    version: str = "1",
    timeout: float = 30.0,
    retry: RetryPolicy | None = None,
    idempotent: bool = False,
    requires_approval: ApprovalRule = False,
    credentials: Iterable[str] = (),
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
    examples: Sequence[str] = (),
    breaker: Breaker | None = None,
    rate_limit: RateLimit | None = None,
    preview: Callable[[dict[str, Any]], str] | None = None,
) -> ToolContract | Callable[[Callable[..., Any]], ToolContract]:
    """Declare a typed function (sync or async) as a tool; use bare or with options.

    The JSON Schema comes from the type hints, the description from the docstring's first
    paragraph, and per-argument descriptions from its Google-style ``Args:`` section. A
    parameter annotated :class:`ToolContext` is injected by the executor and hidden from
    the model.

    Args:
        fn: The function, when used bare as ``@tool``.
        name: Tool name (default: the function name).
        description: Overrides the docstring summary.
        effect: ``"read"`` or ``"write"``.
        risk: ``"low"``, ``"medium"`` or ``"high"`` (default: ``"medium"`` for a write,
            ``"low"`` for a read).
        owner: Accountable team or person.
        version: Contract version; bump it when behaviour changes.
        timeout: Seconds one attempt may take.
        retry: Backoff for transient failures (default ``RetryPolicy()``).
        idempotent: The tool honours ``ToolContext.idempotency_key``.
        requires_approval: ``True``/``False`` or a predicate over the arguments.
        credentials: Names of the secrets the tool needs (identifiers such as
            ``"stripe_key"``), handed to it in ``ToolContext.secrets`` at execution time.
        max_result_bytes: Cap on the JSON text of one result (default 1 MB); a larger
            result reaches the model as a ``result_too_large`` error.
        examples: Messages a user might send that this tool serves (``"Where is my
            order?"``). The local model routes by them; remote models never see them.
        breaker: A :class:`~tether.tools.Breaker`: after that many consecutive failed
            calls the tool is not called for a while; the model gets ``circuit_open``.
        rate_limit: A :class:`~tether.tools.RateLimit` on this tool's calls (shared by
            every worker on the store by default); a call over it gets ``rate_limited``
            with ``retry_after``.
        preview: ``f(arguments) -> str``: what a call will do, in words, for the person
            asked to approve it (``"refund $49.99, the full total of order 1234"``, where
            the arguments say only ``amount_cents=None``). It gets the validated
            arguments when the approval is requested, runs on the event loop and must
            have no effect; if it raises, the request says the preview failed.

    Raises:
        AgentDefinitionError: The function or the options cannot make a valid tool.
    """

    def decorate(func: Callable[..., Any]) -> ToolContract:
        return _make_contract(
            func,
            name=name,
            description=description,
            effect=effect,
            risk=risk if risk is not None else default_risk(effect),
            owner=owner,
            version=version,
            timeout=timeout,
            retry=retry if retry is not None else RetryPolicy(),
            idempotent=idempotent,
            requires_approval=requires_approval,
            credentials=credentials,
            max_result_bytes=max_result_bytes,
            breaker=breaker,
            rate_limit=rate_limit,
            preview=preview,
        ).with_examples(examples)

    return decorate(fn) if fn is not None else decorate


def _make_contract(
    func: Callable[..., Any],
    *,
    name: str | None,
    description: str | None,
    effect: Effect,
    risk: Risk,
    owner: str | None,
    version: str,
    timeout: float,
    retry: RetryPolicy,
    idempotent: bool,
    requires_approval: ApprovalRule,
    credentials: Iterable[str],
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
    breaker: Breaker | None = None,
    rate_limit: RateLimit | None = None,
    preview: Callable[[dict[str, Any]], str] | None = None,
) -> ToolContract:
    """Check the options, build the schema, and wrap ``func`` into a contract."""
    if isinstance(func, ToolContract):
        raise AgentDefinitionError(f"tool {func.name!r} is decorated with @tool twice")
    if not callable(func):
        raise AgentDefinitionError(f"@tool needs a function, got {type(func).__name__}")
    tool_name = name if name is not None else getattr(func, "__name__", "")

    def bad(reason: str) -> AgentDefinitionError:
        return AgentDefinitionError(f"tool {tool_name!r}: {reason}", tool=tool_name)

    if not _TOOL_NAME.match(tool_name):
        raise bad("name must be 1-64 characters of letters, digits, '_' or '-'")
    if effect not in ("read", "write"):
        raise bad(f"effect must be 'read' or 'write', not {effect!r}")
    if risk not in ("low", "medium", "high"):
        raise bad(f"risk must be 'low', 'medium' or 'high', not {risk!r}")
    if not timeout > 0:  # also rejects NaN
        raise bad(f"timeout must be a positive number of seconds, not {timeout!r}")
    if not isinstance(retry, RetryPolicy):
        raise bad("retry must be a RetryPolicy")
    if type(max_result_bytes) is not int or max_result_bytes < 1:
        raise bad(f"max_result_bytes must be a positive int, not {max_result_bytes!r}")
    if breaker is not None and not isinstance(breaker, Breaker):
        raise bad("breaker must be a Breaker, e.g. Breaker(failures=5, reset_after=30)")
    if rate_limit is not None and not isinstance(rate_limit, RateLimit):
        raise bad("rate_limit must be a RateLimit, e.g. RateLimit(calls=10, per=1.0)")
    if preview is not None and not callable(preview):
        raise bad("preview must be a function of the arguments that returns a string")
    needs = _check_credentials(credentials, tool_name)

    summary, arg_docs = split_docstring(inspect.getdoc(func))
    try:
        arguments = build_arguments(
            func, tool_name=tool_name, context_type=ToolContext, param_descriptions=arg_docs
        )
    except SchemaBuildError as exc:
        raise bad(str(exc)) from exc

    call = getattr(func, "__call__", None)  # noqa: B004 -- async callable objects count too
    is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(call)
    return ToolContract(
        name=tool_name,
        description=description if description is not None else summary,
        parameters=arguments.parameters,
        fn=func,
        is_async=is_async,
        effect=effect,
        risk=risk,
        owner=owner,
        version=str(version),
        timeout=float(timeout),
        retry=retry,
        idempotent=idempotent,
        requires_approval=requires_approval,
        arguments_model=arguments.model,
        field_names=arguments.field_names,
        context_param=arguments.context_param,
        credentials=needs,
        max_result_bytes=max_result_bytes,
        breaker=breaker,
        rate_limit=rate_limit,
        preview=preview,
    )


def default_risk(effect: str) -> Risk:
    """The risk class a tool gets when it declares none: a write is ``"medium"``."""
    return "medium" if effect == "write" else "low"


def _check_credentials(credentials: Iterable[str], tool_name: str) -> tuple[str, ...]:
    """Return the credential names as a tuple without duplicates, or say what is wrong."""
    if isinstance(credentials, str | bytes):
        raise AgentDefinitionError(
            f"tool {tool_name!r}: credentials must be a list of names, "
            f"e.g. credentials=[{credentials!r}]",
            tool=tool_name,
        )
    names: list[str] = []
    for name in credentials:
        if not isinstance(name, str) or not _CREDENTIAL_NAME.match(name):
            raise AgentDefinitionError(
                f"tool {tool_name!r}: credential name {name!r} must be an identifier "
                "(letters, digits and '_', not starting with a digit, at most 64 characters)",
                tool=tool_name,
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def _check_examples(examples: Sequence[str], tool_name: str) -> tuple[str, ...]:
    """Return the routing examples as a tuple of non-empty strings, or say what is wrong."""
    if isinstance(examples, str | bytes) or not all(
        isinstance(e, str) and e.strip() for e in examples
    ):
        raise AgentDefinitionError(
            f"tool {tool_name!r}: examples must be a list of non-empty messages, "
            'e.g. examples=["Where is my order?"]',
            tool=tool_name,
        )
    return tuple(examples)


_PLAIN: weakref.WeakKeyDictionary[type[BaseModel], bool] = weakref.WeakKeyDictionary()
_FUNCTION_SCHEMAS = frozenset(
    {"function-before", "function-after", "function-wrap", "function-plain"}
)


def _plain_validation(model: type[BaseModel]) -> bool:
    """Whether ``model`` validates with pydantic's own types only (no function validators).

    Then validating its JSON dump gives the same values again; a function validator of
    the tool's own may not, so :meth:`ToolContract.normalize` checks those calls.
    """
    plain = _PLAIN.get(model)
    if plain is None:
        plain = _PLAIN[model] = not _has_function(model.__pydantic_core_schema__)
    return plain


def _has_function(schema: Any) -> bool:
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") in _FUNCTION_SCHEMAS:
                return True
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return False


_SECRET_TYPES = (Secret, SecretStr, SecretBytes)
_SECRET_SERIALIZERS = frozenset(
    f
    for f in (
        getattr(pydantic.types, "_serialize_secret_field", None),
        getattr(pydantic.types, "_serialize_secret", None),
    )
    if f is not None
)
_OWN_FIELDS = frozenset({"model-fields", "typed-dict", "dataclass-args"})
_SECRETS: weakref.WeakKeyDictionary[type[BaseModel], tuple[str, ...]] = weakref.WeakKeyDictionary()


def _dump(model: BaseModel) -> dict[str, Any]:
    """The validated arguments as JSON, secrets as their real values (pydantic masks them)."""
    dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True)
    if _secret_fields(type(model)):
        # The Python dump keeps Secret objects where the JSON dump has the mask: the
        # two line up, so each mask is replaced by the value it hides.
        dumped = _reveal(model.model_dump(by_alias=True), dumped)
    return dumped


def _reveal(python: Any, dumped: Any) -> Any:
    """``dumped`` (a JSON dump) with each secret of ``python`` (the Python dump) revealed."""
    if isinstance(python, _SECRET_TYPES):
        return to_jsonable_python(python.get_secret_value())
    if isinstance(python, dict) and isinstance(dumped, dict) and len(python) == len(dumped):
        return {
            key: _reveal(value, json_value)
            for value, (key, json_value) in zip(python.values(), dumped.items(), strict=True)
        }
    if isinstance(python, list | tuple) and isinstance(dumped, list) and len(python) == len(dumped):
        return [
            _reveal(value, json_value) for value, json_value in zip(python, dumped, strict=True)
        ]
    if _holds_secret(python):
        # A set of secrets, or a serializer of the tool's own that reshapes one: there is
        # no telling which JSON value hides which secret. Never run with the mask.
        raise ValueError(
            "a secret argument could not be turned back into its value for the call "
            "(put SecretStr values in a list or a field, not a set)"
        )
    return dumped


def _holds_secret(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _SECRET_TYPES):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
    return False


def _secret_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """Names (and aliases) of the fields of ``model``, nested ones too, that hold a secret.

    A field counts when its own type holds ``SecretStr``, ``SecretBytes`` or ``Secret``
    (``list[SecretStr]``, ``SecretStr | None``), not when a nested model's field does:
    that field is named instead.
    """
    found = _SECRETS.get(model)
    if found is None:
        names: dict[str, None] = {}
        stack: list[Any] = [model.__pydantic_core_schema__]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if node.get("type") in _OWN_FIELDS:
                    fields = node.get("fields")
                    items = (
                        fields.items()
                        if isinstance(fields, dict)
                        else ((f.get("name"), f) for f in fields or () if isinstance(f, dict))
                    )
                    for name, field_schema in items:
                        if isinstance(field_schema, dict) and _is_secret(
                            field_schema.get("schema")
                        ):
                            names.update(dict.fromkeys(_field_keys(name, field_schema)))
                stack.extend(node.values())
            elif isinstance(node, list | tuple):
                stack.extend(node)
        found = _SECRETS[model] = tuple(names)
    return found


def _field_keys(name: Any, field_schema: dict[str, Any]) -> list[str]:
    """The keys a field's value comes under in arguments: its aliases, else its name.

    (``@tool`` names its model's fields ``arg1``, ``arg2``, ... behind the parameter names
    as aliases; only the aliases are keys of the arguments.)
    """
    aliases = [field_schema.get("serialization_alias"), field_schema.get("validation_alias")]
    keys = [k for k in aliases if isinstance(k, str) and k] or [name]
    return [k for k in keys if isinstance(k, str) and k and k.isascii()]


def _is_secret(schema: Any) -> bool:
    """Whether a field's schema holds a secret type itself (not in a nested model's field)."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") in _OWN_FIELDS:
                continue  # a nested model's fields speak for themselves
            serialization = node.get("serialization")
            if isinstance(serialization, dict) and any(
                serialization.get("function") is f for f in _SECRET_SERIALIZERS
            ):
                return True
            for key in ("cls", "function"):
                value = node.get(key)
                if isinstance(value, type) and issubclass(value, _SECRET_TYPES):
                    return True
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return False
