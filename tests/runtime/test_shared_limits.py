"""Rate limits shared by every worker on a store: model RPM/TPM and tool calls, fleet-wide.

The buckets live in the store (``Store.take_tokens``), so two processes draw from the
same ones. The pacer and the guard are first tested against a real store in this
process (two pacers or two guards stand for two workers; a fake sleep records the
waits the store hands out), then with real worker processes: two of them drive runs
whose model calls are limited fleet-wide, and every model call's time is recorded; the
calls in any window never exceed what one bucket allows. Nothing asserts a duration:
deadlines only bound a hung test.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tether import Runtime
from tether.exceptions import StoreError
from tether.models import Usage
from tether.policy import Policy, ToolGuard
from tether.policy._guards import STORE_RETRY as GUARD_STORE_RETRY
from tether.runtime import ModelLimit
from tether.runtime._limits import STORE_RETRY, ModelPacer
from tether.store import Store, TokenGrant, TokenTake, open_store
from tether.tools import RateLimit, tool

sys.path.insert(0, str(Path(__file__).parent))
import _limited_worker

WORKER = Path(_limited_worker.__file__)
DEADLINE = 120.0  # bounds a hung test only


class Sleeps:
    """A fake sleep that records what it was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def _opened(url: str) -> Store:
    store = open_store(url)
    await store.open()
    return store


class DownStore:
    """Token buckets whose store cannot be reached."""

    def __init__(self) -> None:
        self.calls = 0

    async def take_tokens(
        self, takes: Sequence[TokenTake], *, now: float | None = None
    ) -> TokenGrant:
        self.calls += 1
        raise StoreError("postgres: connection refused", transient=True)


class FlakyStore:
    """A real store's token buckets, unreachable while ``down`` is set."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down = False
        self.takes = 0

    async def take_tokens(
        self, takes: Sequence[TokenTake], *, now: float | None = None
    ) -> TokenGrant:
        self.takes += 1
        if self.down:
            raise StoreError("postgres: the connection was lost", transient=True)
        return await self.store.take_tokens(takes, now=now)


# -- model limits through the store ----------------------------------------------------------


async def test_two_pacers_on_one_store_share_the_request_bucket(any_store_url: str) -> None:
    """A burst of 2 per minute: one worker's two calls go at once, the other's call waits
    about the minute the shared bucket needs to refill (a process-local bucket would let
    it go at once)."""
    limits = {"openai": ModelLimit(requests_per_minute=1, requests_burst=2)}
    store_a, store_b = await _opened(any_store_url), await _opened(any_store_url)
    sleeps_a, sleeps_b = Sleeps(), Sleeps()
    a = ModelPacer(limits, buckets=store_a, sleep=sleeps_a)
    b = ModelPacer(limits, buckets=store_b, sleep=sleeps_b)
    try:
        await a.before("openai:gpt-4o")
        await a.before("openai:gpt-4o-mini")  # the provider's limit: the same bucket
        await b.before("openai:gpt-4o")
        await b.before("openai:gpt-4o")  # queued behind the first reservation
    finally:
        await store_a.close()
        await store_b.close()
    assert sleeps_a.waits == []
    first, second = sleeps_b.waits
    assert 50 < first <= 60  # a minute less the moments the test took
    assert 110 < second <= 120


async def test_a_reply_s_tokens_are_a_debt_every_worker_waits_out(any_store_url: str) -> None:
    """600 tokens a minute: a 1,000-token reply in one worker makes the next call in
    another wait until the shared bucket is out of debt (400 tokens at 10 a second)."""
    limits = {"anthropic": ModelLimit(tokens_per_minute=600)}
    store_a, store_b = await _opened(any_store_url), await _opened(any_store_url)
    sleeps_b = Sleeps()
    a = ModelPacer(limits, buckets=store_a, sleep=Sleeps())
    b = ModelPacer(limits, buckets=store_b, sleep=sleeps_b)
    try:
        await a.before("anthropic:claude")
        a.after("anthropic:claude", Usage(input_tokens=900, output_tokens=100))
        assert a._paying is not None
        await a._paying  # paid in the background, off the call's path
        await b.before("anthropic:claude")
    finally:
        await store_a.close()
        await store_b.close()
    (wait,) = sleeps_b.waits
    assert 35 < wait <= 40


async def test_an_unpaid_debt_rides_with_the_next_call(any_store_url: str) -> None:
    """A reply's tokens the store could not be told of (it went down after the call
    began) stay with the pacer, and the next call's single round trip carries them once
    the store answers again."""
    limits = {"anthropic": ModelLimit(tokens_per_minute=600)}
    store = await _opened(any_store_url)
    flaky = FlakyStore(store)
    sleeps = Sleeps()
    now = [0.0]
    pacer = ModelPacer(limits, buckets=flaky, clock=lambda: now[0], sleep=sleeps)
    try:
        await pacer.before("anthropic:claude")
        flaky.down = True
        pacer.after("anthropic:claude", Usage(input_tokens=1200, output_tokens=0))
        assert pacer._paying is not None
        await pacer._paying  # fails: the debt stays with the pacer
        flaky.down = False
        now[0] += STORE_RETRY
        await pacer.before("anthropic:claude")  # pays 1,200: 600 tokens of debt
        other = ModelPacer(limits, buckets=store, sleep=sleeps)
        await other.before("anthropic:claude")
    finally:
        await store.close()
    assert flaky.takes == 3  # before, the failed payment, before carrying the debt
    assert len(sleeps.waits) == 2
    assert all(55 < wait <= 60 for wait in sleeps.waits)


async def test_a_store_that_is_down_paces_calls_in_the_process_and_never_fails_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Fail open to the process: with the store unreachable, a shared limit paces calls
    with this process's own bucket; the store is tried again only every ``STORE_RETRY``
    seconds (an outage does not cost each call a timeout); logged once, no call raises."""
    now = [0.0]
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    down = DownStore()
    limits = {"openai": ModelLimit(requests_per_minute=60, requests_burst=1)}
    pacer = ModelPacer(limits, buckets=down, clock=lambda: now[0], sleep=sleep)
    with caplog.at_level(logging.WARNING, logger="tether.runtime"):
        for _ in range(3):
            await pacer.before("openai:gpt-4o")
        assert down.calls == 1  # the first call found the store down; the others did not ask
        assert sleeps == [pytest.approx(1.0), pytest.approx(1.0)]  # one a second, in-process
        now[0] += STORE_RETRY
        await pacer.before("openai:gpt-4o")
        assert down.calls == 2  # tried again, still down: paced here
    warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(warnings) == 1


async def test_a_per_process_limit_never_touches_the_store() -> None:
    """``ModelLimit(shared=False)`` keeps its buckets in the process."""
    down = DownStore()
    pacer = ModelPacer(
        {"openai": ModelLimit(requests_per_minute=60, shared=False)}, buckets=down, sleep=Sleeps()
    )
    await pacer.before("openai:gpt-4o")
    pacer.after("openai:gpt-4o", Usage(input_tokens=5, output_tokens=5))
    assert down.calls == 0


def test_a_runtime_shares_its_store_with_the_pacer_and_the_guard(store_url: str) -> None:
    """``Runtime(model_limits=...)`` paces through the store; its tool guard uses it too."""
    rt = Runtime(store_url, model_limits={"openai": ModelLimit(requests_per_minute=60)})
    pacing = rt.governance.model_pacing
    assert isinstance(pacing, ModelPacer) and pacing._shared is rt.store
    assert rt.governance.guard.buckets is rt.store
    own = ToolGuard(buckets=DownStore())
    assert Runtime(store_url, tool_guard=own).governance.guard.buckets is own.buckets


# -- tool rate limits through the store --------------------------------------------------------


@tool(rate_limit=RateLimit(calls=2, per=3600))
def crm_lookup(customer: str) -> str:
    """Look a customer up in the CRM."""
    return customer


@tool(rate_limit=RateLimit(calls=2, per=3600, shared=False))
def local_lookup(customer: str) -> str:
    """Look a customer up in a per-process cache."""
    return customer


async def test_two_guards_on_one_store_share_a_tool_s_bucket(any_store_url: str) -> None:
    """Two calls an hour for the fleet: the second guard's second call is refused with
    the shared bucket's retry_after; a ``shared=False`` limit counts per guard."""
    store_a, store_b = await _opened(any_store_url), await _opened(any_store_url)
    a, b = ToolGuard(buckets=store_a), ToolGuard(buckets=store_b)
    try:
        assert (await a.acquire(crm_lookup, policy=None, tenant=None)).error is None
        assert (await b.acquire(crm_lookup, policy=None, tenant=None)).error is None
        refused = (await b.acquire(crm_lookup, policy=None, tenant=None)).error
        for guard in (a, b):  # per process: each guard has its own two
            for _ in range(2):
                assert (await guard.acquire(local_lookup, policy=None, tenant=None)).error is None
            assert (await guard.acquire(local_lookup, policy=None, tenant=None)).error is not None
    finally:
        await store_a.close()
        await store_b.close()
    assert refused is not None and refused.error_code == "rate_limited"
    assert refused.details is not None and refused.details["scope"] == "tool"
    assert 1700 < refused.details["retry_after"] <= 1800  # half an hour for the next token


async def test_a_call_refused_by_one_shared_bucket_takes_from_none(any_store_url: str) -> None:
    """The tool's and the tenant's shared buckets are taken together or not at all: a call
    over its tenant's limit leaves the tool's token for another tenant."""
    policy = Policy(tenant_rate_limit=RateLimit(calls=1, per=3600))
    store = await _opened(any_store_url)
    guard = ToolGuard(buckets=store)
    try:
        assert (await guard.acquire(crm_lookup, policy=policy, tenant="acme")).error is None
        refused = (await guard.acquire(crm_lookup, policy=policy, tenant="acme")).error
        assert (await guard.acquire(crm_lookup, policy=policy, tenant="globex")).error is None
        spent = (await guard.acquire(crm_lookup, policy=policy, tenant="initech")).error
    finally:
        await store.close()
    assert refused is not None and refused.details is not None
    assert refused.details["scope"] == "tenant"
    assert spent is not None and spent.details is not None and spent.details["scope"] == "tool"


async def test_a_shared_call_waits_for_its_reserved_token_within_max_wait(
    any_store_url: str,
) -> None:
    """Over the limit but within ``max_wait``: the store reserves the token and the verdict
    says how long to wait; beyond it the call is refused and nothing is reserved."""

    @tool(name="slow_api", rate_limit=RateLimit(calls=1, per=10, max_wait=15))
    def slow_api() -> str:
        """Call a slow API."""
        return "ok"

    store = await _opened(any_store_url)
    guard = ToolGuard(buckets=store)
    try:
        verdicts = [await guard.acquire(slow_api, policy=None, tenant=None) for _ in range(3)]
    finally:
        await store.close()
    first, second, third = verdicts
    assert first.error is None and first.wait == 0
    assert second.error is None and 5 < second.wait <= 10
    assert third.error is not None and 15 < third.error.details["retry_after"] <= 20  # type: ignore[index]


async def test_a_guard_whose_store_is_down_limits_in_the_process(
    any_store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Fail open to the process: shared limits count in the guard's own buckets, and the
    store is asked again ``STORE_RETRY`` seconds after it failed."""
    now = [100.0]
    down = DownStore()
    guard = ToolGuard(buckets=down, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="tether.policy"):
        outcomes = [await guard.acquire(crm_lookup, policy=None, tenant=None) for _ in range(3)]
    assert [v.error is None for v in outcomes] == [True, True, False]
    assert down.calls == 1
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1
    store = await _opened(any_store_url)
    try:
        guard.buckets = store  # the store is back
        now[0] += GUARD_STORE_RETRY
        assert (await guard.acquire(crm_lookup, policy=None, tenant=None)).error is None
        bucket = "tool:crm_lookup:2/3600s:2"
        both = await store.take_tokens([TokenTake(bucket, 2, rate=2 / 3600, capacity=2)])
    finally:
        await store.close()
    assert not both.taken  # the call took one of the shared bucket's two tokens


# -- real worker processes -------------------------------------------------------------------


def _start_worker(mode: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), mode, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
    )


def _finish(procs: Sequence[subprocess.Popen[str]]) -> list[str]:
    """Wait for the processes; each one's output (a failure shows their stderr)."""
    # Every process is waited for (and its pipes closed) before any verdict, so a failure
    # leaves no process or pipe behind for a later test to trip over.
    done: list[tuple[subprocess.Popen[str], str, str, bool]] = []
    for proc in procs:
        hung = False
        try:
            out, err = proc.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            hung = True
        done.append((proc, out, err, hung))
    for proc, _, err, hung in done:
        if hung:
            pytest.fail(f"a worker hung:\n{err}")
        assert proc.returncode == 0, err
    return [out for _, out, _, _ in done]


def _statuses(store_url: str) -> list[str]:
    async def read() -> list[str]:
        store = await _opened(store_url)
        try:
            return [r.status for r in await store.list_runs(limit=1000)]
        finally:
            await store.close()

    return asyncio.run(read())


def test_a_model_rate_limit_holds_across_two_worker_processes(
    any_store_url: str, tmp_path: Path
) -> None:
    """Two workers drive 24 runs whose model calls are limited to 5 a second with bursts
    of 3, fleet-wide. In every window between two recorded calls there are at most
    ``burst + rate * window`` calls (plus 0.2 s of slack for the time between a token
    falling due and the model recording its call); both workers made calls. Two
    per-process buckets would allow twice the rate and twice the burst."""
    ledger = tmp_path / "calls.log"
    runs = 24
    procs = [_start_worker("model", any_store_url, str(ledger)) for _ in range(2)]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("ready "), proc.stderr.read() if proc.stderr else line

        async def start_runs() -> None:
            async with Runtime(any_store_url, worker=False) as client:
                for i in range(runs):
                    await client.start(_limited_worker.paced, f"run {i}")

        asyncio.run(start_runs())
        deadline = time.monotonic() + DEADLINE
        while _statuses(any_store_url).count("completed") < runs:
            assert time.monotonic() < deadline, "the runs did not finish"
            assert all(p.poll() is None for p in procs), "a worker died"
            time.sleep(0.2)
    finally:
        _finish(procs)  # closes their stdin: they stop
    calls = [line.split() for line in ledger.read_text().splitlines()]
    assert len(calls) == runs
    assert len({pid for pid, _ in calls}) == 2, "both workers made model calls"
    times = sorted(float(at) for _, at in calls)
    rate, burst, slack = _limited_worker.RATE, _limited_worker.BURST, 0.2
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            window = times[j] - start
            assert j - i + 1 <= burst + rate * (window + slack), (
                f"{j - i + 1} calls in {window:.3f}s: more than the bucket allows"
            )


def test_a_tool_rate_limit_holds_across_two_processes(any_store_url: str) -> None:
    """Two calls an hour for the fleet: two processes make three calls each, and exactly
    two calls in all go through; the other four are refused as ``rate_limited``."""
    procs = [_start_worker("tool", any_store_url, "3") for _ in range(2)]
    outcomes = [json.loads(out.strip().splitlines()[-1]) for out in _finish(procs)]
    assert [len(o) for o in outcomes] == [3, 3]
    flat = [code for o in outcomes for code in o]
    assert sorted(flat) == ["ok"] * 2 + ["rate_limited"] * 4
