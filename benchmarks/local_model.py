"""Local model benchmark: KV-cache prefix reuse and time to first token over a 10-turn run.

Drives ``tether.models.LocalModel`` (SmolLM2-135M, llama.cpp in process)
directly with a growing ``ModelRequest``, the way the engine does: a support
agent with two tools (``lookup_order``, ``search_kb``); after a tool call a
synthetic tool result is appended, after a final answer the next scripted user
question. For every turn it reports the prompt tokens, the tokens llama.cpp
actually evaluated, the reuse ratio (cached / prompt), the tokens pre-filled
after the reply, time to first token and total time. The summary gives the
minimum reuse ratio from turn 2 on (target >= 0.90), TTFT of turn 2 vs turn 10
(should be flat: each turn evaluates only what is new), and the TTFT of the
last prompt on a cold model for comparison.

    python benchmarks/local_model.py > local_model.json
    python benchmarks/local_model.py --turns 20 --threads 2

Prints one JSON object on stdout; progress goes to stderr (``--no-progress``
turns it off). Targets are reported, never asserted. Timings on a shared
machine move with its load; the load average is in the output.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
try:
    import tether  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(_HERE.parent / "src"))

from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402

from tether.models._local import LocalModel  # noqa: E402
from tether.models._types import Message, ModelRequest, ModelResponse, ToolSpec  # noqa: E402

TARGET_MIN_REUSE = 0.90
TARGET_TTFT_FLAT = 1.5
"""TTFT of the last turn may be at most this multiple of turn 2's to count as flat."""

INSTRUCTIONS = (
    "You are the support agent of an online shop for outdoor gear. Be brief, friendly "
    "and factual. Never invent order details: look them up with the tools. Order ids "
    "are the numbers or codes customers give you; pass them exactly as written. If a "
    "tool returns an error, say what went wrong and ask the customer to check the id. "
    "Answer in one or two sentences and mention the order status and the expected "
    "delivery date when you know them. Do not ask for payment details and do not "
    "promise refunds: a colleague handles them."
)
TOOLS = [
    ToolSpec(
        name="lookup_order",
        description="Look up an order's status by its id.",
        parameters={
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
            "additionalProperties": False,
        },
    ),
    ToolSpec(
        name="search_kb",
        description="Search the help center articles.",
        parameters={
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
            "additionalProperties": False,
        },
    ),
]
QUESTIONS = [
    "Where is my order 1234?",
    "And order 5521?",
    "How do I return a tent?",
    "Has order A-77 shipped yet?",
    "Do you ship to Canada?",
    "Can you check order 98765?",
    "What is the warranty on sleeping bags?",
    "Where is order 4410?",
]


def tool_result(name: str, arguments: dict[str, Any], turn: int) -> str:
    """A synthetic, deterministic tool result of realistic size."""
    if name == "lookup_order":
        order_id = str(arguments.get("order_id", "?"))
        status = ["shipped", "processing", "delivered"][turn % 3]
        return json.dumps(
            {"order_id": order_id, "status": status, "eta": f"2026-11-{20 + turn % 9:02d}"},
            separators=(",", ":"),
        )
    query = str(arguments.get("query", ""))
    return json.dumps(
        {"article": f"Help: {query[:40]}", "text": "See the help center for details."},
        separators=(",", ":"),
    )


def _reply_summary(reply: ModelResponse) -> str:
    if reply.tool_calls:
        call = reply.tool_calls[0]
        return f"{call.name}({json.dumps(call.arguments)})"
    return f"final_answer: {reply.text}"


async def run(turns: int, threads: int | None, progress: Progress | None) -> dict[str, Any]:
    """Run the conversation for ``turns`` model calls and collect per-turn numbers."""
    model = LocalModel(n_threads=threads)
    started = time.perf_counter()
    await model.load()
    load_s = time.perf_counter() - started

    questions = iter(QUESTIONS * (turns // len(QUESTIONS) + 2))
    request = ModelRequest(
        instructions=INSTRUCTIONS,
        tools=TOOLS,
        messages=[Message(role="user", content=next(questions))],
    )
    rows: list[dict[str, Any]] = []
    task = progress.add_task("local model turns", total=turns) if progress else None
    for turn in range(1, turns + 1):
        wall = time.perf_counter()
        reply = await model.complete(request)
        wall = time.perf_counter() - wall
        stats = model.last_stats
        assert stats is not None
        rows.append(
            {
                "turn": turn,
                "reply": _reply_summary(reply),
                "prompt_tokens": stats.prompt_tokens,
                "evaluated_tokens": stats.evaluated_tokens,
                "cached_tokens": stats.cached_tokens,
                "reuse_ratio": round(stats.reuse_ratio, 4),
                "output_tokens": stats.output_tokens,
                "prefilled_tokens": stats.prefilled_tokens,
                "stopped_repeating": stats.stopped_repeating,
                "ttft_s": round(stats.ttft_s, 4),
                "total_s": round(stats.total_s, 4),
                "wall_s": round(wall, 4),
                "usage": reply.usage.model_dump(),
            }
        )
        messages = [*request.messages]
        if reply.tool_calls:
            call = reply.tool_calls[0]
            messages.append(Message(role="assistant", tool_calls=reply.tool_calls))
            messages.append(
                Message(
                    role="tool",
                    tool_call_id=call.id,
                    name=call.name,
                    content=tool_result(call.name, call.arguments, turn),
                )
            )
        else:
            messages.append(Message(role="assistant", content=reply.text or ""))
            messages.append(Message(role="user", content=next(questions)))
        request = request.model_copy(update={"messages": messages})
        if progress is not None and task is not None:
            progress.update(task, advance=1)

    # The last request again, on a cold model: what every turn would cost without reuse.
    last = request.model_copy(update={"messages": request.messages[:-2]})
    cold = LocalModel(n_threads=threads)
    await cold.load()
    await cold.complete(last)
    cold_stats = cold.last_stats
    cold.close()
    model.close()
    assert cold_stats is not None

    from_turn_2 = rows[1:]
    min_reuse = min(r["reuse_ratio"] for r in from_turn_2) if from_turn_2 else None
    ttft_2 = rows[1]["ttft_s"] if len(rows) > 1 else None
    ttft_last = rows[-1]["ttft_s"]
    flat = ttft_2 is not None and ttft_last <= TARGET_TTFT_FLAT * ttft_2
    return {
        "model": model.model_id,
        "n_threads": model.n_threads,
        "load_s": round(load_s, 3),
        "turns": rows,
        "summary": {
            "min_reuse_ratio_from_turn_2": min_reuse,
            "target_min_reuse_ratio": TARGET_MIN_REUSE,
            "reuse_target_met": min_reuse is not None and min_reuse >= TARGET_MIN_REUSE,
            "ttft_turn_2_s": ttft_2,
            f"ttft_turn_{turns}_s": ttft_last,
            "ttft_last_over_turn_2": round(ttft_last / ttft_2, 3) if ttft_2 else None,
            "ttft_flat": flat,
            "median_ttft_from_turn_2_s": (
                sorted(r["ttft_s"] for r in from_turn_2)[len(from_turn_2) // 2]
                if from_turn_2
                else None
            ),
            "mean_evaluated_tokens_from_turn_2": (
                round(sum(r["evaluated_tokens"] for r in from_turn_2) / len(from_turn_2), 1)
                if from_turn_2
                else None
            ),
            "last_prompt_cold": {
                "prompt_tokens": cold_stats.prompt_tokens,
                "evaluated_tokens": cold_stats.evaluated_tokens,
                "ttft_s": round(cold_stats.ttft_s, 4),
            },
        },
    }


def main() -> None:
    """Parse arguments, run the benchmark, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=10, help="model calls (default 10)")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads")
    parser.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    args = parser.parse_args()

    console = Console(stderr=True)
    if args.no_progress:
        result = asyncio.run(run(args.turns, args.threads, None))
    else:
        columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            result = asyncio.run(run(args.turns, args.threads, progress))
    result["machine"] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "llama_cpp_python": importlib.metadata.version("llama_cpp_python"),
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
