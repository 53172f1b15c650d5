"""Run tool calls: validate, enforce timeouts, retry transient failures, shape the result.

Every problem a tool call can have — an unknown name, bad arguments, an exception, a
timeout, a result that is not JSON — becomes a :class:`ToolError` inside a
:class:`ToolOutcome`, because the model must see it and act on it. Only control flow
(``asyncio.CancelledError``, ``KeyboardInterrupt``, ...) propagates.

Sync tools run in a worker thread so they never block the event loop. A thread cannot be
killed: when a sync tool times out the executor stops waiting for it and reports a
timeout, but the thread runs on until the function returns (it keeps holding one of
anyio's worker-thread tokens meanwhile).

Bad input never gets further than a structured error: arguments nested deeper than
``MAX_ARGUMENT_DEPTH`` are refused before validation, and a result is converted to JSON
inside the attempt's timeout (in the worker thread, for a sync tool) under the
contract's ``max_result_bytes`` cap and the ``MAX_RESULT_DEPTH`` limit: an endless
generator or a 5 MB string becomes ``result_too_large``, a cycle or 600-deep data
``unserializable_result``, rather than a hang or a crash.

A call may also be given a ``deadline``: the end of its run's running-time budget. Each
attempt's timeout is then the tool's own or the time left, whichever is shorter; an
attempt cut there is stopped like any timed-out one (an async tool is cancelled, a
thread tool abandoned and its late result discarded), and no retry starts, or waits,
past it. Such an outcome has ``out_of_time`` set: the engine ends the run on its budget.
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import functools
import random
import time
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping, Sequence
from typing import Any

import anyio.to_thread
from pydantic import ValidationError

from tether.models import MAX_ARGUMENT_DEPTH, ToolCall, nesting_exceeds, text_nesting_exceeds
from tether.observe import attach_tool_trace, detach_tool_trace
from tether.tools._contract import ToolContext, ToolContract
from tether.tools._errors import ToolCallError, ToolError, ToolErrorCode
from tether.tools._serialize import (
    ResultTooLargeError,
    UnserializableResultError,
    to_json_result,
)

AttemptFailedHook = Callable[[ToolError, int, float], None]
Sleep = Callable[[float], Awaitable[None]]

_RAW_PREVIEW = 200
_default_rng = random.Random()
_perf = time.perf_counter


@dataclasses.dataclass(kw_only=True, slots=True)
class ToolOutcome:
    """The result of one tool call after validation, retries and serialization.

    Attributes:
        call_id: The model's tool call id.
        tool: Tool name as the model sent it.
        ok: Whether the tool returned a usable result.
        result: The JSON-compatible result (``None`` when not ok).
        error: The structured error the model sees (``None`` when ok).
        attempts: Attempts made; ``0`` when the call was rejected before running.
        duration_ms: Wall time of the whole call, including retries and backoff.
        out_of_time: The call's ``deadline`` (its run's running-time budget) ended it: an
            attempt was cut off there, or no time was left to make (or retry) one.
    """

    call_id: str
    tool: str
    ok: bool
    result: Any = None
    error: ToolError | None = None
    attempts: int
    duration_ms: float
    out_of_time: bool = False


async def execute_tool_call(
    call: ToolCall,
    registry: Mapping[str, ToolContract],
    ctx: ToolContext,
    *,
    on_attempt_failed: AttemptFailedHook | None = None,
    sleep: Sleep | None = None,
    rng: random.Random | None = None,
    deadline: float | None = None,
) -> ToolOutcome:
    """Execute one tool call and report its outcome; tool problems never raise.

    Args:
        call: The call the model proposed.
        registry: Tools available to this run, by name.
        ctx: Context for the call; the executor passes a copy with ``attempt`` set.
        on_attempt_failed: Called with ``(error, attempt, duration_ms)`` for each failed
            attempt that will be retried (so the engine can record it).
        sleep: Backoff sleep (default ``asyncio.sleep``); inject a fake in tests.
        rng: Jitter source (default: a module-level ``random.Random``).
        deadline: Event-loop time (``loop.time()``) no attempt may run past: the end of
            the run's running-time budget. ``None``: the tool's own timeout alone.

    Returns:
        The outcome; ``outcome.error`` says what went wrong when ``outcome.ok`` is false.
    """
    start = _perf()
    contract = registry.get(call.name)
    if contract is None:
        return _rejected(call, _unknown_tool(call.name, registry), start)
    if call.invalid_arguments is not None:
        return _rejected(call, _unparsed_arguments(call, contract), start)
    if nesting_exceeds(call.arguments, MAX_ARGUMENT_DEPTH):
        return _rejected(call, _too_deep_arguments(contract), start)
    try:
        kwargs = contract.validate(call.arguments)
    except ValidationError as exc:
        return _rejected(call, _invalid_arguments(contract, exc), start)
    except RecursionError:  # a validator of the tool's own that recurses per level
        return _rejected(call, _too_deep_arguments(contract), start)

    policy = contract.retry
    attempt = 1
    while True:
        if deadline is not None and asyncio.get_running_loop().time() >= deadline:
            # No time is left to start an attempt: the tool is not called (again).
            return _out_of_time(call, contract, attempt - 1, start)
        attempt_ctx = ctx if ctx.attempt == attempt else dataclasses.replace(ctx, attempt=attempt)
        attempt_start = _perf()
        error = None
        # The call's span context is current while the tool runs (a no-op while tracing is off).
        trace_token = attach_tool_trace(ctx.run_id, ctx.idempotency_key)
        out_of_time = False
        try:
            result = await _invoke(contract, kwargs, attempt_ctx, deadline)
        except _OutOfTimeError as exc:
            out_of_time = True
            error = _timed_out(contract, exc.seconds, budget=True)
            if not contract.rerunnable:  # cut mid-flight, like any timeout: it may have run
                error = _uncertain_write(contract, error)
        except ResultTooLargeError as exc:
            error = _too_large(contract, exc)
        except UnserializableResultError as exc:
            error = _unserializable(contract, str(exc))
        except Exception as exc:  # tool failures only: CancelledError is a BaseException
            error = _error_from_exception(contract, exc)
            if error.retryable and not isinstance(exc, ToolCallError) and not contract.rerunnable:
                error = _uncertain_write(contract, error)
        finally:
            detach_tool_trace(trace_token)
        if error is None:
            return ToolOutcome(
                call_id=call.id,
                tool=call.name,
                ok=True,
                result=result,
                attempts=attempt,
                duration_ms=(_perf() - start) * 1000.0,
            )
        retry = not out_of_time and error.retryable and attempt < policy.max_attempts
        delay = policy.delay(attempt, rng or _default_rng) if retry else 0.0
        if retry and deadline is not None and asyncio.get_running_loop().time() + delay >= deadline:
            retry = False  # the retry could only start after the budget's end
            out_of_time = True
        if not retry:
            return ToolOutcome(
                call_id=call.id,
                tool=call.name,
                ok=False,
                error=error,
                attempts=attempt,
                duration_ms=(_perf() - start) * 1000.0,
                out_of_time=out_of_time,
            )
        if on_attempt_failed is not None:
            on_attempt_failed(error, attempt, (_perf() - attempt_start) * 1000.0)
        await (sleep or asyncio.sleep)(delay)
        attempt += 1


async def execute_tool_calls(
    calls: Sequence[ToolCall],
    registry: Mapping[str, ToolContract],
    ctx_factory: Callable[[ToolCall, int], ToolContext],
    *,
    on_attempt_failed: Callable[[ToolCall, ToolError, int, float], None] | None = None,
    sleep: Sleep | None = None,
    rng: random.Random | None = None,
    deadline: float | None = None,
) -> list[ToolOutcome]:
    """Execute several tool calls concurrently; outcomes come back in call order.

    Args:
        calls: The calls of one model turn.
        registry: Tools available to this run, by name.
        ctx_factory: Builds the context of call ``i`` (``(call, index) -> ToolContext``).
        on_attempt_failed: Like :func:`execute_tool_call`'s hook, with the call first so
            concurrent failures can be told apart.
        sleep: Backoff sleep (default ``asyncio.sleep``).
        rng: Jitter source.
        deadline: Like :func:`execute_tool_call`'s, for every call.
    """

    def hook_for(call: ToolCall) -> AttemptFailedHook | None:
        return None if on_attempt_failed is None else functools.partial(on_attempt_failed, call)

    coros = [
        execute_tool_call(
            call,
            registry,
            ctx_factory(call, index),
            on_attempt_failed=hook_for(call),
            sleep=sleep,
            rng=rng,
            deadline=deadline,
        )
        for index, call in enumerate(calls)
    ]
    if len(coros) == 1:
        return [await coros[0]]  # one call needs no extra task
    return list(await asyncio.gather(*coros))


async def _invoke(
    contract: ToolContract, kwargs: dict[str, Any], ctx: ToolContext, budget_end: float | None
) -> Any:
    """Run one attempt and convert its result to JSON, under the contract's timeout (or
    until ``budget_end``, loop time, if that comes first).

    Raises:
        TimeoutError: The contract's timeout passed.
        _OutOfTimeError: ``budget_end`` passed first.
        ResultTooLargeError: The result passes the contract's size caps.
        UnserializableResultError: The result has no faithful JSON form.
    """
    now = asyncio.get_running_loop().time()
    timeout = contract.timeout
    budget_bound = budget_end is not None and budget_end - now <= timeout
    if budget_end is not None and budget_bound:
        timeout = max(0.0, budget_end - now)
    try:
        return await _attempt(contract, kwargs, ctx, now + timeout, timeout)
    except TimeoutError:  # ours: the tool's own is a _ToolTimeoutError
        if budget_bound:
            raise _OutOfTimeError(timeout) from None
        raise


async def _attempt(
    contract: ToolContract,
    kwargs: dict[str, Any],
    ctx: ToolContext,
    deadline: float,
    seconds: float,
) -> Any:
    """:func:`_invoke`'s attempt, ending in ``TimeoutError`` at ``deadline`` (loop time,
    ``seconds`` from now)."""
    if contract.context_param is not None:
        kwargs = {**kwargs, contract.context_param: ctx}
    # Conversion may consume an iterator, which is the tool's code running: it gets the
    # same deadline, measured on the clock a worker thread can read.
    max_bytes, monotonic_deadline = contract.max_result_bytes, time.monotonic() + seconds
    if not contract.is_async:
        convert = functools.partial(
            to_json_result, max_bytes=max_bytes, deadline=monotonic_deadline
        )
        call = functools.partial(_call_and_convert, contract.fn, kwargs, convert)
        return await _before(deadline, anyio.to_thread.run_sync(call, abandon_on_cancel=True))
    # An async tool's result is converted on the loop: bounded work, by the caps.
    awaitable = contract.fn(**kwargs)
    if type(awaitable) is not types.CoroutineType:
        value = await _before(deadline, awaitable)
    else:
        # Hot path: a timer costs several microseconds of heap work in the loop, and many
        # async tools finish without ever suspending. Run the first step here; arm the
        # deadline (still measured from the start) only if the tool actually has to wait.
        coro: Coroutine[Any, Any, Any] = awaitable
        try:
            pending = coro.send(None)
        except StopIteration as done:
            value = done.value
        except TimeoutError as exc:
            raise _ToolTimeoutError(exc) from exc
        else:
            value = await _before(deadline, _Resume(coro, pending))
    return to_json_result(value, max_bytes=max_bytes, deadline=monotonic_deadline)


def _call_and_convert(
    fn: Callable[..., Any], kwargs: dict[str, Any], convert: Callable[[Any], Any]
) -> Any:
    """A sync tool's whole attempt, run in the worker thread: the call, then the conversion."""
    return convert(fn(**kwargs))


async def _before(deadline: float, awaitable: Awaitable[Any]) -> Any:
    """Await ``awaitable``; ``TimeoutError`` only if the deadline (loop time) passes."""
    async with asyncio.timeout_at(deadline):
        try:
            return await awaitable
        except TimeoutError as exc:
            # The tool's own TimeoutError (e.g. its HTTP client gave up), not ours.
            raise _ToolTimeoutError(exc) from exc
    raise AssertionError("unreachable: asyncio.Timeout never suppresses exceptions")


class _Resume:
    """Awaitable that continues a coroutine whose first step already ran.

    It is ``yield from coro`` by hand (PEP 380): values the coroutine yields go up to
    the task, values and exceptions (cancellation included) the task sends go down.
    """

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self._coro = coro
        self._pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, pending = self._coro, self._pending
        while True:
            try:
                sent = yield pending
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # CancelledError and friends go to the tool
                try:
                    pending = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    pending = coro.send(sent)
                except StopIteration as done:
                    return done.value


class _OutOfTimeError(Exception):
    """An attempt reached the end of its run's running-time budget before its own timeout."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"cut off after {seconds:g}s")
        self.seconds = seconds


class _ToolTimeoutError(Exception):
    """Wraps a ``TimeoutError`` raised by the tool so it is not mistaken for ours."""

    def __init__(self, original: TimeoutError) -> None:
        super().__init__(str(original))
        self.original = original


def _error_from_exception(contract: ToolContract, exc: Exception) -> ToolError:
    """Classify a tool exception as a structured error (retryable or permanent)."""
    if isinstance(exc, ToolCallError):
        return ToolError(
            error_code=str(exc.error_code),
            message=exc.message,
            retryable=exc.retryable,
            hint=exc.hint,
        )
    if isinstance(exc, TimeoutError):  # raised by asyncio.timeout: our deadline expired
        return _timed_out(contract, contract.timeout)
    if isinstance(exc, _ToolTimeoutError):
        return ToolError(
            error_code=ToolErrorCode.TIMEOUT.value,
            message=_describe(exc.original),
            retryable=True,
        )
    if isinstance(exc, ConnectionError):
        return ToolError(
            error_code=ToolErrorCode.TRANSIENT.value, message=_describe(exc), retryable=True
        )
    return ToolError(error_code=ToolErrorCode.TOOL_ERROR.value, message=_describe(exc))


def _timed_out(contract: ToolContract, seconds: float, *, budget: bool = False) -> ToolError:
    """The error of an attempt stopped at its deadline: the tool's timeout, or the end of
    the run's running-time budget (``budget``)."""
    if not budget:
        return ToolError(
            error_code=ToolErrorCode.TIMEOUT.value,
            message=f"tool {contract.name!r} did not finish within {contract.timeout:g}s",
            retryable=True,
            hint="try again, or ask for less work in one call",
            details={"timeout_s": contract.timeout},
        )
    return ToolError(
        error_code=ToolErrorCode.TIMEOUT.value,
        message=f"tool {contract.name!r} was stopped after {seconds:.3g}s, where the run's "
        "running-time budget ends",
        retryable=True,
        details={"timeout_s": round(seconds, 3), "budget": "wall_seconds"},
    )


def _out_of_time(
    call: ToolCall, contract: ToolContract, attempts: int, start: float
) -> ToolOutcome:
    """The outcome of a call with no running time left to make an attempt in."""
    return ToolOutcome(
        call_id=call.id,
        tool=call.name,
        ok=False,
        error=ToolError(
            error_code=ToolErrorCode.TIMEOUT.value,
            message=f"tool {contract.name!r} was not called: the run's running-time "
            "budget is used up",
            details={"timeout_s": 0, "budget": "wall_seconds"},
        ),
        attempts=attempts,
        duration_ms=(_perf() - start) * 1000.0,
        out_of_time=True,
    )


def _uncertain_write(contract: ToolContract, error: ToolError) -> ToolError:
    """Make an unknown-outcome failure of a non-idempotent write permanent.

    A timeout or dropped connection may hide a write that happened. Re-running a write
    that does not honour idempotency keys could perform it twice, so it is not retried
    (only an explicit ``TransientToolError`` — the tool vouching it did nothing — is).
    """
    details = {**(error.details or {}), "uncertain_write": True}
    return error.model_copy(
        update={
            "retryable": False,
            "hint": f"{contract.name!r} may or may not have made its change; "
            "check its effect before calling it again",
            "details": details,
        }
    )


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _rejected(call: ToolCall, error: ToolError, start: float) -> ToolOutcome:
    return ToolOutcome(
        call_id=call.id,
        tool=call.name,
        ok=False,
        error=error,
        attempts=0,
        duration_ms=(_perf() - start) * 1000.0,
    )


def _unknown_tool(name: str, registry: Mapping[str, ToolContract]) -> ToolError:
    available = sorted(registry)
    close = difflib.get_close_matches(name, available, n=3, cutoff=0.5)
    ordered = close + [n for n in available if n not in close]
    if not ordered:
        hint = "no tools are available; answer without calling a tool"
    elif close:
        hint = f"did you mean {close[0]!r}? available tools: {', '.join(ordered)}"
    else:
        hint = f"available tools: {', '.join(ordered)}"
    return ToolError(
        error_code=ToolErrorCode.UNKNOWN_TOOL.value,
        message=f"there is no tool named {name!r}",
        hint=hint,
        details={"available_tools": ordered},
    )


def _fields_hint(contract: ToolContract) -> str:
    required = contract.parameters.get("required", [])
    optional = [p for p in contract.parameters.get("properties", {}) if p not in required]
    hint = f"required fields: {', '.join(required) or '(none)'}"
    if optional:
        hint += f"; optional fields: {', '.join(optional)}"
    return hint


def _unparsed_arguments(call: ToolCall, contract: ToolContract) -> ToolError:
    raw = call.invalid_arguments or ""
    if text_nesting_exceeds(raw, MAX_ARGUMENT_DEPTH):
        return _too_deep_arguments(contract)
    preview = raw if len(raw) <= _RAW_PREVIEW else raw[:_RAW_PREVIEW] + "..."
    return ToolError(
        error_code=ToolErrorCode.INVALID_ARGUMENTS.value,
        message=f"arguments for {contract.name!r} are not a JSON object: {preview!r}",
        hint=f"send arguments as a JSON object matching the schema ({_fields_hint(contract)})",
    )


def _too_deep_arguments(contract: ToolContract) -> ToolError:
    return ToolError(
        error_code=ToolErrorCode.INVALID_ARGUMENTS.value,
        message=f"arguments for {contract.name!r} are nested deeper than "
        f"{MAX_ARGUMENT_DEPTH} levels of objects and arrays",
        hint=f"send arguments as a flat JSON object matching the schema ({_fields_hint(contract)})",
        details={"max_depth": MAX_ARGUMENT_DEPTH},
    )


def argument_error(contract: ToolContract, exc: BaseException) -> ToolError:
    """The structured error for arguments ``contract`` cannot validate (or normalize)."""
    if isinstance(exc, ValidationError):
        return _invalid_arguments(contract, exc)
    if isinstance(exc, RecursionError):
        return _too_deep_arguments(contract)
    return ToolError(
        error_code=ToolErrorCode.INVALID_ARGUMENTS.value,
        message=f"arguments for {contract.name!r} cannot be used: {exc}",
        hint=f"fix the arguments and call again; {_fields_hint(contract)}",
    )


def _invalid_arguments(contract: ToolContract, exc: ValidationError) -> ToolError:
    errors = [
        {"loc": [p if isinstance(p, int) else str(p) for p in e["loc"]], "msg": e["msg"],
         "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]  # fmt: skip
    summary = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}" for e in errors
    )
    return ToolError(
        error_code=ToolErrorCode.INVALID_ARGUMENTS.value,
        message=f"invalid arguments for {contract.name!r}: {summary}",
        hint=f"fix the arguments and call again; {_fields_hint(contract)}",
        details={"errors": errors},
    )


def _unserializable(contract: ToolContract, what: str) -> ToolError:
    return ToolError(
        error_code=ToolErrorCode.UNSERIALIZABLE_RESULT.value,
        message=f"tool {contract.name!r} returned {what}, which is not JSON-serializable",
        hint="this is a defect in the tool; do not retry the same call",
    )


def _too_large(contract: ToolContract, exc: ResultTooLargeError) -> ToolError:
    return ToolError(
        error_code=ToolErrorCode.RESULT_TOO_LARGE.value,
        message=f"tool {contract.name!r} returned {exc}, more than the runtime accepts",
        hint="ask for less in one call (a narrower query, a smaller page or a summary); "
        "repeating the same call gets the same result",
        details={"limit": exc.limit, "max": exc.maximum},
    )
