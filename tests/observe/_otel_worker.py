"""Worker process for the OpenTelemetry tests: start a run that parks, print its spans.

    python _otel_worker.py STORE_URL

Prints one JSON object: the run id and every span this process exported (name, trace
id, span id, parent span id), then exits with the run parked for approval.
"""

from __future__ import annotations

import asyncio
import json
import sys

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tether import Agent, Runtime, tool
from tether.observe import Tracing
from tether.testing import ScriptedModel, text, tool_call


@tool(effect="write", requires_approval=True)
def wire_refund(order_id: str) -> str:
    """Refund an order by wire."""
    return f"wired refund for {order_id}"


def make_agent() -> Agent:
    return Agent(
        name="wire",
        model=ScriptedModel([tool_call("wire_refund", order_id="W7"), text("wired")]),
        tools=[wire_refund],
    )


async def main(store_url: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)
    async with Runtime(store_url, observers=[tracing]) as rt:
        run = await rt.start(make_agent(), "refund W7 by wire")
        result = await run.result(timeout=60)
    tracing.close()
    spans = [
        {
            "name": s.name,
            "trace_id": s.context.trace_id if s.context else None,
            "span_id": s.context.span_id if s.context else None,
            "parent": s.parent.span_id if s.parent else None,
        }
        for s in exporter.get_finished_spans()
    ]
    print(json.dumps({"run_id": run.run_id, "status": result.status, "spans": spans}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
