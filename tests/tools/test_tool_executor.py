"""The tool executor: structured errors, retries, timeouts, serialization and concurrency."""

import asyncio
import dataclasses
import datetime
import itertools
import json
import math
import random
import threading
import time
from typing import Any

import pytest
from pydantic import BaseModel

from tether.models._types import ToolCall
from tether.tools import (
    RetryPolicy,
    ToolCallError,
    ToolContext,
    ToolContract,
    ToolError,
    ToolOutcome,
    TransientToolError,
    execute_tool_call,
    execute_tool_calls,
    tool,
)

NO_RETRY = RetryPolicy(max_attempts=1)


def make_ctx(call_id: str = "call-1", tool_name: str = "t") -> ToolContext:
    return ToolContext(
        run_id="run-1",
        call_id=call_id,
        tool_name=tool_name,
        idempotency_key=f"run-1:3:{call_id}",
        tenant="acme",
        step=3,
    )


class SleepRecorder:
    """Injected backoff sleep: records delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


async def run(
    contract: ToolContract, arguments: dict[str, Any] | None = None, **kwargs: Any
) -> ToolOutcome:
    """Execute one call of ``contract`` with a recording sleep unless one is given."""
    kwargs.setdefault("sleep", SleepRecorder())
    call = ToolCall(id="call-1", name=contract.name, arguments=arguments or {})
    return await execute_tool_call(call, {contract.name: contract}, make_ctx(), **kwargs)


def error_of(outcome: ToolOutcome) -> ToolError:
    assert not outcome.ok
    assert outcome.result is None
    assert outcome.error is not None
    return outcome.error


@tool
async def get_weather(city: str, days: int = 1) -> dict[str, Any]:
    """Forecast for a city."""
    return {"city": city, "days": days, "temps": [20.5, 21.0]}


@tool
def get_time(zone: str) -> str:
    """Current time in a zone."""
    return "12:00"


@tool(effect="write")
def send_email(to: str, body: str) -> str:
    """Send an email."""
    return "sent"


REGISTRY = {t.name: t for t in (get_weather, get_time, send_email)}


async def test_happy_path_returns_result_attempts_and_duration() -> None:
    """A valid call to an async tool returns its JSON result after one attempt."""
    outcome = await run(get_weather, {"city": "Oslo"})
    assert outcome == ToolOutcome(
        call_id="call-1",
        tool="get_weather",
        ok=True,
        result={"city": "Oslo", "days": 1, "temps": [20.5, 21.0]},
        error=None,
        attempts=1,
        duration_ms=outcome.duration_ms,
    )
    assert outcome.duration_ms >= 0


async def test_sync_tool_result_comes_back_from_worker_thread() -> None:
    """A sync tool runs off the loop thread and its return value is the result."""
    threads: list[int] = []

    @tool
    def which_thread() -> bool:
        """Report whether we run on a worker thread."""
        threads.append(threading.get_ident())
        return True

    outcome = await run(which_thread)
    assert outcome.ok and outcome.result is True
    assert threads and threads[0] != threading.get_ident()


async def test_tool_context_is_injected_with_call_identity() -> None:
    """A ``ToolContext`` parameter receives the run, call and idempotency key."""
    seen: list[ToolContext] = []

    @tool
    async def whoami(ctx: ToolContext) -> str:
        """Return the tenant."""
        seen.append(ctx)
        return ctx.tenant or ""

    outcome = await run(whoami)
    assert outcome.result == "acme"
    assert seen[0].idempotency_key == "run-1:3:call-1"
    assert seen[0].attempt == 1


async def test_unknown_tool_lists_available_tools_closest_first() -> None:
    """An unknown name is an ``unknown_tool`` error whose hint suggests the closest tool."""
    call = ToolCall(id="c", name="get_wether", arguments={"city": "Oslo"})
    outcome = await execute_tool_call(call, REGISTRY, make_ctx())
    error = error_of(outcome)
    assert error.error_code == "unknown_tool"
    assert error.retryable is False
    assert error.hint is not None and error.hint.startswith("did you mean 'get_weather'?")
    assert error.details is not None
    assert error.details["available_tools"][0] == "get_weather"
    assert set(error.details["available_tools"]) == set(REGISTRY)
    assert outcome.attempts == 0


async def test_unknown_tool_with_empty_registry_says_no_tools() -> None:
    """With no tools registered the hint tells the model to answer without one."""
    outcome = await execute_tool_call(ToolCall(id="c", name="x"), {}, make_ctx())
    assert error_of(outcome).hint == "no tools are available; answer without calling a tool"


async def test_unparsed_arguments_are_invalid_arguments_with_hint() -> None:
    """Raw argument text that was not a JSON object yields ``invalid_arguments`` without running."""
    call = ToolCall(id="c", name="get_weather", invalid_arguments='{"city": "Oslo"')
    outcome = await execute_tool_call(call, REGISTRY, make_ctx())
    error = error_of(outcome)
    assert error.error_code == "invalid_arguments"
    assert error.hint is not None
    assert error.hint.startswith("send arguments as a JSON object matching the schema")
    assert "required fields: city" in error.hint
    assert '{"city": "Oslo"' in error.message
    assert outcome.attempts == 0


async def test_validation_errors_are_summarised_with_json_safe_details() -> None:
    """Schema violations list ``loc: msg`` per error; details hold loc/msg/type only."""
    outcome = await run(get_weather, {"days": "many", "unit": "C"})
    error = error_of(outcome)
    assert error.error_code == "invalid_arguments"
    assert "city: Field required" in error.message
    assert "days: Input should be a valid integer" in error.message
    assert "unit: Extra inputs are not permitted" in error.message
    assert error.hint is not None and "required fields: city; optional fields: days" in error.hint
    assert error.details is not None
    errors = error.details["errors"]
    assert {tuple(e) for e in errors} == {("loc", "msg", "type")}
    assert {e["type"] for e in errors} == {"missing", "int_parsing", "extra_forbidden"}
    json.dumps(error.model_dump())  # crosses the durable boundary as JSON
    assert outcome.attempts == 0


async def test_tool_call_error_keeps_its_code_message_and_hint() -> None:
    """A ``ToolCallError`` raised by the tool is shown to the model as it was raised."""

    @tool
    async def charge(amount: int) -> str:
        """Charge a card."""
        raise ToolCallError("card declined", hint="ask for another card", error_code="declined")

    outcome = await run(charge, {"amount": 5})
    assert error_of(outcome) == ToolError(
        error_code="declined", message="card declined", retryable=False, hint="ask for another card"
    )
    assert outcome.attempts == 1


async def test_other_exceptions_are_permanent_tool_errors() -> None:
    """Any other exception becomes ``tool_error`` with ``ExcType: message``, not retried."""

    @tool(retry=RetryPolicy(max_attempts=5))
    def divide(a: int, b: int) -> float:
        """Divide a by b."""
        return a / b

    outcome = await run(divide, {"a": 1, "b": 0})
    error = error_of(outcome)
    assert error.error_code == "tool_error"
    assert error.message == "ZeroDivisionError: division by zero"
    assert error.retryable is False
    assert outcome.attempts == 1


async def test_transient_errors_are_retried_with_backoff_until_success() -> None:
    """Retryable failures are retried; each retried failure is reported and backed off."""
    calls: list[int] = []

    @tool(retry=RetryPolicy(max_attempts=4, initial_delay=0.1, multiplier=2.0, jitter=False))
    async def flaky() -> str:
        """Fail twice, then succeed."""
        calls.append(1)
        if len(calls) == 1:
            raise TransientToolError("503 from upstream")
        if len(calls) == 2:
            raise ConnectionError("reset by peer")
        return "ok"

    failed: list[tuple[ToolError, int, float]] = []
    sleep = SleepRecorder()
    outcome = await run(
        flaky, sleep=sleep, on_attempt_failed=lambda e, n, ms: failed.append((e, n, ms))
    )
    assert outcome.ok and outcome.result == "ok"
    assert outcome.attempts == 3
    assert sleep.delays == [0.1, 0.2]
    assert [(e.error_code, e.retryable, n) for e, n, _ in failed] == [
        ("transient", True, 1),
        ("transient", True, 2),
    ]
    assert failed[1][0].message == "ConnectionError: reset by peer"
    assert all(ms >= 0 for _, _, ms in failed)


async def test_retries_stop_at_max_attempts_and_report_last_error() -> None:
    """After ``max_attempts`` the last error is returned; the final failure is not 'retried'."""
    policy = RetryPolicy(max_attempts=3, initial_delay=0.2, max_delay=0.3)

    @tool(retry=policy)
    async def down() -> str:
        """Always unavailable."""
        raise TransientToolError("still down")

    failed: list[int] = []
    sleep = SleepRecorder()
    outcome = await run(
        down, sleep=sleep, rng=random.Random(1), on_attempt_failed=lambda e, n, ms: failed.append(n)
    )
    error = error_of(outcome)
    assert (error.error_code, error.retryable, error.message) == ("transient", True, "still down")
    assert outcome.attempts == 3
    assert failed == [1, 2]
    assert len(sleep.delays) == 2
    # Full jitter: each delay lies in [0, cap] for its attempt.
    assert 0.0 <= sleep.delays[0] <= 0.2
    assert 0.0 <= sleep.delays[1] <= 0.3


async def test_each_attempt_gets_new_context_with_same_idempotency_key() -> None:
    """``ctx.attempt`` counts attempts while ``idempotency_key`` never changes."""
    seen: list[ToolContext] = []

    @tool(effect="write", idempotent=True)
    async def transfer(amount: int, ctx: ToolContext) -> str:
        """Move money."""
        seen.append(ctx)
        if len(seen) < 3:
            raise ConnectionError("flaky network")
        return "done"

    outcome = await run(transfer, {"amount": 10})
    assert outcome.ok and outcome.attempts == 3
    assert [c.attempt for c in seen] == [1, 2, 3]
    assert {c.idempotency_key for c in seen} == {"run-1:3:call-1"}
    assert {(c.run_id, c.call_id, c.step) for c in seen} == {("run-1", "call-1", 3)}


async def test_hanging_async_tool_times_out_as_retryable_timeout() -> None:
    """An async tool past its ``timeout`` is cancelled and reported as ``timeout``."""
    cleaned_up = asyncio.Event()

    @tool(timeout=0.05, retry=NO_RETRY)
    async def hang() -> str:
        """Never returns."""
        try:
            await asyncio.Event().wait()
        finally:
            cleaned_up.set()
        return "unreachable"

    outcome = await run(hang)
    error = error_of(outcome)
    assert error.error_code == "timeout"
    assert error.retryable is True
    assert "0.05s" in error.message
    assert cleaned_up.is_set()  # the tool saw the cancellation


async def test_hanging_sync_tool_times_out_without_blocking() -> None:
    """A sync tool past its ``timeout`` is abandoned (threads cannot be killed) and reported."""
    release = threading.Event()

    @tool(timeout=0.05, retry=NO_RETRY)
    def hang_sync() -> str:
        """Blocks until released."""
        release.wait(5)
        return "late"

    try:
        outcome = await run(hang_sync)
    finally:
        release.set()
    assert error_of(outcome).error_code == "timeout"
    assert outcome.attempts == 1


async def test_timeouts_are_retried_for_reads() -> None:
    """A read tool that timed out is tried again per its retry policy."""
    attempts: list[int] = []

    @tool(timeout=0.05, retry=RetryPolicy(max_attempts=2))
    async def slow_first(ctx: ToolContext) -> int:
        """Slow only on the first attempt."""
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            await asyncio.sleep(10)
        return ctx.attempt

    outcome = await run(slow_first)
    assert outcome.ok and outcome.result == 2
    assert attempts == [1, 2]


@pytest.mark.parametrize("suspend_first", [False, True])
async def test_tool_raising_timeout_error_is_a_retryable_timeout(suspend_first: bool) -> None:
    """A ``TimeoutError`` from inside the tool (its own client gave up) is a ``timeout``.

    Checked both before and after the tool first suspends (when the deadline is armed).
    """

    @tool(retry=NO_RETRY)
    async def upstream() -> str:
        """Calls a slow upstream."""
        if suspend_first:
            await asyncio.sleep(0)
        raise TimeoutError("upstream read timed out")

    error = error_of(await run(upstream))
    assert error.error_code == "timeout"
    assert error.retryable is True
    assert error.message == "TimeoutError: upstream read timed out"


async def test_non_idempotent_write_with_unknown_outcome_is_not_retried() -> None:
    """A write that timed out may have happened: no automatic retry, flagged uncertain."""
    calls: list[int] = []

    @tool(effect="write", timeout=0.05)
    async def post_payment() -> str:
        """Post a payment."""
        calls.append(1)
        await asyncio.sleep(10)
        return "posted"

    outcome = await run(post_payment)
    error = error_of(outcome)
    assert error.error_code == "timeout"
    assert error.retryable is False
    assert error.details is not None and error.details["uncertain_write"] is True
    assert calls == [1]


async def test_non_idempotent_write_retries_explicit_transient_errors() -> None:
    """A write that raised ``TransientToolError`` vouches it did nothing, so it is retried."""
    calls: list[int] = []

    @tool(effect="write")
    async def book() -> str:
        """Book a slot."""
        calls.append(1)
        if len(calls) == 1:
            raise TransientToolError("lock contention")
        return "booked"

    outcome = await run(book)
    assert outcome.ok and outcome.attempts == 2


class Receipt(BaseModel):
    """A pydantic result."""

    total: float
    at: datetime.datetime


@dataclasses.dataclass
class Point:
    """A dataclass result."""

    x: int
    y: int


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Receipt(total=1.5, at=datetime.datetime(2024, 1, 2, 3, 4, 5)), {
            "total": 1.5, "at": "2024-01-02T03:04:05"}),
        (Point(1, 2), {"x": 1, "y": 2}),
        (datetime.date(2024, 1, 2), "2024-01-02"),
        ((1, "a"), [1, "a"]),
        ({"nested": (Point(0, 1),)}, {"nested": [{"x": 0, "y": 1}]}),
        ({1: "one", "two": 2}, {"1": "one", "two": 2}),
    ],
)  # fmt: skip
async def test_rich_results_are_converted_to_json(value: Any, expected: Any) -> None:
    """Pydantic models, dataclasses, datetimes and tuples become plain JSON values."""

    @tool
    async def produce() -> Any:
        """Return a rich value."""
        return value

    outcome = await run(produce)
    assert outcome.ok and outcome.result == expected
    assert json.loads(json.dumps(outcome.result, allow_nan=False)) == expected


async def test_plain_json_result_is_passed_through_without_copy() -> None:
    """An already-JSON result is returned as the same object (no copying on the hot path)."""
    value = {"a": [1, 2.5, None, True, {"b": "c"}]}

    @tool
    async def produce() -> Any:
        """Return plain JSON."""
        return value

    assert (await run(produce)).result is value


def _cycle() -> list[Any]:
    items: list[Any] = []
    items.append(items)
    return items


@pytest.mark.parametrize(
    "value",
    [b"raw", {"blob": bytearray(b"x")}, math.nan, [1.0, math.inf], object(), _cycle(),
     {(1, 2): "tuple key"}],
)  # fmt: skip
async def test_unserializable_results_are_permanent_errors(value: Any) -> None:
    """Bytes, NaN/inf, arbitrary objects, cycles and odd keys yield ``unserializable_result``."""

    @tool(retry=RetryPolicy(max_attempts=3))
    async def produce() -> Any:
        """Return something bad."""
        return value

    outcome = await run(produce)
    error = error_of(outcome)
    assert error.error_code == "unserializable_result"
    assert error.retryable is False
    assert outcome.attempts == 1


async def test_cancellation_propagates_instead_of_becoming_an_outcome() -> None:
    """Cancelling the caller cancels the tool and raises ``CancelledError``."""
    started = asyncio.Event()

    @tool
    async def wait_forever() -> str:
        """Wait."""
        started.set()
        await asyncio.Event().wait()
        return "never"

    task = asyncio.create_task(run(wait_forever))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_sync_tools_do_not_block_the_event_loop() -> None:
    """A sync tool blocked on work the loop must do completes: it runs off the loop."""
    unblocked = threading.Event()

    @tool(timeout=5, retry=NO_RETRY)
    def wait_for_loop() -> bool:
        """Blocks until a coroutine on the loop releases it."""
        return unblocked.wait(5)

    async def release_soon() -> None:
        await asyncio.sleep(0.01)
        unblocked.set()

    outcome, _ = await asyncio.gather(run(wait_for_loop), release_soon())
    assert outcome.ok and outcome.result is True


async def test_execute_tool_calls_runs_concurrently_and_keeps_order() -> None:
    """Both tools are in flight at once (peak concurrency counted); outcomes follow call order."""
    running = 0
    peak = 0
    both_in = asyncio.Event()

    @tool
    async def nap(label: str, seconds: float) -> str:
        """Wait until both naps have started, then echo the label."""
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 2:
            both_in.set()
        await asyncio.wait_for(both_in.wait(), timeout=5)
        await asyncio.sleep(seconds)
        running -= 1
        return label

    calls = [
        ToolCall(id="a", name="nap", arguments={"label": "slow", "seconds": 0.02}),
        ToolCall(id="b", name="nap", arguments={"label": "fast", "seconds": 0.0}),
        ToolCall(id="c", name="nope"),
    ]
    contexts: list[tuple[str, int]] = []

    def ctx_factory(call: ToolCall, index: int) -> ToolContext:
        contexts.append((call.id, index))
        return make_ctx(call.id, call.name)

    outcomes = await execute_tool_calls(calls, {"nap": nap}, ctx_factory)
    assert peak == 2
    assert [(o.call_id, o.ok, o.result) for o in outcomes] == [
        ("a", True, "slow"),
        ("b", True, "fast"),
        ("c", False, None),
    ]
    assert contexts == [("a", 0), ("b", 1), ("c", 2)]


async def test_execute_tool_calls_reports_failed_attempts_with_their_call() -> None:
    """The batch hook receives the call, so concurrent retries can be told apart."""
    attempts: dict[str, int] = {}

    @tool(retry=RetryPolicy(max_attempts=2))
    async def once_flaky(key: str) -> str:
        """Fail the first attempt per key."""
        attempts[key] = attempts.get(key, 0) + 1
        if attempts[key] == 1:
            raise TransientToolError("blip")
        return key

    calls = [ToolCall(id=k, name="once_flaky", arguments={"key": k}) for k in ("x", "y")]
    failed: list[tuple[str, int]] = []
    outcomes = await execute_tool_calls(
        calls,
        {"once_flaky": once_flaky},
        lambda call, i: make_ctx(call.id, call.name),
        on_attempt_failed=lambda call, error, n, ms: failed.append((call.id, n)),
        sleep=SleepRecorder(),
    )
    assert [o.result for o in outcomes] == ["x", "y"]
    assert sorted(failed) == [("x", 1), ("y", 1)]


async def test_single_call_batch_and_empty_batch() -> None:
    """A batch of one returns one outcome; an empty batch returns none."""
    one = await execute_tool_calls(
        [ToolCall(id="a", name="get_time", arguments={"zone": "UTC"})],
        REGISTRY,
        lambda call, i: make_ctx(call.id, call.name),
    )
    assert [(o.ok, o.result) for o in one] == [(True, "12:00")]
    assert await execute_tool_calls([], REGISTRY, lambda call, i: make_ctx()) == []


# -- bad input never kills a run: deep nesting, endless results, oversized results ------------


def _nested_dict(depth: int, leaf: Any = 1) -> Any:
    """``{"a": {"a": ... leaf}}`` with ``depth`` dicts, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def _nested_list(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@tool(retry=NO_RETRY)
def take_anything(payload: Any = None) -> str:
    """Accept any JSON value."""
    return "ran"


@pytest.mark.parametrize("payload", [_nested_dict(600), _nested_list(600), _nested_dict(100_000)])
async def test_arguments_nested_600_deep_become_invalid_arguments_error(payload: Any) -> None:
    """Arguments nested past ``MAX_ARGUMENT_DEPTH`` are refused before validation, unrun."""
    outcome = await run(take_anything, {"payload": payload})
    error = error_of(outcome)
    assert error.error_code == "invalid_arguments"
    assert "nested deeper than 64 levels" in error.message
    assert error.hint is not None and "payload" in error.hint
    assert outcome.attempts == 0


async def test_arguments_at_the_depth_limit_are_accepted() -> None:
    """63 levels under the arguments object (64 in all) still reach the tool."""
    outcome = await run(take_anything, {"payload": _nested_dict(63)})
    assert outcome.ok and outcome.result == "ran"


async def test_argument_text_nested_1000_deep_explains_the_depth_limit() -> None:
    """Unparseable argument text that is too deep says so instead of "not a JSON object"."""
    raw = '{"payload": ' + "[" * 1000 + "]" * 1000 + "}"
    call = ToolCall(id="call-1", name="take_anything", invalid_arguments=raw)
    outcome = await execute_tool_call(call, {"take_anything": take_anything}, make_ctx())
    error = error_of(outcome)
    assert error.error_code == "invalid_arguments"
    assert "nested deeper than 64 levels" in error.message


async def test_recursive_model_arguments_nested_too_deep_are_refused() -> None:
    """A self-referencing argument type cannot be used to make validation recurse 1000 deep."""

    class Node(BaseModel):
        child: "Node | None" = None

    Node.model_rebuild()

    @tool(retry=NO_RETRY)
    def walk(node: Node) -> int:
        """Walk a tree."""
        return 0

    deep: Any = None
    for _ in range(1000):
        deep = {"child": deep}
    error = error_of(await run(walk, {"node": deep}))
    assert error.error_code == "invalid_arguments"


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize("value", [_nested_dict(600), _nested_list(600)])
async def test_result_nested_600_deep_becomes_structured_error(is_async: bool, value: Any) -> None:
    """A result nested past ``MAX_RESULT_DEPTH`` is an error, not a ``RecursionError``."""

    def produce() -> Any:
        """Return deep data."""
        return value

    async def produce_async() -> Any:
        """Return deep data."""
        return value

    contract = tool(produce_async if is_async else produce, name="produce", retry=NO_RETRY)
    error = error_of(await run(contract))
    assert error.error_code == "unserializable_result"
    assert "nested deeper than 100 levels" in error.message


async def test_result_at_the_depth_limit_is_accepted() -> None:
    """A result of exactly 100 levels is kept whole."""

    @tool
    async def produce() -> Any:
        """Return data 100 levels deep."""
        return _nested_dict(100)

    outcome = await run(produce)
    assert outcome.ok and outcome.result == _nested_dict(100)


def _endless() -> Any:
    n = 0
    while True:
        n += 1
        yield {"n": n}


@pytest.mark.parametrize("is_async", [False, True])
async def test_infinite_generator_result_becomes_result_too_large(is_async: bool) -> None:
    """An endless generator is consumed only up to the byte cap, then reported."""

    def produce() -> Any:
        """Return an endless generator."""
        return _endless()

    async def produce_async() -> Any:
        """Return an endless generator."""
        return _endless()

    contract = tool(
        produce_async if is_async else produce,
        name="produce",
        retry=RetryPolicy(max_attempts=3),
        max_result_bytes=10_000,
    )
    outcome = await run(contract)
    error = error_of(outcome)
    assert error.error_code == "result_too_large"
    assert error.retryable is False and outcome.attempts == 1
    assert error.hint is not None and "less" in error.hint
    assert error.details == {"limit": "bytes", "max": 10_000}


async def test_huge_iterator_result_stops_at_the_default_cap() -> None:
    """``range(10**12)`` or a 10-million item ``repeat`` is refused, not materialized."""

    @tool(retry=NO_RETRY)
    def produce(kind: str) -> Any:
        """Return a huge iterable."""
        return range(10**12) if kind == "range" else itertools.repeat("item", 10_000_000)

    for kind in ("range", "repeat"):
        error = error_of(await run(produce, {"kind": kind}))
        assert error.error_code == "result_too_large"
        assert error.details == {"limit": "bytes", "max": 1_000_000}


async def test_finite_generator_and_set_results_become_lists() -> None:
    """Iterators within the cap are still converted, item by item."""

    @tool
    async def produce() -> Any:
        """Return lazy values."""
        return {"squares": (n * n for n in range(4)), "tags": {"a"}, "span": range(3)}

    outcome = await run(produce)
    assert outcome.ok
    assert outcome.result == {"squares": [0, 1, 4, 9], "tags": ["a"], "span": [0, 1, 2]}


async def test_slow_generator_of_sync_tool_is_cut_by_its_timeout() -> None:
    """Consuming a generator is part of the attempt: it is bounded by the tool's timeout,
    and the worker thread stops consuming soon after the deadline instead of running on."""
    produced: list[int] = []

    def trickle() -> Any:
        n = 0
        while True:
            time.sleep(0.0001)
            produced.append(n)
            n += 1
            yield n

    @tool(timeout=0.2, retry=NO_RETRY)
    def produce() -> Any:
        """Return a slow endless generator."""
        return trickle()

    error = error_of(await run(produce))
    assert error.error_code == "timeout"
    await asyncio.sleep(0.5)
    settled = len(produced)
    await asyncio.sleep(0.2)
    assert len(produced) == settled  # the thread has stopped pulling items


@pytest.mark.parametrize(
    "value",
    ["x" * 5_000_000, ["y" * 1000] * 5000, {f"k{i}": "v" * 100 for i in range(20_000)}],
    ids=["5mb-string", "list", "dict"],
)
async def test_result_over_the_size_cap_becomes_result_too_large(value: Any) -> None:
    """A result whose JSON passes 1 MB is an error with a hint; nothing is truncated."""

    @tool(retry=NO_RETRY)
    async def produce() -> Any:
        """Return too much."""
        return value

    error = error_of(await run(produce))
    assert error.error_code == "result_too_large"
    assert "1,000,000 bytes" in error.message
    assert error.hint is not None


async def test_max_result_bytes_of_the_contract_sets_the_cap() -> None:
    """``@tool(max_result_bytes=...)`` lowers (or raises) the cap for one tool."""

    @tool(max_result_bytes=100, retry=NO_RETRY)
    def small(n: int) -> str:
        """Return n characters."""
        return "z" * n

    assert (await run(small, {"n": 50})).ok
    error = error_of(await run(small, {"n": 500}))
    assert error.error_code == "result_too_large"
    assert error.details == {"limit": "bytes", "max": 100}

    @tool(max_result_bytes=10_000_000, retry=NO_RETRY)
    def big() -> str:
        """Return 5 MB."""
        return "z" * 5_000_000

    assert (await run(big)).ok


async def test_integer_too_long_for_json_text_is_unserializable() -> None:
    """An int json.dumps would refuse (over 4300 digits) is caught here, not at persistence."""

    @tool(retry=NO_RETRY)
    async def produce() -> Any:
        """Return a huge number."""
        return {"n": 10**10_000}

    error = error_of(await run(produce))
    assert error.error_code == "unserializable_result"
