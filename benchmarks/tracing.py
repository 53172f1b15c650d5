"""Tracing benchmark: what OpenTelemetry export costs a tool call and a durable turn.

Two measurements, each with tracing off and on:

* ``tool_call_us``: one :func:`tether.tools.execute_tool_call` of an instant async tool
  (validation, the call, result conversion). "on" means a :class:`tether.observe.Tracing`
  is live, so the call's span context is made current while the tool runs.
* ``turn_us``: a whole durable turn (model call + tool call, committed to SQLite with
  ``durability="NORMAL"``) of an agent that calls one instant tool ``--turns`` times.
  "on" adds a ``Tracing`` observer exporting through the SDK to an exporter that drops
  the spans, so the figure is Tether's mapping plus the SDK's span handling.

Prints one JSON object on stdout (median of ``--repeat``; wall clock). Nothing is
asserted; the exit code is 0 whatever the numbers.

    python benchmarks/tracing.py
    python benchmarks/tracing.py --turns 50 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
try:
    import tether  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(_ROOT / "src"))

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import (  # noqa: E402
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from tether import Agent, Runtime, tool  # noqa: E402
from tether.models import ModelRequest, ModelResponse, ToolCall  # noqa: E402
from tether.observe import Tracing  # noqa: E402
from tether.testing import ScriptedModel  # noqa: E402
from tether.tools import ToolContext, execute_tool_call  # noqa: E402


class _Drop(SpanExporter):
    """Counts spans and drops them."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


@tool
async def lookup(n: int) -> str:
    """Look something up instantly."""
    return f"found {n}"


def _provider() -> tuple[TracerProvider, _Drop]:
    exporter = _Drop()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def _tool_calls(count: int, traced: bool) -> float:
    registry = {"lookup": lookup}
    call = ToolCall(id="c1", name="lookup", arguments={"n": 1})
    ctx = ToolContext(run_id="run_bench", call_id="c1", tool_name="lookup", idempotency_key="k")
    tracing = Tracing(_provider()[0]) if traced else None
    try:
        start = time.perf_counter()
        for _ in range(count):
            await execute_tool_call(call, registry, ctx)
        return (time.perf_counter() - start) / count * 1e6
    finally:
        if tracing is not None:
            tracing.close()


async def _turns(turns: int, traced: bool) -> tuple[float, int]:
    def script(request: ModelRequest) -> ModelResponse:
        done = sum(1 for m in request.messages if m.role == "tool")
        if done >= turns:
            return ModelResponse(text="done")
        return ModelResponse(
            tool_calls=[ToolCall(id=f"c{done}", name="lookup", arguments={"n": done})]
        )

    agent = Agent(
        name="bench",
        model=ScriptedModel(script, keep_requests=False),
        tools=[lookup],
        max_turns=turns + 5,
    )
    provider, exporter = _provider()
    tracing = Tracing(provider) if traced else None
    with tempfile.TemporaryDirectory() as tmp:
        async with Runtime(
            f"sqlite:///{tmp}/bench.db",
            durability="NORMAL",
            observers=[tracing] if tracing is not None else [],
        ) as rt:
            start = time.perf_counter()
            run = await rt.start(agent, "go")
            result = await run.result(timeout=600)
            elapsed = time.perf_counter() - start
    if tracing is not None:
        tracing.close()
    assert result.status == "completed", result
    return elapsed / turns * 1e6, exporter.spans


async def main(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"turns": args.turns, "repeat": args.repeat}
    for traced in (False, True):
        label = "on" if traced else "off"
        await _tool_calls(200, traced)  # warm up
        calls = [await _tool_calls(args.calls, traced) for _ in range(args.repeat)]
        out[f"tool_call_us_{label}"] = round(statistics.median(calls), 2)
        await _turns(5, traced)  # warm up
        samples = [await _turns(args.turns, traced) for _ in range(args.repeat)]
        out[f"turn_us_{label}"] = round(statistics.median(s[0] for s in samples), 1)
        out[f"spans_{label}"] = samples[-1][1]
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
