"""Runs become OpenTelemetry spans after the GenAI conventions, one trace per run.

Real agents on a real SQLite store; spans go to the SDK's in-memory exporter through
a ``TracerProvider`` passed explicitly (the global provider is never set here).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tether import Agent, RetryPolicy, Runtime, tool
from tether.exceptions import MissingExtraError, ModelError, UserError
from tether.models import ModelRequest, ModelResponse, StreamDelta, ToolCall, Usage
from tether.observe import (
    CAPTURE_CONTENT_ENV,
    Tracing,
    attach_span,
    detach_tool_trace,
    enable_tracing,
    format_traceparent,
    model_span_id,
    propagation_active,
    run_span_id,
    run_trace_id,
    tool_call_key,
    tool_traceparent,
    tracing_requested,
)
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import ToolCallError, ToolContext

SECRET = "sk-" + "proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
)
MODEL_ID = "openai:gpt-4o@http://llm.internal:8080/v1"
WORKER = Path(__file__).with_name("_otel_worker.py")
SRC = Path(__file__).resolve().parents[2] / "src"


class Exported:
    """A provider with an in-memory exporter, and ways to find what it got."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    @property
    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        [span] = self.named(name)
        return span


@pytest.fixture
def otel() -> Iterator[Exported]:
    exported = Exported()
    yield exported
    exported.provider.shutdown()


@pytest.fixture
def tracings() -> Iterator[list[Tracing]]:
    """Tracing observers made by a test, closed after it (propagation is process-wide)."""
    made: list[Tracing] = []
    yield made
    for tracing in made:
        tracing.close()
    assert not propagation_active()


def traced(otel: Exported, tracings: list[Tracing], **kwargs: Any) -> Tracing:
    tracing = Tracing(otel.provider, **kwargs)
    tracings.append(tracing)
    return tracing


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def all_attribute_text(spans: list[ReadableSpan]) -> str:
    texts = []
    for span in spans:
        texts.extend(str(v) for v in (span.attributes or {}).values())
        for event in span.events:
            texts.extend(str(v) for v in (event.attributes or {}).values())
        texts.append(span.status.description or "")
    return "\n".join(texts)


@tool
def lookup(order_id: str) -> dict[str, str]:
    """Look an order up."""
    return {"order_id": order_id, "status": "shipped"}


@tool
def broken(order_id: str) -> str:
    """Always fails."""
    raise ToolCallError("the order service is down", error_code="service_down")


def reply(*calls: ToolCall, text_: str | None = None) -> ModelResponse:
    return ModelResponse(
        text=text_,
        tool_calls=list(calls),
        usage=Usage(input_tokens=120, output_tokens=9, cached_input_tokens=100),
        finish_reason="tool_calls" if calls else "stop",
    )


async def test_a_run_is_one_trace_of_genai_spans_under_its_run_span(
    store_url: str, otel: Exported, tracings: list[Tracing]
) -> None:
    """invoke_agent → chat, execute_tool, chat: names, kinds, attributes, parents, times."""
    tracing = traced(otel, tracings)
    agent = Agent(
        name="support",
        model=ScriptedModel(
            [reply(tool_call("lookup", order_id="A1")), reply(text_="A1 shipped")],
            model_id=MODEL_ID,
        ),
        tools=[lookup],
    )
    async with Runtime(store_url, observers=[tracing]) as rt:
        run = await rt.start(agent, "where is A1?", tenant="acme")
        result = await run.result(timeout=30)
    assert result.status == "completed"

    root = otel.one("invoke_agent support")
    chats = otel.named("chat gpt-4o")
    tool_span = otel.one("execute_tool lookup")
    assert len(chats) == 2 and len(otel.spans) == 4

    trace_id = run_trace_id(run.run_id)
    assert root.context is not None and root.context.trace_id == trace_id
    assert root.context.span_id == run_span_id(run.run_id)
    assert root.parent is None and root.kind is SpanKind.INTERNAL
    for child in (*chats, tool_span):
        assert child.context is not None and child.context.trace_id == trace_id
        assert child.parent is not None and child.parent.span_id == run_span_id(run.run_id)
        assert root.start_time is not None and child.start_time is not None
        assert root.end_time is not None and child.end_time is not None
        assert root.start_time <= child.start_time <= child.end_time <= root.end_time

    root_attrs = attrs(root)
    assert root_attrs.pop("tether.run.cost_usd") >= 0
    assert root_attrs == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "support",
        "gen_ai.conversation.id": run.run_id,
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 240,
        "gen_ai.usage.output_tokens": 18,
        "gen_ai.usage.cache_read.input_tokens": 200,
        "tether.run.id": run.run_id,
        "tether.run.status": "completed",
        "tether.run.model_calls": 2,
        "tether.run.tool_calls": 1,
        "tether.agent.version": agent.version,
        "tether.tenant": "acme",
    }
    first = attrs(min(chats, key=lambda s: s.start_time or 0))
    assert chats[0].kind is SpanKind.CLIENT
    assert first["gen_ai.operation.name"] == "chat"
    assert first["gen_ai.provider.name"] == "openai"
    assert first["gen_ai.request.model"] == "gpt-4o"
    assert first["gen_ai.usage.input_tokens"] == 120
    assert first["gen_ai.usage.output_tokens"] == 9
    assert first["gen_ai.usage.cache_read.input_tokens"] == 100
    assert first["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert (first["server.address"], first["server.port"]) == ("llm.internal", 8080)
    assert first["tether.model.id"] == MODEL_ID

    tool_attrs = attrs(tool_span)
    assert tool_span.kind is SpanKind.INTERNAL
    assert tool_attrs["gen_ai.operation.name"] == "execute_tool"
    assert tool_attrs["gen_ai.tool.name"] == "lookup"
    assert tool_attrs["gen_ai.tool.call.id"]
    assert tool_span.status.status_code is StatusCode.UNSET
    # Content is opt-in: none by default.
    for span in otel.spans:
        assert not set(CONTENT_KEYS) & set(attrs(span)), span.name


async def test_a_failing_tool_is_an_error_span_and_failed_model_attempts_are_too(
    store_url: str, otel: Exported, tracings: list[Tracing]
) -> None:
    tracing = traced(otel, tracings)

    class FlakyOnce(ScriptedModel):
        failed = False

        async def complete(self, request: ModelRequest) -> ModelResponse:
            if not self.failed:
                FlakyOnce.failed = True
                raise ModelError("slow down", error_code="rate_limited", retryable=True)
            return await super().complete(request)

        async def stream(self, request: ModelRequest) -> AsyncIterator[StreamDelta | ModelResponse]:
            yield await self.complete(request)

    agent = Agent(
        name="flaky",
        model=FlakyOnce([tool_call("broken", order_id="A1"), text("sorry")]),
        tools=[broken],
        model_retry=RetryPolicy(max_attempts=3, initial_delay=0.001, max_delay=0.002),
    )
    async with Runtime(store_url, observers=[tracing]) as rt:
        run = await rt.start(agent, "refund A1")
        assert (await run.result(timeout=30)).status == "completed"

    span = otel.one("execute_tool broken")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "the order service is down"
    assert attrs(span)["error.type"] == "service_down"
    failed = [s for s in otel.named("chat scripted") if s.status.status_code is StatusCode.ERROR]
    assert len(failed) == 1
    assert attrs(failed[0])["error.type"] == "rate_limited"
    assert attrs(failed[0])["gen_ai.provider.name"] == "tether.scripted"
    assert len(otel.named("chat scripted")) == 3  # the failed attempt and two replies
    assert otel.one("invoke_agent flaky").status.status_code is StatusCode.UNSET


@tool
def fetch_key(account: str) -> dict[str, str]:
    """Return an account's settings (including a credential it should not)."""
    return {"account": account, "api_key_hint": f"uses {SECRET} for billing"}


@tool(effect="write")
def set_password(user: str, password: str) -> str:
    """Change a password."""
    return f"changed for {user}"


async def test_content_is_captured_on_request_and_only_as_persisted(
    store_url: str, otel: Exported, tracings: list[Tracing], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Input, replies, arguments and results appear; a key or a password never does."""
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")
    tracing = traced(otel, tracings)
    assert tracing.capture_content
    password = "hunter2-Correct-Horse-9"
    agent = Agent(
        name="content",
        model=ScriptedModel(
            [
                tool_call("fetch_key", account="acme"),
                tool_call("set_password", user="ana", password=password),
                text("all done"),
            ]
        ),
        tools=[fetch_key, set_password],
    )
    async with Runtime(store_url, observers=[tracing]) as rt:
        run = await rt.start(agent, "rotate ana's password")
        assert (await run.result(timeout=30)).status == "completed"

    root = attrs(otel.one("invoke_agent content"))
    assert json.loads(root["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "rotate ana's password"}]}
    ]
    assert "all done" in root["gen_ai.output.messages"]
    fetched = attrs(otel.one("execute_tool fetch_key"))
    assert json.loads(fetched["gen_ai.tool.call.arguments"]) == {"account": "acme"}
    assert "[REDACTED]" in fetched["gen_ai.tool.call.result"]
    changed = attrs(otel.one("execute_tool set_password"))
    assert json.loads(changed["gen_ai.tool.call.arguments"])["user"] == "ana"
    assert "changed for ana" in changed["gen_ai.tool.call.result"]
    replies = [attrs(s)["gen_ai.output.messages"] for s in otel.named("chat scripted")]
    assert any('"name":"set_password"' in r for r in replies)

    everything = all_attribute_text(otel.spans)
    assert SECRET not in everything
    assert password not in everything
    assert "$sealed" not in everything


SEEN: dict[str, Any] = {}


@tool
def call_partner(order_id: str, ctx: ToolContext) -> str:
    """Call a partner API (instrumented by OpenTelemetry) about an order."""
    SEEN["traceparent"] = ctx.traceparent
    SEEN["current"] = trace.get_current_span().get_span_context()
    with SEEN["tracer"].start_as_current_span("GET /partner") as span:
        SEEN["http"] = span.get_span_context()
    return "ok"


@tool
async def call_partner_async(order_id: str, ctx: ToolContext) -> str:
    """The same call from an async tool."""
    SEEN["async_current"] = trace.get_current_span().get_span_context()
    return "ok"


async def test_tools_run_inside_their_execute_tool_span_and_get_its_traceparent(
    store_url: str, otel: Exported, tracings: list[Tracing]
) -> None:
    """A tool's own instrumented HTTP call becomes a child of its execute_tool span."""
    tracing = traced(otel, tracings)
    SEEN.clear()
    SEEN["tracer"] = otel.provider.get_tracer("partner-http-client")
    agent = Agent(
        name="partner",
        model=ScriptedModel(
            [
                [
                    tool_call("call_partner", order_id="A1"),
                    tool_call("call_partner_async", order_id="A1"),
                ],
                text("done"),
            ]
        ),
        tools=[call_partner, call_partner_async],
    )
    async with Runtime(store_url, observers=[tracing]) as rt:
        run = await rt.start(agent, "ask the partner")
        assert (await run.result(timeout=30)).status == "completed"

    sync_span = otel.one("execute_tool call_partner").context
    async_span = otel.one("execute_tool call_partner_async").context
    assert sync_span is not None and async_span is not None
    trace_id = run_trace_id(run.run_id)
    assert SEEN["traceparent"] == f"00-{trace_id:032x}-{sync_span.span_id:016x}-01"
    assert SEEN["current"].trace_id == trace_id
    assert SEEN["current"].span_id == sync_span.span_id
    assert SEEN["async_current"].span_id == async_span.span_id
    http = otel.one("GET /partner")
    assert http.parent is not None and http.parent.span_id == sync_span.span_id
    assert http.context is not None and http.context.trace_id == trace_id

    # Once tracing is closed, tools run with no span context of Tether's.
    tracing.close()
    assert not propagation_active()
    SEEN.clear()
    SEEN["tracer"] = otel.provider.get_tracer("partner-http-client")
    async with Runtime(store_url) as rt:
        again = await rt.start(agent, "ask the partner")
        assert (await again.result(timeout=30)).status == "completed"
    assert not SEEN["current"].is_valid
    assert SEEN["traceparent"].split("-")[1] == f"{run_trace_id(again.run_id):032x}"


@tool(effect="write", requires_approval=True)
def refund(order_id: str) -> str:
    """Refund an order."""
    return f"refunded {order_id}"


async def test_a_run_resumed_by_another_runtime_continues_the_same_trace(
    store_url: str, tracings: list[Tracing]
) -> None:
    """Park on approval in one runtime, approve in a second: one trace, one run span."""
    agent = Agent(
        name="refunds",
        model=ScriptedModel([tool_call("refund", order_id="A1"), text("refunded")]),
        tools=[refund],
    )
    first, second = Exported(), Exported()
    tracing = Tracing(first.provider)
    tracings.append(tracing)
    async with Runtime(store_url, observers=[tracing]) as rt:
        run = await rt.start(agent, "refund A1")
        assert (await run.result(timeout=30)).status == "waiting"
        stored = [e async for e in run.events(follow=False)]
        created_at = stored[0].ts
    tracing.close()
    assert [s.name for s in first.spans] == ["chat scripted"]  # no run span while parked

    async with Runtime(store_url, agents=[agent]) as rt:
        tracings.append(enable_tracing(rt, second.provider))
        [pending] = await rt.get(run.run_id).pending_approvals()
        await rt.approve(run.run_id, pending.approval_id, by="ana")
        assert (await rt.get(run.run_id).result(timeout=30)).status == "completed"
        await tracings[-1].flush()

    trace_id, parent = run_trace_id(run.run_id), run_span_id(run.run_id)
    root = second.one("invoke_agent refunds")
    assert root.context is not None
    assert (root.context.trace_id, root.context.span_id) == (trace_id, parent)
    assert root.start_time == int(created_at * 1_000_000_000)  # from the log of runtime 1
    assert attrs(root)["tether.agent.version"] == agent.version
    names = [e.name for e in root.events]
    assert "approval.requested" in names and "approval.decided" in names
    decided = next(e for e in root.events if e.name == "approval.decided")
    assert dict(decided.attributes or {})["tether.approval.by"] == "ana"

    children = [*first.spans, *second.named("chat scripted"), second.one("execute_tool refund")]
    assert len(children) == 3
    for span in children:
        assert span.context is not None and span.context.trace_id == trace_id
        assert span.parent is not None and span.parent.span_id == parent
    assert len({s.context.span_id for s in children if s.context}) == 3


def test_enable_tracing_names_the_extra_when_the_sdk_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class NoRuntime:
        def add_observer(self, observer: Any) -> None:
            raise AssertionError("not reached")

        def get(self, run_id: str) -> Any:
            raise AssertionError("not reached")

    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    with pytest.raises(MissingExtraError, match=r"pip install \"tether-runtime\[otel\]\""):
        enable_tracing(NoRuntime())
    assert not propagation_active()


async def test_enable_tracing_uses_a_configured_global_provider(
    store_url: str, otel: Exported, tracings: list[Tracing], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: otel.provider)
    agent = Agent(name="plain", model=ScriptedModel([text("hi")]))
    async with Runtime(store_url) as rt:
        tracings.append(enable_tracing(rt))
        run = await rt.start(agent, "hello")
        assert (await run.result(timeout=30)).status == "completed"
    assert [s.name for s in otel.spans] == ["chat scripted", "invoke_agent plain"]


def test_running_tools_without_tracing_never_imports_opentelemetry(tmp_path: Path) -> None:
    """Tracing off: a run with tool calls loads no OpenTelemetry module at all."""
    code = (
        "import sys, tether\n"
        "from tether.testing import ScriptedModel, text, tool_call\n"
        "@tether.tool\n"
        "def echo(x: str, ctx: tether.ToolContext) -> str:\n"
        "    '''Echo.'''\n"
        "    return x + ctx.traceparent\n"
        "script = [tool_call('echo', x='1'), text('ok')]\n"
        "agent = tether.Agent(name='a', model=ScriptedModel(script), tools=[echo])\n"
        f"r = tether.run_sync(agent, 'go', store='sqlite:///{tmp_path}/t.db')\n"
        "assert r.status == 'completed', r\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(root / "src")},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_trace_identity_is_a_fixed_function_of_the_run_and_the_call() -> None:
    """Golden values: changing the derivation would split the traces of live runs."""
    assert run_trace_id("run_1") == 0x255B78C006B338FA05F8021B903DF682
    assert run_span_id("run_1") == 0x5AA642D7729EBA43
    ctx = ToolContext(run_id="run_1", call_id="c", tool_name="t", idempotency_key="run_1:3:0")
    assert ctx.traceparent == "00-255b78c006b338fa05f8021b903df682-426d7935a68f0e17-01"
    assert ctx.traceparent == tool_traceparent("run_1", tool_call_key("run_1", 3, 0))
    assert format_traceparent(1, 2, sampled=False) == f"00-{1:032x}-{2:016x}-00"


async def test_tracing_built_before_the_global_provider_is_set_uses_it_once_it_is(
    store_url: str, otel: Exported, tracings: list[Tracing], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API's proxy cannot pin span ids; the real provider, once installed, does."""
    monkeypatch.setattr(trace, "get_tracer_provider", trace.ProxyTracerProvider)
    tracing = Tracing()
    tracings.append(tracing)
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: otel.provider)
    script = [tool_call("lookup", order_id="A1"), text("ok")]
    agent = Agent(name="late", model=ScriptedModel(script), tools=[lookup])
    async with Runtime(store_url, observers=[tracing]) as rt:
        run = await rt.start(agent, "where is A1?")
        assert (await run.result(timeout=30)).status == "completed"
    root = otel.one("invoke_agent late")
    assert root.context is not None and root.context.span_id == run_span_id(run.run_id)
    tool_span = otel.one("execute_tool lookup")
    assert tool_span.parent is not None and tool_span.parent.span_id == run_span_id(run.run_id)


async def test_a_run_span_includes_what_other_processes_did_between_its_ends(
    store_url: str, otel: Exported, tracings: list[Tracing]
) -> None:
    """Seen here: the start and the end. Elsewhere: an approval. The run span has all."""
    agent = Agent(
        name="two_refunds",
        model=ScriptedModel(
            [
                tool_call("refund", order_id="A1"),
                tool_call("refund", order_id="B2"),
                text("both refunded"),
            ]
        ),
        tools=[refund],
    )
    current: dict[str, Runtime] = {}
    tracing = traced(
        otel, tracings, history=lambda run_id: current["rt"].get(run_id).events(follow=False)
    )

    async def approve(rt: Runtime, run_id: str, by: str) -> str:
        [pending] = await rt.get(run_id).pending_approvals()
        await rt.approve(run_id, pending.approval_id, by=by)
        return (await rt.get(run_id).result(timeout=30)).status

    async with Runtime(store_url, observers=[tracing]) as rt:
        run = await rt.start(agent, "refund A1 and B2")
        assert (await run.result(timeout=30)).status == "waiting"
    async with Runtime(store_url, agents=[agent]) as rt:  # untraced
        assert await approve(rt, run.run_id, "bo") == "waiting"
    async with Runtime(store_url, agents=[agent], observers=[tracing]) as rt:
        current["rt"] = rt
        assert await approve(rt, run.run_id, "ana") == "completed"
        await tracing.flush()

    root = otel.one("invoke_agent two_refunds")
    approvers = [
        dict(e.attributes or {})["tether.approval.by"]
        for e in root.events
        if e.name == "approval.decided"
    ]
    assert approvers == ["bo", "ana"]


def test_enable_tracing_builds_and_installs_a_provider_from_the_otel_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No provider configured: one is built from OTEL_* and installed, owned by the Tracing."""
    installed: list[Any] = []
    observers: list[Any] = []

    class FakeRuntime:
        def add_observer(self, observer: Any) -> None:
            observers.append(observer)

        def get(self, run_id: str) -> Any:
            raise AssertionError("not reached")

    monkeypatch.setattr(trace, "get_tracer_provider", trace.ProxyTracerProvider)
    monkeypatch.setattr(trace, "set_tracer_provider", installed.append)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "support-desk")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    tracing = enable_tracing(FakeRuntime())
    try:
        [provider] = installed
        assert isinstance(provider, TracerProvider)
        assert provider.resource.attributes["service.name"] == "support-desk"
        assert observers == [tracing] and propagation_active()
    finally:
        tracing.close()
    assert not propagation_active()

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(UserError, match="OTEL_TRACES_EXPORTER='zipkin'"):
        enable_tracing(FakeRuntime())


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
    ],
)
def test_tracing_is_requested_by_the_standard_environment(
    environ: dict[str, str], wanted: bool
) -> None:
    assert tracing_requested(environ) is wanted


async def test_a_run_parked_by_another_process_continues_its_trace_here(
    store_url: str, otel: Exported, tracings: list[Tracing]
) -> None:
    """A separate interpreter starts the run and exports its chat span; this one finishes it."""
    sys.path.insert(0, str(WORKER.parent))
    try:
        from _otel_worker import make_agent
    finally:
        sys.path.remove(str(WORKER.parent))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        store_url,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), *sys.path])},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    there = json.loads(out.decode().strip().splitlines()[-1])
    assert there["status"] == "waiting"
    run_id = there["run_id"]

    async with Runtime(store_url, agents=[make_agent()]) as rt:
        tracing = enable_tracing(rt, otel.provider)
        tracings.append(tracing)
        [pending] = await rt.get(run_id).pending_approvals()
        await rt.approve(run_id, pending.approval_id, by="ana")
        assert (await rt.get(run_id).result(timeout=30)).status == "completed"
        await tracing.flush()

    trace_id, run_span = run_trace_id(run_id), run_span_id(run_id)
    [chat_there] = there["spans"]
    assert chat_there["name"] == "chat scripted"
    assert (chat_there["trace_id"], chat_there["parent"]) == (trace_id, run_span)
    root = otel.one("invoke_agent wire")
    assert root.context is not None
    assert (root.context.trace_id, root.context.span_id) == (trace_id, run_span)
    for span in (otel.one("execute_tool wire_refund"), *otel.named("chat scripted")):
        assert span.context is not None and span.context.trace_id == trace_id
        assert span.parent is not None and span.parent.span_id == run_span


async def test_a_failed_run_is_an_error_run_span_with_its_failure_code(
    store_url: str, otel: Exported, tracings: list[Tracing]
) -> None:
    tracing = traced(otel, tracings)

    class Refusing(ScriptedModel):
        async def complete(self, request: ModelRequest) -> ModelResponse:
            raise ModelError("bad key", error_code="auth", retryable=False)

        async def stream(self, request: ModelRequest) -> AsyncIterator[StreamDelta | ModelResponse]:
            yield await self.complete(request)

    agent = Agent(name="doomed", model=Refusing([text("never")]))
    async with Runtime(store_url, observers=[tracing]) as rt:
        run = await rt.start(agent, "hello")
        assert (await run.result(timeout=30)).status == "failed"
    root = otel.one("invoke_agent doomed")
    assert root.status.status_code is StatusCode.ERROR
    assert attrs(root)["error.type"] == "model_auth"
    assert attrs(root)["tether.run.status"] == "failed"
    [chat] = otel.named("chat scripted")
    assert chat.status.status_code is StatusCode.ERROR and attrs(chat)["error.type"] == "auth"


async def test_chat_span_ids_are_known_before_the_call_so_a_client_can_join_them(
    store_url: str, otel: Exported, tracings: list[Tracing]
) -> None:
    """model_span_id(run, step, call, attempt) is the chat span's id; attach_span uses it."""
    tracing = traced(otel, tracings)
    script = [tool_call("lookup", order_id="A1"), text("ok")]
    agent = Agent(name="ids", model=ScriptedModel(script), tools=[lookup])
    async with Runtime(store_url, observers=[tracing]) as rt:
        run = await rt.start(agent, "where is A1?")
        assert (await run.result(timeout=30)).status == "completed"
        stored = [e async for e in run.events(follow=False)]
    expected = {
        model_span_id(run.run_id, e.step, e.event.call, e.event.attempt)
        for e in stored
        if e.event.type == "model.completed"
    }
    assert {s.context.span_id for s in otel.named("chat scripted") if s.context} == expected

    span_id = next(iter(expected))
    token = attach_span(run.run_id, span_id)
    try:
        current = trace.get_current_span().get_span_context()
        assert (current.trace_id, current.span_id) == (run_trace_id(run.run_id), span_id)
    finally:
        detach_tool_trace(token)
    assert not trace.get_current_span().get_span_context().is_valid


async def test_a_provider_client_called_during_a_model_call_joins_its_chat_span(
    store_url: str, otel: Exported, tracings: list[Tracing]
) -> None:
    """An instrumented model client's HTTP span nests under the attempt's chat span."""
    from opentelemetry import trace

    tracing = traced(otel, tracings)
    tracer = otel.provider.get_tracer("provider-http-client")
    replies = [tool_call("lookup", order_id="A1"), text("done")]

    def script(request: Any) -> Any:
        with tracer.start_as_current_span("POST /v1/chat/completions"):
            pass
        return replies[sum(m.role == "assistant" for m in request.messages)]

    agent = Agent(name="chatty", model=ScriptedModel(script), tools=[lookup])
    async with Runtime(store_url, observers=[tracing]) as rt:
        run = await rt.start(agent, "where is A1")
        assert (await run.result(timeout=30)).status == "completed"
    chats = {s.context.span_id for s in otel.named("chat scripted") if s.context is not None}
    http = otel.named("POST /v1/chat/completions")
    assert len(http) == 2 and len(chats) == 2
    for span in http:
        assert span.parent is not None and span.parent.span_id in chats
        assert span.context is not None and span.context.trace_id == run_trace_id(run.run_id)
    assert not trace.get_current_span().get_span_context().is_valid
