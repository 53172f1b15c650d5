"""Recorded tool I/O: the fixtures format, and ``ToolSimulator`` that replays it offline.

``tether fixtures export RUN_ID > f.json`` writes a run's tool calls and results in the
format below; ``ToolSimulator.from_fixtures("f.json").wrap(agent)`` is the same agent
whose tools answer from those recordings instead of touching real systems.

Format (``"format": "tether.fixtures"``, ``"version": 1``; a reader fails fast on any
other version)::

    {"format": "tether.fixtures", "version": 1,
     "run_id": "...", "agent": "support", "agent_version": "3f2a...",
     "calls": [
       {"order": 1, "seq": 7, "step": 1, "call_id": "call_0_0", "tool": "lookup_order",
        "effect": "read", "arguments": {"order_id": "A1"}, "ok": true,
        "result": {"status": "shipped"}, "attempts": 1},
       {"order": 2, ..., "ok": false,
        "error": {"error_code": "tool_error", "message": "...", "retryable": false}}]}

- ``effect`` is ``"write"`` when the log holds the call's ``tool.started``, ``"read"``
  when the call ran without one, and ``null`` when it never ran (refused by the policy
  gate, bad arguments): the log alone cannot say.
- ``attempts`` is ``0`` for a call that never ran; the simulator skips those (the
  policy gate of the simulated run decides such calls again itself).
- Sealed values stay sealed: a ``{"$sealed": true}`` marker in recorded arguments
  matches any value at that place; results hold what the store holds (redacted text
  stays redacted).
- ``simulated`` is ``true`` on a call that a simulator answered in the recorded run.

Matching. A call matches the recordings of its tool whose *match key* equals its own;
matching recordings replay in recording order (the 2nd identical call gets the 2nd
recording). The default key is the canonical JSON of the validated arguments (the same
coercion the policy gate sees, so ``"42"`` and ``42`` for an integer field are one key).
Per-tool ``rules`` change the key: ``"any"`` (every call of the tool is one key),
:func:`by_fields` (only some fields count) or a callable from arguments to a key. A call
with no matching recording left is a ``not_simulated`` tool error: never a real call,
never an exception out of the run.

Marking. A simulated result is recorded with ``simulated: true`` on its ``tool.completed``
/ ``tool.failed`` event, and each simulated contract's ``version`` gains ``+simulated``:
the prompt and the policy are unchanged (names, descriptions, schemas, effects and
approval rules are kept), but the agent version differs, so a run started against the
simulator can never be continued by the real agent without ``--accept-new-version``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tether.exceptions import UserError
from tether.tools._catalog import is_router
from tether.tools._contract import RetryPolicy, ToolContext, ToolContract, tool
from tether.tools._errors import ToolCallError, ToolError, ToolErrorCode
from tether.tools._mcp import MCPServer

FIXTURES_FORMAT = "tether.fixtures"
FIXTURES_VERSION = 1
"""Version 1: one entry per final tool call (tool, arguments, result or error, effect,
order, attempts), with the run id and agent version."""

NOT_SIMULATED = ToolErrorCode.NOT_SIMULATED.value
"""The ``error_code`` of a call the simulator has no recording for."""

SIMULATED_SUFFIX = "+simulated"

_CTX = "_tether_simulator_ctx"
_BUILTIN_TOOLS = frozenset({"escalate_to_human"})
"""Tools the engine adds to an agent itself (it adds them back to the wrapped agent)."""

MatchKey = Callable[[dict[str, Any]], Any]
MatchRule = Literal["exact", "any"] | MatchKey


class RecordedCall(BaseModel):
    """One final tool call of a recorded run: what was asked and what came back."""

    model_config = ConfigDict(extra="forbid")

    order: int
    seq: int | None = None
    step: int | None = None
    call_id: str
    tool: str
    effect: Literal["read", "write"] | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)
    ok: bool
    result: Any = None
    error: ToolError | None = None
    attempts: int = 1
    simulated: bool | None = None


class Fixtures(BaseModel):
    """A run's recorded tool I/O, as ``tether fixtures export`` writes it."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["tether.fixtures"] = "tether.fixtures"
    version: int = FIXTURES_VERSION
    run_id: str
    agent: str | None = None
    agent_version: str | None = None
    calls: list[RecordedCall] = Field(default_factory=list)

    @classmethod
    def load(cls, source: str | Path | Mapping[str, Any] | Fixtures) -> Fixtures:
        """Read fixtures from a file path, a parsed JSON object or a ``Fixtures``.

        Raises:
            UserError: The file is missing or unreadable, not the fixtures format, or
                written by a newer Tether (a version this code does not read).
        """
        if isinstance(source, Fixtures):
            return source
        where = "fixtures"
        if isinstance(source, str | Path):
            where = str(source)
            try:
                data: Any = json.loads(Path(source).read_text(encoding="utf-8"))
            except OSError as exc:
                raise UserError(
                    f"cannot read fixtures {where}: {exc.strerror or exc}; export them with "
                    "`tether fixtures export RUN_ID > FILE.json`"
                ) from exc
            except ValueError as exc:
                raise UserError(f"fixtures {where} are not JSON: {exc}") from exc
        else:
            data = dict(source)
        if not isinstance(data, dict) or data.get("format") != FIXTURES_FORMAT:
            raise UserError(
                f'{where} is not a Tether fixtures file (no "format": {FIXTURES_FORMAT!r}); '
                "export one with `tether fixtures export RUN_ID`"
            )
        version = data.get("version")
        if version != FIXTURES_VERSION:
            raise UserError(
                f"{where} has fixtures version {version!r}; this Tether reads version "
                f"{FIXTURES_VERSION}: upgrade tether-runtime, or export the run again"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise UserError(f"fixtures {where} are malformed: {exc}") from exc


def by_fields(*names: str) -> MatchKey:
    """A match rule on some argument fields only: ``by_fields("order_id")``."""
    if not names:
        raise UserError("by_fields() needs at least one field name")

    def key(arguments: dict[str, Any]) -> Any:
        return canonical({name: arguments.get(name) for name in names})

    key.__qualname__ = f"by_fields{names!r}"
    return key


def canonical(value: Any) -> str:
    """Canonical JSON (sorted keys, no whitespace): the exact-match key of arguments."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and "$sealed" in value and set(value) <= {"$sealed", "kid"}


def _has_sealed(value: Any, depth: int = 0) -> bool:
    if depth > 64:
        return False
    if _is_sealed(value):
        return True
    if isinstance(value, dict):
        return any(_has_sealed(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(_has_sealed(v, depth + 1) for v in value)
    return False


def _matches_sealed(recorded: Any, live: Any, depth: int = 0) -> bool:
    """Equality where a sealed marker in the recording matches any live value."""
    if _is_sealed(recorded):
        return True
    if depth > 64:
        return False
    if isinstance(recorded, dict) and isinstance(live, dict):
        return recorded.keys() == live.keys() and all(
            _matches_sealed(recorded[k], live[k], depth + 1) for k in recorded
        )
    if isinstance(recorded, list) and isinstance(live, list):
        return len(recorded) == len(live) and all(
            _matches_sealed(r, v, depth + 1) for r, v in zip(recorded, live, strict=True)
        )
    return bool(canonical(recorded) == canonical(live))


class _Replayer:
    """The recordings of one tool, grouped by match key, with a cursor per run."""

    def __init__(self, contract: ToolContract, calls: list[RecordedCall], rule: MatchRule) -> None:
        self.contract = contract
        self.rule = rule
        self.by_key: dict[str, list[RecordedCall]] = {}
        self.sealed: list[RecordedCall] = []
        for call in calls:
            if rule == "exact" and _has_sealed(call.arguments):
                self.sealed.append(call)
            else:
                self.by_key.setdefault(self.key(self.normalize(call.arguments)), []).append(call)
        self.used: dict[tuple[str, str], int] = {}
        self.total = len(calls)

    def normalize(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Recorded arguments coerced like live ones (as recorded when they do not validate)."""
        if _has_sealed(arguments):
            return arguments
        try:
            return self.contract.normalize(arguments)
        except Exception:  # a recording of a call the tool refused: keep it as it was
            return dict(arguments)

    def key(self, arguments: dict[str, Any]) -> str:
        rule = self.rule
        if rule == "exact":
            return canonical(arguments)
        if rule == "any":
            return ""
        return canonical(rule(arguments))

    def live_arguments(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The validated keyword arguments back as the canonical JSON object."""
        contract = self.contract
        model = contract.arguments_model
        if model is None:
            return dict(kwargs)
        values = {internal: kwargs[param] for internal, param in contract.field_names}
        dumped: dict[str, Any] = model.model_construct(**values).model_dump(
            mode="json", by_alias=True
        )
        return dumped

    def next(self, run_id: str, arguments: dict[str, Any]) -> RecordedCall | None:
        key = self.key(arguments)
        candidates = self.by_key.get(key, [])
        if not candidates and self.sealed:
            candidates = [c for c in self.sealed if _matches_sealed(c.arguments, arguments)]
            key = "sealed:" + canonical([c.order for c in candidates])
        used = self.used.get((run_id, key), 0)
        if used >= len(candidates):
            return None
        self.used[(run_id, key)] = used + 1
        return candidates[used]

    def not_simulated(self, arguments: dict[str, Any]) -> ToolCallError:
        name = self.contract.name
        if self.total == 0:
            message = f"no recorded call of {name!r} to replay: the simulator never runs tools"
        else:
            message = (
                f"no recorded call of {name!r} matches these arguments "
                f"({self.total} recorded; identical calls replay once each, in order)"
            )
        return ToolCallError(
            message + f": {canonical(arguments)[:200]}",
            error_code=NOT_SIMULATED,
            hint="this run is simulated from recorded tool I/O; answer from what the recorded "
            "calls returned, or record a run that makes this call",
        )


class _SimulatedCall:
    """The function of a simulated contract: answers from the recordings, never runs the tool."""

    simulated = True

    def __init__(self, replayer: _Replayer) -> None:
        self.replayer = replayer
        self.__name__ = replayer.contract.name

    async def __call__(self, **kwargs: Any) -> Any:
        ctx: ToolContext | None = kwargs.pop(_CTX, None)
        original = self.replayer.contract.context_param
        if original is not None:
            ctx = kwargs.pop(original, ctx)
        arguments = self.replayer.live_arguments(kwargs)
        recorded = self.replayer.next(ctx.run_id if ctx is not None else "", arguments)
        if recorded is None:
            raise self.replayer.not_simulated(arguments)
        if recorded.ok:
            return recorded.result
        error = recorded.error or ToolError(error_code="tool_error", message="(not recorded)")
        raise ToolCallError(
            error.message, retryable=error.retryable, hint=error.hint, error_code=error.error_code
        )


def is_simulated(contract: ToolContract | None) -> bool:
    """Whether a contract answers from recordings (the engine marks its results ``simulated``)."""
    return contract is not None and getattr(contract.fn, "simulated", False) is True


@dataclasses.dataclass(kw_only=True, eq=False)
class ToolSimulator:
    """Answers an agent's tool calls from recorded I/O instead of running the tools.

    Build one with :meth:`from_fixtures`; :meth:`wrap` gives the same agent (same
    prompt, same policy, a ``+simulated`` version) whose tools answer from the
    recordings. Repeated identical calls replay in recording order, per run; a call
    with nothing left to replay is a ``not_simulated`` tool error.

    Attributes:
        fixtures: The recordings.
        rules: Per-tool match rules: ``"exact"`` (default), ``"any"``, :func:`by_fields`
            or a callable from the validated arguments to a key.
    """

    fixtures: Fixtures
    rules: Mapping[str, MatchRule] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, rule in self.rules.items():
            if rule not in ("exact", "any") and not callable(rule):
                raise UserError(
                    f"simulator rule for {name!r} must be 'exact', 'any', by_fields(...) or "
                    f"a callable from arguments to a key, not {rule!r}"
                )

    @classmethod
    def from_fixtures(
        cls,
        source: str | Path | Mapping[str, Any] | Fixtures,
        *,
        rules: Mapping[str, MatchRule] | None = None,
    ) -> ToolSimulator:
        """A simulator over a fixtures file (or its parsed JSON) from ``tether fixtures export``.

        Raises:
            UserError: The fixtures cannot be read or have an unknown version.
        """
        return cls(fixtures=Fixtures.load(source), rules=dict(rules or {}))

    def simulate(self, contract: ToolContract) -> ToolContract:
        """``contract`` answering from the recordings: name, schema, effect and rules kept."""
        if is_simulated(contract) or is_router(contract):
            return contract  # already simulated, or a catalog router (it touches nothing)
        calls = [c for c in self.fixtures.calls if c.tool == contract.name and c.attempts > 0]
        replayer = _Replayer(contract, calls, self.rules.get(contract.name, "exact"))
        return dataclasses.replace(
            contract,
            fn=_SimulatedCall(replayer),
            is_async=True,
            context_param=_CTX,
            version=contract.version + SIMULATED_SUFFIX,
            # One attempt: a recorded failure is replayed as it was, not retried into the
            # next recording. Timeouts stay: nothing here waits.
            retry=RetryPolicy(max_attempts=1),
            credentials=(),
        )

    def tools_for(self, agent: Any) -> list[Any]:
        """The items of ``agent.tools`` with every tool simulated (catalogs keep their shape).

        MCP servers become their simulated contracts (no session is opened).
        """
        items: list[Any] = []
        registry: Mapping[str, ToolContract] = agent.registry
        for item in agent.tools:
            if isinstance(item, ToolContract):
                items.append(self.simulate(registry.get(item.name, item)))
            elif hasattr(item, "map_tools"):  # a Catalog: simulate inside each domain
                items.append(item.map_tools(self.simulate))
            elif isinstance(item, MCPServer):
                items.extend(
                    self.simulate(c)
                    for c in registry.values()
                    if getattr(c, "server", None) is item
                )
            else:
                items.append(self.simulate(tool(item)))
        return items

    def wrap(self, agent: Any) -> Any:
        """A copy of ``agent`` (an :class:`~tether.Agent`) whose tools answer from recordings."""
        return dataclasses.replace(agent, tools=self.tools_for(agent))


__all__ = [
    "FIXTURES_FORMAT",
    "FIXTURES_VERSION",
    "NOT_SIMULATED",
    "Fixtures",
    "RecordedCall",
    "ToolSimulator",
    "by_fields",
    "canonical",
    "is_simulated",
]
