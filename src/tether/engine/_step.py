"""``StepContext``: the only door through which a state touches the world.

Every nondeterministic value a state uses (model reply, tool result, clock,
random id) is an effect with a journal key ``(run_id, step, call_index)``.
When a step is re-executed after a crash or a wait, an effect whose event is
already in the log returns the recorded value instead of running again.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from tether.context import describe_change, prefix_bytes, prefix_hash
from tether.engine._escalate import ESCALATE_TOOL
from tether.engine._events import (
    UNKNOWN_TOOL_LABEL,
    EffectRecorded,
    InjectionFlagged,
    ModelCompleted,
    ModelFailed,
    PrefixChanged,
    ToolCompleted,
    ToolFailed,
    ToolStarted,
)
from tether.engine._gate import (
    Governance,
    admit_tool_call,
    approval_key,
    budget_failure,
    current_use,
    gate_model_call,
    guard_tool_call,
    limits_model_use,
    limits_tool_use,
    note_use,
    pinned_budget,
    regate_model_call,
    settle_tool_call,
    wall_seconds_left,
    worst_case_charge,
)
from tether.engine._signals import (
    CancelRequested,
    EscalationRequested,
    GateFailure,
    WaitRequested,
)
from tether.engine._transitions import Escalate, Fail, Wait
from tether.exceptions import BudgetExceededError, ModelError
from tether.models import (
    MAX_ARGUMENT_DEPTH,
    ModelClient,
    ModelRequest,
    ModelResponse,
    Router,
    StepKind,
    ToolCall,
    construct_trusted,
    nesting_exceeds,
)
from tether.observe import (
    OFFLOAD_BYTES,
    attach_model_trace,
    detach_tool_trace,
    has_unrecoverable,
    tool_call_key,
)
from tether.policy import (
    GuardVerdict,
    InjectionScanner,
    call_hook,
    charged_usage,
    check_tool_call,
)
from tether.tools import (
    ToolContext,
    ToolError,
    ToolErrorCode,
    ToolOutcome,
    argument_error,
    closed_catalog_error,
    execute_tool_call,
    is_simulated,
)

if TYPE_CHECKING:
    import random

    from tether.engine._agent import Agent
    from tether.engine._events import _Event
    from tether.engine._state import RunState

ToolResult = ToolCompleted | ToolFailed

INTERRUPTED_CALL = "interrupted"
"""``model.failed`` (and ``tool.failed``) error code of a call a previous driver may have
had in flight when it stopped without handing the run over (see
:meth:`StepContext.call_model` and :meth:`StepContext.call_tools`)."""
E = TypeVar("E", bound="_Event")
T = TypeVar("T")


class StepHost(Protocol):
    """What a step needs from whoever executes it (the ``RunDriver`` implements it).

    A narrow seam: the folded state, the pinned agent and runtime-wide inputs as plain
    data, plus the few effects only the executor can perform (record into the log,
    commit, call a model, sleep, run tool calls concurrently).
    """

    state: RunState
    agent: Agent
    governance: Governance
    rng: random.Random
    cancel_reason: str | None
    unrecorded_model_call: bool
    unrecorded_tool_calls: bool
    in_model_call: bool
    in_tool_calls: bool

    @property
    def store(self) -> BlobStore: ...

    @property
    def artifacts(self) -> BlobStore:
        """Where tools keep large outputs: the store, protected like the run's events."""
        ...

    def record(self, event: E, *, protected: tuple[E, bytes] | None = None) -> E: ...

    async def protect(self, event: E) -> tuple[E, bytes]: ...

    async def flush(self) -> None: ...

    async def complete(self, client: ModelClient, request: ModelRequest) -> ModelResponse: ...

    def cost(self, model_id: str, response: ModelResponse) -> float | None: ...

    async def killswitch(self) -> bool: ...

    async def sleep(self, seconds: float) -> None: ...

    async def gather(self, aws: Sequence[Awaitable[T]]) -> list[T]: ...


class BlobStore(Protocol):
    """Content-addressed blobs (shared prompt prefixes): the part of a store a step uses."""

    async def get_blob(self, key: str) -> bytes | None: ...

    async def put_blob(self, key: str, data: bytes) -> None: ...


class StepContext:
    """What a state handler gets: the folded state, the agent and journaled effects."""

    __slots__ = ("_call", "_driver", "agent", "state")

    state: RunState
    """The run's folded state, including this step's effects so far."""
    agent: Agent
    """The agent definition the run is pinned to."""

    def __init__(self, host: StepHost) -> None:
        self._driver = host
        self._call = 0
        # The host keeps both for the life of the run: plain slots, not properties, since
        # a turn reads them some 35 times (the gate, the tools, the fold).
        self.state = host.state
        self.agent = host.agent

    @property
    def run_id(self) -> str:
        """The id of the run this step belongs to."""
        return self.state.run_id

    @property
    def governance(self) -> Governance:
        """Runtime-wide policy inputs (kill switch, tenant rules, secrets, pricing)."""
        return self._driver.governance

    def model_client(self) -> ModelClient:
        """The model for the next call: the agent's, or the degrade model after a soft limit."""
        agent = self.agent
        degrade = agent.policy.degrade_model
        if self.state.degraded_to is not None and degrade is not None:
            return agent.resolve(degrade)
        return agent.client

    @property
    def step(self) -> int:
        """The number of the step being executed."""
        return self._driver.state.step

    def record(self, event: E) -> E:
        """Append an event to this step; returns it as stored (redacted if it had to be)."""
        return self._driver.record(event)

    def _next_call(self) -> int:
        index = self._call
        self._call += 1
        return index

    # -- generic effects ---------------------------------------------------------------------

    async def effect(self, kind: str, fn: Callable[[], Any | Awaitable[Any]]) -> Any:
        """Run ``fn`` once per journal key and record its JSON-compatible value."""
        index = self._next_call()
        recorded = self.state.journal.get(index)
        if isinstance(recorded, EffectRecorded):
            return recorded.value
        value = fn()
        if inspect.isawaitable(value):
            value = await value
        return self.record(EffectRecorded(call=index, kind=kind, value=value)).value

    async def now(self) -> float:
        """The wall clock, fixed in the journal (replays see the same time)."""
        return float(await self.effect("clock", time.time))

    async def random_id(self) -> str:
        """A random id, fixed in the journal."""
        return str(await self.effect("random", lambda: uuid.uuid4().hex))

    # -- model -------------------------------------------------------------------------------

    def build_request(self, *, step_kind: StepKind = "act") -> ModelRequest:
        """The next model request: stable prefix (instructions, tools) + the conversation."""
        agent = self.agent
        return construct_trusted(
            ModelRequest,
            instructions=agent.instructions,
            messages=list(self.state.messages),
            tools=agent.tool_specs,
            output_schema=agent.output_schema,
            settings=agent.model_settings,
            step_kind=step_kind,
        )

    async def call_model(self, request: ModelRequest) -> ModelResponse:
        """Call the agent's model through the journal, retrying retryable errors.

        Raises:
            ModelError: the last attempt failed or the error is not retryable.
        """
        index = self._next_call()
        recorded = self.state.journal.get(index)
        if isinstance(recorded, ModelCompleted):
            return recorded.response
        driver = self._driver
        if driver.unrecorded_tool_calls:
            # A reply made anew: its tool calls are new, never run by the driver before.
            driver.unrecorded_tool_calls = False
        self._stop_if_cancelled()
        client = self.model_client()
        policy = self.agent.model_retry
        request = await gate_model_call(self, request)
        current_prefix = await self._check_prefix(request)
        # A Router's fallback chain is walked here, not inside the router, so every
        # attempt on every model is journaled as its own event.
        chain = client.candidates(request.step_kind) if isinstance(client, Router) else [client]
        attempt = 0
        # Under a limit on model use, what this run recorded is committed before each
        # call: a crash loses at most the call in flight (charged below by the next
        # driver), never replies counted only in memory (overlapped commits).
        limited = limits_model_use(self.state)
        if driver.unrecorded_model_call:
            # Taken over from a driver that stopped without handing the run over: it may
            # have been in this very call, billed but never recorded. Charge that call,
            # durably, before making it again (its attempt counts: the next one is the
            # 2nd, gated with this charge counted), so a hard limit holds across crashes.
            # Red team 14c: each kill during a call added one uncounted call.
            driver.unrecorded_model_call = False
            attempt = 1
            self._charge_interrupted(index, chain[0].model_id, request)
            limited = True
        while True:
            for position, candidate in enumerate(chain):
                attempt += 1
                if attempt > 1:
                    # A retry or a fallback is a model call too: the budget decides again
                    # (with the attempts before it counted) and caps what is left.
                    request = regate_model_call(self, request)
                if limited:
                    await driver.flush()
                started = time.perf_counter()
                # The chat span (exported later, from this call's event) is current
                # meanwhile, so an instrumented provider client joins the run's trace.
                trace = attach_model_trace(self.run_id, self.step, index, attempt)
                # Left set if the call is cancelled (a shutdown stops the run mid-call):
                # the runtime's release mark then says so, and the next driver charges it.
                driver.in_model_call = True
                try:
                    left = wall_seconds_left(self)
                    if left is None:
                        response = await driver.complete(candidate, request)
                    else:
                        # A reply that trickles in (a byte at a time, keep-alives) is cut
                        # off where the run's running time ends, not where it stops coming.
                        async with asyncio.timeout(left):
                            response = await driver.complete(candidate, request)
                except (ModelError, TimeoutError) as raw:
                    driver.in_model_call = False  # recorded below, charged as it may cost
                    exc = _as_model_error(candidate, raw)
                    more = position + 1 < len(chain) or attempt < policy.max_attempts * len(chain)
                    will_retry = exc.retryable and more
                    charged, charged_cost = worst_case_charge(
                        self,
                        candidate.model_id,
                        request,
                        exc.error_code,
                        broke_off=getattr(raw, "broke_off", False),
                    )
                    self.record(
                        ModelFailed(
                            call=index,
                            model=candidate.model_id,
                            error_code=exc.error_code,
                            message=exc.message,
                            retryable=exc.retryable,
                            attempt=attempt,
                            will_retry=will_retry,
                            retry_after=exc.retry_after,
                            charged=charged,
                            charged_cost_usd=charged_cost,
                        )
                    )
                    if not will_retry:
                        raise exc from None
                    continue
                finally:
                    detach_tool_trace(trace)
                driver.in_model_call = False
                latency = (time.perf_counter() - started) * 1000
                if response.tool_calls:
                    response = _bounded(response)
                response = _charged(self, request, response)
                if isinstance(client, Router):
                    response = response.model_copy(update={"model": candidate.model_id})
                after_model = self.agent.policy.hooks.after_model
                if after_model is not None:
                    replaced = await call_hook(after_model, response)
                    if isinstance(replaced, ModelResponse):
                        response = replaced
                response = self.record(
                    # Fields from validated objects and the engine's own numbers.
                    construct_trusted(
                        ModelCompleted,
                        call=index,
                        response=response,
                        latency_ms=round(latency, 3),
                        attempt=attempt,
                        prefix_hash=current_prefix,
                        cost_usd=driver.cost(candidate.model_id, response),
                    )
                ).response
                escalate = note_use(self)
                if escalate is not None:
                    raise EscalationRequested(escalate)
                return response
            # The whole chain failed retryably: back off, then walk it again.
            rounds = attempt // len(chain)
            await driver.sleep(max(exc.retry_after or 0.0, policy.delay(rounds, driver.rng)))

    def _charge_interrupted(self, index: int, model_id: str, request: ModelRequest) -> None:
        """Record the call a previous driver may have had in flight as a failed attempt.

        It is charged the way an attempt that broke off is (see ``worst_case_charge``):
        the request's estimated input and its ``max_tokens``, as the gate capped it for
        the previous driver too (it saw the same log). Without a budget it is counted,
        not charged.
        """
        charged, charged_cost = worst_case_charge(
            self, model_id, request, INTERRUPTED_CALL, broke_off=True
        )
        self.record(
            ModelFailed(
                call=index,
                model=model_id,
                error_code=INTERRUPTED_CALL,
                message="the run's previous driver stopped without handing the run over, "
                "possibly during this call: the call may have been made (and billed) and "
                "is charged before it is made again",
                retryable=True,
                attempt=1,
                will_retry=True,
                charged=charged,
                charged_cost_usd=charged_cost,
            )
        )

    async def _check_prefix(self, request: ModelRequest) -> str:
        """Hash the request's stable prefix; warn with ``prefix.changed`` on a cache bust."""
        agent = self.agent
        if (
            request.instructions is agent.instructions
            and request.tools is agent.tool_specs
            and request.output_schema is agent.output_schema
        ):
            data, current = agent.prefix, agent.prefix_hash  # the common case: nothing to hash
        else:
            data = prefix_bytes(request.instructions, request.tools, request.output_schema)
            current = prefix_hash(data)
        previous = self.state.last_prefix_hash or self.state.prefix_hash
        if previous is not None and previous != current:
            store = self._driver.store
            old = await store.get_blob(f"prefix:{previous}")
            # Kept as the runtime keeps an agent's prefix: sealed when it may hold a secret.
            await store.put_blob(
                f"prefix:{current}", await self.governance.protection.keep_text(data)
            )
            self.record(
                PrefixChanged(
                    previous=previous, current=current, changed=describe_change(old, data)
                )
            )
        return current

    # -- tools -------------------------------------------------------------------------------

    async def call_tools(self, calls: Sequence[ToolCall]) -> list[ToolResult]:
        """Gate, validate and run tool calls (concurrently), journaled; writes exactly once.

        Each new call passes the policy gate first (see ``_gate``): refused calls
        become structured errors, calls needing approval park the run until a
        person decides. A write tool's ``tool.started`` is committed, together
        with everything this step recorded so far, before the tool runs. A write
        that was started but never completed (the process died) is re-issued with
        the same idempotency key only when the tool declares ``idempotent=True``;
        otherwise the run waits for a person to resolve it (signal ``resolve_write``).
        Under a limit on tool calls, a run taken over from a driver that stopped without
        handing it over first charges the read calls that driver may have run (see
        :meth:`_charge_interrupted_tools`).
        """
        driver = self._driver
        self._stop_if_cancelled()
        if driver.unrecorded_tool_calls:
            self._charge_interrupted_tools(calls)
        state = self.state
        registry = self.agent.registry
        results: list[ToolResult | None] = [None] * len(calls)
        decided: dict[int, tuple[int, ToolCall, ToolOutcome]] = {}
        pending: list[tuple[int, int, ToolCall]] = []
        starts: list[ToolStarted] = []
        uncertain: list[dict[str, Any]] = []
        awaiting: list[str] = []
        admitted: dict[str, int] = {}
        guarded: dict[int, GuardVerdict] = {}
        escalation: ToolCall | None = None
        killswitch = _Once(driver.killswitch)
        for position, call in enumerate(calls):
            index = self._next_call()
            recorded = state.journal.get(index)
            if isinstance(recorded, (ToolCompleted, ToolFailed)):  # a tuple: faster than a union
                results[position] = recorded
                continue
            contract = registry.get(call.name)
            if isinstance(recorded, ToolStarted):
                call = call.model_copy(update={"arguments": recorded.arguments})
                # Matched by Tether's identity of the call only: providers reuse call ids.
                resolution = state.write_resolutions.get(recorded.idempotency_key)
                action = resolution.get("action") if resolution else None
                settled = _resolved(
                    call,
                    resolution,
                    not_performed=("not_performed",),
                    message="an operator confirmed this write did not happen",
                    hint="decide whether to call the tool again",
                )
                if settled is not None:
                    results[position] = await self._tool_result(index, call, settled)
                elif action == "retry" or (contract is not None and contract.idempotent):
                    # A re-issue goes through the gate like any call: the kill switch, a
                    # deny rule or a budget can still stop it.
                    if contract is None:
                        pending.append((position, index, call))
                        continue
                    if has_unrecoverable(call.arguments):
                        uncertain.append(
                            _uncertain(
                                call, recorded, recorded.idempotency_key, problem=_UNRECOVERABLE
                            )
                        )
                        continue
                    admission = await admit_tool_call(
                        self, call, contract, index, admitted, killswitch, reissue=True
                    )
                    if admission.kind == "refused":
                        assert admission.error is not None
                        decided[position] = (index, call, _outcome(call, error=admission.error))
                    elif admission.kind == "await":
                        awaiting.append(approval_key(state.step, index))
                    else:
                        reissue = admission.call
                        # And through the breakers and rate limits, as a fresh call: the
                        # re-issue is another invocation of the tool (it takes a token, and
                        # waits for one as far as the limit allows). One they refuse is not
                        # failed: the first attempt may have happened, and a model told
                        # "rate limited" would call again under a new key. It waits for a
                        # person, as a write that may have happened does.
                        verdict = await guard_tool_call(self, contract)
                        if verdict.error is not None:
                            uncertain.append(
                                _uncertain(
                                    reissue,
                                    recorded,
                                    recorded.idempotency_key,
                                    problem="it may have happened before the process "
                                    "stopped, and re-issuing it now was refused: "
                                    f"{verdict.error.message}",
                                )
                            )
                            continue
                        if verdict.ticket is not None or verdict.wait > 0:
                            guarded[index] = verdict
                        pending.append((position, index, reissue))
                        # Started again, committed under the lease before it runs: the
                        # fold uses up the operator's "retry" with it, so if this attempt
                        # is cut off too, a person decides again (one decision, one run).
                        starts.append(_started(index, reissue, recorded.idempotency_key))
                else:
                    uncertain.append(_uncertain(call, recorded, recorded.idempotency_key))
                continue
            if (
                call.name == ESCALATE_TOOL
                and contract is not None
                and call.invalid_arguments is None
            ):
                escalation = call
                decided[position] = (
                    index,
                    call,
                    _outcome(call, result="a person will take over this conversation"),
                )
                continue
            if (
                contract is not None
                and contract.effect == "write"
                and call.invalid_arguments is None
                and has_unrecoverable(call.arguments)
            ):
                # A sensitive argument was stored without a key to recover it (see
                # ``_protect``): a person decides; the write never runs with a placeholder.
                settled = _resolved(
                    call,
                    state.write_resolutions.get(self._idempotency_key(index)),
                    not_performed=("not_performed", "retry"),  # nothing to retry with
                    message="this call was not made: a sensitive argument could not be "
                    "recovered after a restart",
                    hint="ask the user to provide the value again if the action is needed",
                )
                if settled is not None:
                    decided[position] = (index, call, settled)
                else:
                    uncertain.append(
                        _uncertain(call, None, self._idempotency_key(index), problem=_UNRECOVERABLE)
                    )
                continue
            closed = (
                closed_catalog_error(call.name, self.agent.tool_domains, state.messages)
                if contract is not None and self.agent.tool_domains
                else None
            )
            if closed is not None:  # a catalog's tool whose domain the model has not opened
                decided[position] = (index, call, _outcome(call, error=closed))
                continue
            if contract is not None and call.invalid_arguments is None:
                # Validate and coerce first: the gate, the approver, the journal and the
                # tool all see the same arguments ("900000" becomes 900000 before any
                # rule compares it). Arguments that do not validate never run, so the
                # executor reports them without a gate.
                try:
                    normalized = contract.normalize(call.arguments)
                except Exception as exc:  # never run arguments the gate could not see
                    decided[position] = (
                        index,
                        call,
                        _outcome(call, error=argument_error(contract, exc)),
                    )
                    continue
                if normalized != call.arguments:
                    call = call.model_copy(update={"arguments": normalized})
                admission = await admit_tool_call(self, call, contract, index, admitted, killswitch)
                if admission.kind == "refused":
                    assert admission.error is not None
                    decided[position] = (index, call, _outcome(call, error=admission.error))
                    continue
                if admission.kind == "await":
                    awaiting.append(approval_key(state.step, index))
                    continue
                call = admission.call
                # Breakers and rate limits last, so a refused or parked call takes no
                # token; a refusal is the call's result, and the tool is not called.
                verdict = await guard_tool_call(self, contract)
                if verdict.error is not None:
                    decided[position] = (index, call, _outcome(call, error=verdict.error))
                    continue
                if verdict.ticket is not None or verdict.wait > 0:
                    guarded[index] = verdict
                if contract.effect == "write":
                    starts.append(_started(index, call, self._idempotency_key(index)))
            pending.append((position, index, call))
        if uncertain:
            raise _uncertain_wait(uncertain)
        # The gate may have waited (the kill switch, a rate limit): a cancel accepted
        # meanwhile stops the step before any write starts.
        self._stop_if_cancelled()
        if pending and wall_seconds_left(self) == 0.0:
            # The running-time budget is used up (the gate's waits, a slow hook): no tool
            # starts, as no model call would.
            raise GateFailure(self._out_of_time())
        if starts:
            for event in starts:
                self.record(event)
            await driver.flush()
        elif pending and limits_tool_use(state):
            # Under a limit on tool calls, what this run recorded is committed before its
            # tools run: a crash re-runs at most the calls in flight, never calls whose
            # results were in and counted only in memory (overlapped commits).
            await driver.flush()
        cut_off = False
        if pending:
            driver.in_tool_calls = True
            outcomes = await driver.gather(
                [
                    self._run_guarded(index, call, guarded[index])
                    if index in guarded
                    else self._run_tool(index, call)
                    for _position, index, call in pending
                ]
            )
            driver.in_tool_calls = False  # left set when a shutdown cancels the calls
            started = {event.call: event for event in starts} if starts else {}
            for (position, index, call), outcome in zip(pending, outcomes, strict=True):
                cut_off = cut_off or outcome.out_of_time
                if started and index in started and _may_have_happened(outcome):
                    # A write that timed out or lost its connection may have happened (a
                    # thread tool even runs on). Handing the model an error would let it
                    # call again, under a new key: the journal keeps the call started, with
                    # no result, and a person resolves it as after a crash.
                    assert outcome.error is not None
                    item = _uncertain(
                        call,
                        started[index],
                        self._idempotency_key(index),
                        problem=outcome.error.message,
                    )
                    uncertain.append(item)
                    continue
                decided[position] = (index, call, outcome)
        # Results join the log (and the conversation) in the order the model asked for them.
        policy = self.agent.policy
        flagged = False
        for position in sorted(decided):
            index, call, outcome = decided[position]
            result, size = await self._record_tool_result(index, call, outcome)
            results[position] = result
            if policy.injection is None:
                continue
            if isinstance(result, ToolCompleted):
                flag = await _flag_injection_bounded(
                    policy.injection, call.id, call.name, result.result, size
                )
            elif isinstance(result, ToolFailed) and not result.will_retry:
                # An error's message and hint reach the model as much as a result does (an
                # MCP server's or an upstream API's text, passed on in a ToolCallError):
                # scanned the same way (red team 13, hole 13).
                error = result.error
                text = error.message if not error.hint else f"{error.message}\n{error.hint}"
                flag = await _flag_injection_bounded(
                    policy.injection, call.id, call.name, text, len(text)
                )
            else:
                continue
            if flag is not None:
                self.record(flag)
                flagged = True
        if uncertain:  # the other calls' results are recorded: they land with the park
            # (A write cut off by the running-time budget too: it may have happened. Once a
            # person has said whether it did, the run's next call finds the budget used up.)
            raise _uncertain_wait(uncertain)
        if cut_off:
            # The running-time budget ended a call (an async tool cancelled, a thread tool
            # abandoned): the run ends on its budget, as when it cuts off a model call.
            raise GateFailure(self._out_of_time())
        if escalation is not None:
            raise EscalationRequested(
                Escalate(
                    str(escalation.arguments.get("reason") or "the agent asked for a person"),
                    source="agent",
                    suggested_next_step=str(escalation.arguments.get("suggested_next_step") or "")
                    or None,
                )
            )
        if flagged and policy.escalate_on_injection:
            raise EscalationRequested(
                Escalate(
                    "a tool output contains text that tries to instruct the agent",
                    source="injection",
                    suggested_next_step="read the flagged tool output; resume if it is harmless",
                )
            )
        if awaiting:
            raise WaitRequested(
                Wait(
                    signal="approval",
                    reason="approval_required",
                    details={"calls": awaiting},
                )
            )
        escalate = note_use(self)
        if escalate is not None:
            raise EscalationRequested(escalate)
        return [r for r in results if r is not None]

    def _charge_interrupted_tools(self, calls: Sequence[ToolCall]) -> None:
        """Charge the read calls the run's previous driver may have run, before they run again.

        That driver stopped without handing the run over (killed, its lease lost) and may
        have been running this batch: a read records nothing before it runs, so the log
        shows the calls without results, and each may have been made. Under a limit on
        tool calls, each is charged once (a ``tool.failed`` of code ``interrupted``,
        ``will_retry``, ``charged``: the fold counts it, in all and per tool, and adds no
        message) before the gate decides on running it again: a call the charge leaves no
        room for is not made again (the run fails ``budget_exceeded``, or the call is
        refused under ``on_tool_limit="refuse"``), so the limit holds across crashes.
        Writes are not charged here: each records ``tool.started`` before it runs and is
        re-issued under its key or resolved by a person. A call the budget would not have
        let that driver run (the log it saw was this one) is not charged, nor one that
        never runs (an unknown tool, bad arguments, a closed catalog, escalation).

        The takeover is used up by the first batch with a call that has no result (a
        batch replayed whole comes before the one that driver was in); without a limit on
        tool calls nothing is recorded.
        """
        state = self.state
        journal = state.journal
        base = self._call
        unrecorded = [
            (base + offset, call)
            for offset, call in enumerate(calls)
            if not isinstance(journal.get(base + offset), (ToolCompleted, ToolFailed))
        ]
        if not unrecorded:
            return
        self._driver.unrecorded_tool_calls = False
        budget = pinned_budget(state)
        if budget is None or not budget.limits_tool_use:
            return
        registry = self.agent.registry
        domains = self.agent.tool_domains
        for index, call in unrecorded:
            contract = registry.get(call.name)
            if (
                contract is None
                or contract.effect == "write"
                or call.invalid_arguments is not None
                or call.name == ESCALATE_TOOL
                or (
                    domains and closed_catalog_error(call.name, domains, state.messages) is not None
                )
            ):
                continue
            try:
                check_tool_call(budget, current_use(state, self.governance.clock()), call.name, {})
            except BudgetExceededError:
                continue  # the gate did not let the previous driver run it either
            self.record(
                ToolFailed(
                    call=index,
                    call_id=call.id,
                    tool=call.name,
                    error=ToolError(
                        error_code=INTERRUPTED_CALL,
                        message="the run's previous driver stopped without handing the run "
                        "over, possibly while running this call: it may have been made, and "
                        "is counted before it runs again",
                        retryable=True,
                    ),
                    will_retry=True,
                    charged=True,
                )
            )

    def _stop_if_cancelled(self) -> None:
        """End the step here if a cancel was accepted since it began (none runs after it).

        A cancel that arrives while the model is thinking is seen before the tools it
        asks for start: the model call cannot be taken back, its writes can be not made.
        """
        reason = self._driver.cancel_reason
        if reason is not None:
            raise CancelRequested(reason)

    def _out_of_time(self) -> Fail:
        """The run's ending when its running-time budget runs out during its tool calls."""
        budget = pinned_budget(self.state)
        assert budget is not None and budget.max_wall_seconds is not None
        use = current_use(self.state, self.governance.clock())
        return budget_failure(
            BudgetExceededError(
                "wall_seconds",
                f"budget exceeded: {use.wall_seconds:.1f}s of {budget.max_wall_seconds}s "
                "running time used (a tool call was stopped where it ends)",
                use.summary(budget),
            )
        )

    def _idempotency_key(self, index: int) -> str:
        # The tool's execute_tool span id derives from it: one format, in observe.
        return tool_call_key(self.run_id, self.step, index)

    async def _run_guarded(self, index: int, call: ToolCall, verdict: GuardVerdict) -> ToolOutcome:
        """Wait for the call's rate-limit token, run it, and tell its breaker the outcome."""
        outcome: ToolOutcome | None = None
        try:
            if verdict.wait > 0:
                # Never past the running-time budget: the call then finds no time left.
                left = wall_seconds_left(self)
                await self._driver.sleep(verdict.wait if left is None else min(verdict.wait, left))
            outcome = await self._run_tool(index, call)
            return outcome
        finally:
            if verdict.ticket is not None:
                settle_tool_call(self, verdict.ticket, outcome)

    async def _run_tool(self, index: int, call: ToolCall) -> ToolOutcome:
        state = self.state
        contract = self.agent.registry.get(call.name)
        secrets: Mapping[str, str] = {}
        if contract is not None and contract.credentials:
            broker = self.governance.secrets
            try:
                if broker is None:
                    raise LookupError("no secrets broker is configured on the runtime")
                secrets = await broker.aresolve(contract.credentials, tool=call.name)
            except Exception:
                return _outcome(
                    call,
                    error=ToolError(
                        error_code="missing_credential",
                        message=f"{call.name} cannot run: a credential it needs is unavailable",
                        hint="Tell the user this action is unavailable right now.",
                        # Names only: the model needs no file paths or variable names.
                        details={"credentials": list(contract.credentials)},
                    ),
                )
        ctx = ToolContext(
            run_id=state.run_id,
            tenant=state.tenant,
            call_id=call.id,
            tool_name=call.name,
            idempotency_key=self._idempotency_key(index),
            attempt=1,
            step=state.step,
            secrets=secrets,
            artifacts=self._driver.artifacts,
        )

        def attempt_failed(error: ToolError, attempt: int, duration_ms: float) -> None:
            self.record(
                ToolFailed(
                    call=index,
                    call_id=call.id,
                    tool=call.name,
                    error=error,
                    attempt=attempt,
                    duration_ms=round(duration_ms, 3),
                    will_retry=True,
                )
            )

        # The call ends where the run's running-time budget does, if that comes before
        # the tool's own timeout (and no retry starts after it).
        left = wall_seconds_left(self)
        deadline = None if left is None else asyncio.get_running_loop().time() + left
        outcome = await execute_tool_call(
            call, self.agent.registry, ctx, on_attempt_failed=attempt_failed, deadline=deadline
        )
        after_tool = self.agent.policy.hooks.after_tool
        if after_tool is not None and outcome.ok:
            outcome.result = await call_hook(after_tool, call, outcome.result)
        return outcome

    async def _tool_result(self, index: int, call: ToolCall, outcome: ToolOutcome) -> ToolResult:
        return (await self._record_tool_result(index, call, outcome))[0]

    async def _record_tool_result(
        self, index: int, call: ToolCall, outcome: ToolOutcome
    ) -> tuple[ToolResult, int]:
        """Record a call's result; returns the event and the size of its stored bytes."""
        event: ToolResult
        contract = self.agent.registry.get(call.name)
        # Marked only when the simulator answered: a refusal by the gate is never simulated.
        simulated = True if outcome.attempts > 0 and is_simulated(contract) else None
        # ``tool`` is a structural field (never redacted) and a metrics label: only a
        # registered tool's name goes there. A name the model invented is its own text,
        # which may be anything it read (a secret included); it stays in the reply,
        # where it is sealed like the rest of what the model wrote.
        tool = call.name if contract is not None else UNKNOWN_TOOL_LABEL
        if outcome.ok:
            event = construct_trusted(
                ToolCompleted,
                call=index,
                call_id=call.id,
                tool=tool,
                result=outcome.result,
                attempt=outcome.attempts,
                duration_ms=round(outcome.duration_ms, 3),
                simulated=simulated,
            )
        else:
            assert outcome.error is not None
            event = ToolFailed(
                call=index,
                call_id=call.id,
                tool=tool,
                error=outcome.error,
                attempt=outcome.attempts,
                duration_ms=round(outcome.duration_ms, 3),
                simulated=simulated,
            )
        # A tool output can be large and is scanned for secrets: off the loop if so.
        protected = await self._driver.protect(event)
        return self._driver.record(event, protected=protected), len(protected[1])


def _bounded(response: ModelResponse) -> ModelResponse:
    """Replace tool calls whose arguments nest too deeply by calls the executor refuses.

    A custom model client may build such calls directly (adapters already refuse them);
    pydantic cannot serialize a few hundred levels, so the reply could not be stored.
    """
    calls = response.tool_calls
    if not any(nesting_exceeds(c.arguments, MAX_ARGUMENT_DEPTH) for c in calls):
        return response
    fixed = [
        ToolCall(
            id=c.id,
            name=c.name,
            invalid_arguments=f"(arguments nested deeper than {MAX_ARGUMENT_DEPTH} levels)",
        )
        if nesting_exceeds(c.arguments, MAX_ARGUMENT_DEPTH)
        else c
        for c in calls
    ]
    return response.model_copy(update={"tool_calls": fixed})


def _charged(ctx: StepContext, request: ModelRequest, response: ModelResponse) -> ModelResponse:
    """The reply with the usage it is charged (see :func:`~tether.policy.charged_usage`):
    a reply without usage, or with a negative one, is charged the estimates; under a
    budget of tokens or dollars, a count below a quarter of the estimate is raised to it."""
    usage = response.usage
    budget = pinned_budget(ctx.state)
    charged = charged_usage(request, response, budgeted=budget is not None and budget.counts_tokens)
    if charged is usage:
        return response  # the common case: reported, and no budget to protect
    return response.model_copy(update={"usage": charged})


def flag_injection(
    scanner: InjectionScanner | None, call_id: str, tool: str, result: Any
) -> InjectionFlagged | None:
    """The ``injection.flagged`` event for one tool result, or ``None`` when it is clean.

    Call it with the result as recorded for every new ``tool.completed``. The scanner
    (policy) names the patterns; the engine records them.
    """
    if scanner is None:
        return None
    patterns = scanner.scan_value(result)
    if not patterns:
        return None
    return InjectionFlagged(call_id=call_id, tool=tool, patterns=patterns)


SCAN_CHUNK = 8192
"""Characters of a large tool output scanned between two yields to the event loop."""
_SCAN_OVERLAP = 512  # longer than any pattern's match, so no match is cut in two


async def _flag_injection_bounded(
    scanner: InjectionScanner, call_id: str, tool: str, result: Any, size: int
) -> InjectionFlagged | None:
    """:func:`flag_injection`, in bounded slices for a large output (no loop stall).

    Python's regex engine holds the GIL for a whole search, so a worker thread would
    stall the loop just the same: a large output is scanned in overlapping chunks of
    ``SCAN_CHUNK`` characters with a yield to the loop between them. Texts over the
    scanner's ``max_chars`` are scanned at their start and end, as the scanner does.
    ``size`` is the length of the recorded event, so a small result costs no extra work.
    """
    if not scanner.ready:
        # The first scan builds the tables (a second or more, holding the GIL in bursts):
        # in a worker thread, shared with the runtime's warm-up, never on the loop, where
        # it would starve lease heartbeats.
        await asyncio.to_thread(scanner.prepare)
    if size <= OFFLOAD_BYTES or not isinstance(result, (str, dict, list)):
        return flag_injection(scanner, call_id, tool, result)
    text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
    if len(text) > scanner.max_chars:
        half = scanner.max_chars // 2
        text = text[:half] + "\n" + text[-half:]
    found: list[str] = []
    for start in range(0, len(text), SCAN_CHUNK):
        chunk = text[max(0, start - _SCAN_OVERLAP) : start + SCAN_CHUNK]
        for name in scanner.scan(chunk):
            if name not in found:
                found.append(name)
        await asyncio.sleep(0)
    if not found:
        return None
    return InjectionFlagged(call_id=call_id, tool=tool, patterns=found)


def _resolved(
    call: ToolCall,
    resolution: dict[str, Any] | None,
    *,
    not_performed: tuple[str, ...],
    message: str,
    hint: str,
) -> ToolOutcome | None:
    """The outcome an operator's ``resolve_write`` decided for a call, if it decided one."""
    action = resolution.get("action") if resolution else None
    if action == "completed":
        assert resolution is not None
        return _outcome(call, result=resolution.get("result"))
    if action in not_performed:
        error = ToolError(error_code=ToolErrorCode.WRITE_NOT_PERFORMED, message=message, hint=hint)
        return _outcome(call, error=error)
    return None


def _started(index: int, call: ToolCall, key: str) -> ToolStarted:
    """The ``tool.started`` committed (under the lease) before a write runs."""
    return ToolStarted(
        call=index,
        call_id=call.id,
        tool=call.name,
        arguments=call.arguments,
        idempotency_key=key,
    )


def _may_have_happened(outcome: ToolOutcome) -> bool:
    """Whether a write's failure leaves its effect unknown (a timeout, a lost connection)."""
    error = outcome.error
    return (
        not outcome.ok
        and error is not None
        and error.details is not None
        and error.details.get("uncertain_write") is True
    )


def _uncertain_wait(uncertain: list[dict[str, Any]]) -> WaitRequested:
    """Park the run until a person says whether each of these writes happened."""
    return WaitRequested(
        Wait(
            signal="resolve_write",
            reason="uncertain_write",
            details={
                "message": "a write tool was started but did not report whether it happened "
                "(the process stopped, or the call timed out or lost its connection); it may "
                "or may not have happened. Resolve with signal 'resolve_write' {call_id, "
                "action: completed|not_performed|retry}, call_id being the call's "
                "idempotency key (its provider call id is enough when no other waiting write "
                "shares it).",
                "calls": uncertain,
            },
        )
    )


_UNRECOVERABLE = (
    "its arguments held a sensitive value that is stored without a key to recover it, so it "
    "cannot be re-issued; configure a payload key to keep such values"
)
"""The problem of a write whose arguments cannot be recovered (see :func:`_uncertain`)."""


def _uncertain(
    call: ToolCall, started: ToolStarted | None, key: str, *, problem: str | None = None
) -> dict[str, Any]:
    """What a person needs to resolve a write that may have happened, or cannot run as asked.

    ``key`` is the call's idempotency key: what a ``resolve_write`` decision is bound to.
    """
    item: dict[str, Any] = {
        "call_id": call.id,
        "tool": call.name,
        "arguments": call.arguments,
        "idempotency_key": key,
    }
    if started is None:
        item["started"] = False
    if problem is not None:
        item["problem"] = problem
    return item


def _outcome(call: ToolCall, *, result: Any = None, error: ToolError | None = None) -> ToolOutcome:
    """An outcome decided by an operator rather than by running the tool."""
    return ToolOutcome(
        call_id=call.id,
        tool=call.name,
        ok=error is None,
        result=result,
        error=error,
        attempts=0,
        duration_ms=0.0,
    )


def _as_model_error(client: ModelClient, exc: ModelError | TimeoutError) -> ModelError:
    """A provider timeout that escaped the adapter becomes a retryable model error."""
    if isinstance(exc, ModelError):
        return exc
    return ModelError(
        f"{client.model_id}: no reply before the timeout", error_code="timeout", retryable=True
    )


class _Once:
    """Reads the kill switch at most once per batch of tool calls."""

    __slots__ = ("_read", "_value")

    def __init__(self, read: Callable[[], Awaitable[bool]]) -> None:
        self._read = read
        self._value: bool | None = None

    async def __call__(self) -> bool:
        if self._value is None:
            self._value = await self._read()
        return self._value
