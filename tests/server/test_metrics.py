"""``/metrics``: real runs counted from their events, outstanding work read from the store."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from tether import Agent, Runtime, tool
from tether.engine import ModelCompleted, RunCreated, RunEvent, ToolFailed
from tether.models import ModelResponse, Price, PricingTable, Usage
from tether.policy import Policy, PolicyFile
from tether.server import _metrics
from tether.server._metrics import metrics_router
from tether.store import RunRecord
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import ToolCallError, ToolError

PRICES = PricingTable({"scripted": Price(1.0, 0.25, 4.0)})

ESCALATE = PolicyFile.loads(
    """
version = 1

[[rules]]
name = "review-refunds"
tool = "refund"
action = "escalate"
reason = "Refunds are reviewed by a person."
""",
    source="escalate.toml",
)


@tool
def lookup(order_id: str) -> str:
    """Look an order up."""
    return f"order {order_id}: shipped"


@tool(effect="write", requires_approval=True)
def refund(order_id: str) -> str:
    """Refund an order."""
    return f"refunded {order_id}"


def _helper() -> Agent:
    cached = ModelResponse(
        text="shipped", usage=Usage(input_tokens=100, output_tokens=10, cached_input_tokens=80)
    )
    return Agent(
        name="helper",
        model=ScriptedModel([tool_call("lookup", order_id="7"), cached]),
        tools=[lookup],
    )


def _refunder() -> Agent:
    return Agent(
        name="refunder",
        model=ScriptedModel([tool_call("refund", order_id="A1"), text("refunded")]),
        tools=[refund],
    )


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def _scrape(client: httpx.AsyncClient, **headers: str) -> Samples:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def _value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 when the series is absent (a gauge cleared, a counter not begun)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")


def _app(runtime: Runtime, token: str | None = None) -> FastAPI:
    app = FastAPI()
    app.include_router(metrics_router(runtime, token))
    return app


async def test_runs_tools_tokens_cost_and_approvals_are_counted(store_url: str) -> None:
    """A completed, a failed, an escalated and a parked run show up by agent and status."""
    async with Runtime(store_url, pricing=PRICES) as rt, _client(_app(rt)) as client:
        helper = await rt.start(_helper(), "where is order 7?")
        broken = await rt.start(Agent(name="broken", model=ScriptedModel([42])), "hi")  # type: ignore[list-item]
        escalating = Agent(
            name="reviewed",
            model=ScriptedModel([tool_call("refund", order_id="B2")]),
            tools=[refund],
            policy=Policy(rules=ESCALATE),
        )
        escalated = await rt.start(escalating, "refund B2")
        parked = await rt.start(_refunder(), "refund A1")
        assert (await helper.result(timeout=30)).status == "completed"
        assert (await broken.result(timeout=30)).status == "failed"
        assert (await escalated.result(timeout=30)).status == "escalated"
        assert (await parked.result(timeout=30)).status == "waiting"

        m = await _scrape(client)
        for agent in ("helper", "broken", "reviewed", "refunder"):
            assert _value(m, "tether_runs_started_total", agent=agent) == 1
        assert _value(m, "tether_runs_finished_total", agent="helper", status="completed") == 1
        assert _value(m, "tether_runs_finished_total", agent="broken", status="failed") == 1
        assert (
            _value(m, "tether_run_failures_total", agent="broken", code="model_malformed_response")
            == 1
        )
        assert _value(m, "tether_runs_finished_total", agent="refunder", status="completed") == 0
        assert _value(m, "tether_escalations_total", agent="reviewed", source="policy") == 1
        assert _value(m, "tether_runs", agent="reviewed", status="escalated") == 1
        assert _value(m, "tether_runs", agent="refunder", status="waiting") == 1
        assert _value(m, "tether_approvals_pending", agent="refunder") == 1
        assert _value(m, "tether_approvals_requested_total", agent="refunder", tool="refund") == 1

        # Tools: one lookup, counted per call and per finished run.
        assert (
            _value(m, "tether_tool_calls_total", agent="helper", tool="lookup", outcome="ok") == 1
        )
        assert _value(m, "tether_tool_call_seconds_count", agent="helper", tool="lookup") == 1
        assert _value(m, "tether_run_tool_calls_count", agent="helper") == 1
        assert _value(m, "tether_run_tool_calls_sum", agent="helper") == 1
        assert _value(m, "tether_run_tool_calls_bucket", agent="helper", le="0.0") == 0
        assert _value(m, "tether_run_tool_calls_bucket", agent="helper", le="1.0") == 1

        # Tokens and cost match what the run recorded, call by call.
        stored = [e.event async for e in rt.get(helper.run_id).events(follow=False)]
        calls = [e for e in stored if isinstance(e, ModelCompleted)]
        assert len(calls) == 2
        model = {"agent": "helper", "model": "scripted"}
        assert _value(m, "tether_model_calls_total", **model) == 2
        assert _value(m, "tether_model_call_seconds_count", **model) == 2
        inputs = sum(c.response.usage.input_tokens for c in calls)
        outputs = sum(c.response.usage.output_tokens for c in calls)
        assert _value(m, "tether_model_tokens_total", **model, type="input") == inputs
        assert _value(m, "tether_model_tokens_total", **model, type="output") == outputs
        assert _value(m, "tether_model_tokens_total", **model, type="cache_read") == 80
        assert _value(m, "tether_prefix_cache_ratio", **model) == pytest.approx(80 / inputs)
        cost = sum(c.cost_usd or 0.0 for c in calls)
        assert cost > 0
        assert _value(m, "tether_model_cost_usd_total", **model) == pytest.approx(cost)
        assert (
            _value(m, "tether_run_duration_seconds_count", agent="helper", status="completed") == 1
        )

        [pending] = await parked.pending_approvals()
        await rt.approve(parked.run_id, pending.approval_id, by="ana")
        assert (await rt.get(parked.run_id).result(timeout=30)).status == "completed"

        m = await _scrape(client)
        assert _value(m, "tether_approvals_pending", agent="refunder") == 0
        assert _value(m, "tether_runs", agent="refunder", status="waiting") == 0
        assert (
            _value(m, "tether_approvals_decided_total", agent="refunder", decision="approved") == 1
        )
        assert _value(m, "tether_approval_wait_seconds_count", agent="refunder") == 1
        assert _value(m, "tether_runs_finished_total", agent="refunder", status="completed") == 1
        assert (
            _value(m, "tether_tool_calls_total", agent="refunder", tool="refund", outcome="ok") == 1
        )
        assert _value(m, "tether_runs_active") == 0
        assert _value(m, "tether_queue_depth") == 0
        assert ("tether_event_loop_lag_seconds", frozenset()) in m


async def test_a_restarted_process_reports_pending_approvals_and_labels_resumed_runs(
    store_url: str,
) -> None:
    """Pending approvals come from the store, and a run resumed here keeps its agent label."""
    async with Runtime(store_url) as rt:
        parked = await rt.start(_refunder(), "refund A1")
        assert (await parked.result(timeout=30)).status == "waiting"

    async with Runtime(store_url, agents=[_refunder()]) as rt, _client(_app(rt)) as client:
        m = await _scrape(client)
        assert _value(m, "tether_approvals_pending", agent="refunder") == 1
        assert _value(m, "tether_runs_started_total", agent="refunder") == 0

        [pending] = await rt.get(parked.run_id).pending_approvals()
        await rt.approve(parked.run_id, pending.approval_id, by="ana")
        assert (await rt.get(parked.run_id).result(timeout=30)).status == "completed"

        m = await _scrape(client)
        assert _value(m, "tether_approvals_pending", agent="refunder") == 0
        assert (
            _value(m, "tether_approvals_decided_total", agent="refunder", decision="approved") == 1
        )
        assert _value(m, "tether_runs_finished_total", agent="refunder", status="completed") == 1
        # Its creation time came from the store, so the whole run's duration is known.
        assert (
            _value(m, "tether_run_duration_seconds_count", agent="refunder", status="completed")
            == 1
        )
        assert not any(labels and ("agent", "unknown") in labels for _, labels in m)


async def test_queue_depth_counts_runs_that_no_live_process_drives(store_url: str) -> None:
    """A run left running by a dead owner (lease expired) waits in the queue."""
    async with Runtime(store_url, recover=False) as rt, _client(_app(rt)) as client:
        now = time.time()
        for run_id, owner, expires in [
            ("run_orphan", "dead-host", now - 60),
            ("run_unleased", None, None),
            ("run_live", "live-host", now + 3600),
        ]:
            record = RunRecord(
                run_id=run_id,
                agent="helper",
                agent_version="v1",
                status="running",
                created_at=now,
                updated_at=now,
                lease_owner=owner,
                lease_expires_at=expires,
            )
            await rt.store.create_run(record, [])
        m = await _scrape(client)
    assert _value(m, "tether_queue_depth") == 2
    assert _value(m, "tether_runs", agent="helper", status="running") == 3


@tool
def flaky(order_id: str) -> str:
    """Always fails, with an error the model can act on."""
    raise ToolCallError(f"order {order_id} is locked", error_code="locked")


async def test_failed_tool_calls_and_denied_approvals_are_counted(store_url: str) -> None:
    agent = Agent(
        name="unlucky",
        model=ScriptedModel(
            [tool_call("flaky", order_id="1"), tool_call("refund", order_id="1"), text("sorry")]
        ),
        tools=[flaky, refund],
    )
    async with Runtime(store_url) as rt, _client(_app(rt)) as client:
        run = await rt.start(agent, "refund 1")
        assert (await run.result(timeout=30)).status == "waiting"
        [pending] = await run.pending_approvals()
        await rt.deny(run.run_id, pending.approval_id, by="ana", reason="not today")
        assert (await rt.get(run.run_id).result(timeout=30)).status == "completed"
        m = await _scrape(client)
    assert _value(m, "tether_tool_calls_total", agent="unlucky", tool="flaky", outcome="error") == 1
    assert _value(m, "tether_tool_calls_total", agent="unlucky", tool="refund", outcome="ok") == 0
    assert (
        _value(m, "tether_tool_calls_total", agent="unlucky", tool="refund", outcome="denied") == 1
    )
    assert _value(m, "tether_approvals_decided_total", agent="unlucky", decision="denied") == 1
    assert _value(m, "tether_approvals_pending", agent="unlucky") == 0
    assert _value(m, "tether_runs_finished_total", agent="unlucky", status="completed") == 1


@pytest.mark.parametrize(
    ("header", "status"),
    [(None, 401), ("Bearer wrong", 401), ("secret", 401), ("Bearer secret", 200)],
)
async def test_the_metrics_token_is_required_when_set(
    store_url: str, header: str | None, status: int
) -> None:
    async with Runtime(store_url) as rt, _client(_app(rt, token="secret")) as client:
        headers = {"Authorization": header} if header is not None else {}
        response = await client.get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.json()["error"]["code"] == "unauthorized"
        assert "tether_" not in response.text
    else:
        assert "tether_runs_started" in response.text


async def test_without_a_token_metrics_are_open_and_two_apps_do_not_collide(
    store_url: str,
) -> None:
    async with Runtime(store_url) as rt:
        first, second = _app(rt), _app(rt)  # each has its own registry
        run = await rt.start(_helper(), "where is order 7?")
        await run.result(timeout=30)
        for app in (first, second):
            async with _client(app) as client:
                m = await _scrape(client)
            assert _value(m, "tether_runs_finished_total", agent="helper", status="completed") == 1


async def test_the_lifespan_runs_the_event_loop_lag_probe_and_stops_it(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_metrics, "LAG_INTERVAL", 0.0)
    async with Runtime(store_url) as rt:
        app = _app(rt)
        async with app.router.lifespan_context(app):
            [probe] = [t for t in asyncio.all_tasks() if t.get_name() == "tether-metrics-loop-lag"]
            for _ in range(3):
                await asyncio.sleep(0)
            async with _client(app) as client:
                m = await _scrape(client)
            assert _value(m, "tether_event_loop_lag_seconds") >= 0
        assert probe.cancelled()


async def test_a_real_server_serves_metrics_with_its_lag_probe_running(store_url: str) -> None:
    """Under uvicorn the router's lifespan starts the lag probe and stops it on shutdown."""
    import uvicorn

    async with Runtime(store_url) as rt:
        app = _app(rt, token="secret")
        config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_level="warning")
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started and not serving.done():  # noqa: ASYNC110  # uvicorn offers a flag, no event
                await asyncio.sleep(0.01)
            assert server.started
            [probe] = [t for t in asyncio.all_tasks() if t.get_name() == "tether-metrics-loop-lag"]
            port = server.servers[0].sockets[0].getsockname()[1]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                assert (await client.get("/metrics")).status_code == 401
                m = await _scrape(client, Authorization="Bearer secret")
            assert ("tether_event_loop_lag_seconds", frozenset()) in m
        finally:
            server.should_exit = True
            await serving
    assert probe.cancelled()


async def test_create_app_serves_metrics_behind_its_token(store_url: str) -> None:
    """The real app includes the router: its observer counts runs, its token guards it."""
    from tether.server import create_app

    async with Runtime(store_url) as rt:
        app = create_app(rt, {"helper": _helper()}, metrics_token="secret")
        async with app.router.lifespan_context(app), _client(app) as client:
            run = await rt.start(_helper(), "where is order 7?")
            assert (await run.result(timeout=30)).status == "completed"
            unauthorized = await client.get("/metrics", headers={"Authorization": "Bearer no"})
            assert unauthorized.status_code == 401
            assert unauthorized.json()["error"]["code"] == "unauthorized"
            m = await _scrape(client, Authorization="Bearer secret")
    assert _value(m, "tether_runs_finished_total", agent="helper", status="completed") == 1
    assert _value(m, "tether_tool_calls_total", agent="helper", tool="lookup", outcome="ok") == 1


def test_observer_counts_only_what_it_is_given() -> None:
    """The observer tolerates an empty commit (nothing to count, no store call)."""
    metrics = _metrics.RunMetrics(runtime=_NoRuntime())  # type: ignore[arg-type]
    metrics.observe("run_x", [])
    assert b"tether_runs_started" in metrics.render()


async def test_a_charged_call_is_counted_as_interrupted_not_as_a_retry() -> None:
    """A read a stopped driver may have made, charged before it runs again, is its own
    outcome (not "retry", which means the tool itself failed), and is not timed."""
    metrics = _metrics.RunMetrics(runtime=_NoRuntime())  # type: ignore[arg-type]
    error = ToolError(error_code="interrupted", message="may have run", retryable=True)
    events = [
        RunEvent(
            "run_x", 1, 0, time.time(), RunCreated(agent="a", agent_version="v", initial_state="s")
        ),
        RunEvent(
            "run_x",
            2,
            0,
            time.time(),
            ToolFailed(
                call=1, call_id="c", tool="lookup", error=error, will_retry=True, charged=True
            ),
        ),
    ]
    metrics.observe("run_x", events)
    samples = await _scrape_text(metrics.render().decode())
    assert (
        _value(samples, "tether_tool_calls_total", agent="a", tool="lookup", outcome="interrupted")
        == 1
    )
    assert (
        _value(samples, "tether_tool_calls_total", agent="a", tool="lookup", outcome="retry") == 0
    )
    assert _value(samples, "tether_tool_call_seconds_count", agent="a", tool="lookup") == 0


class _NoRuntime:
    store: Any = None
    active_runs: Sequence[str] = ()


SK = "sk-proj-" + "Zq9Wx8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe"


@tool
def read_integration(name: str) -> dict[str, str]:
    """An integration's settings, with the API key the secrets layer seals."""
    return {"name": name, "api_key": SK}


async def test_a_tool_name_the_model_invented_is_never_stored_or_a_metrics_label(
    store_url: str,
) -> None:
    """A model that read a secret calls a tool named after it (an injection's "verify").

    The name is the model's own text: sealed with its reply, never stored in the
    structural ``tool`` field (which redaction leaves alone) nor used as a label on the
    open /metrics page, where every invented name would also be a new series.
    """

    def script(request: Any) -> Any:
        told = [m for m in request.messages if m.role == "tool"]
        if not told:
            return tool_call("read_integration", name="openai")
        if len(told) == 1:
            return tool_call(SK)  # the key, read raw from the result, as a tool name
        return text("verified")

    agent = Agent(name="helper", model=ScriptedModel(script), tools=[read_integration])
    async with Runtime(store_url) as rt, _client(_app(rt)) as client:
        handle = await rt.start(agent, "check openai")
        result = await handle.result(timeout=30)
        assert result.status == "completed"
        page = (await client.get("/metrics")).text
        rows = await rt.store.load_events(result.run_id)
    stored = [row.type for row in rows if SK.encode() in row.data]
    assert stored == [], stored
    assert SK not in page
    failed = [json.loads(row.data) for row in rows if row.type == "tool.failed"]
    assert [f["tool"] for f in failed] == ["<unknown>"]
    samples = await _scrape_text(page)
    assert (
        _value(
            samples, "tether_tool_calls_total", agent="helper", tool="<unknown>", outcome="error"
        )
        == 1
    )


async def _scrape_text(page: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(page):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples
