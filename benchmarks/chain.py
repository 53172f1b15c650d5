"""Audit chain benchmark: the CPU one event's link in the hash chain costs, and verification.

Runs one real ReAct run (scripted model, N instant tool turns, the engine benchmark's
2 KB instructions and ~200-byte tool results) on a SQLite file, reads its stored rows
back, then times in process CPU:

- ``hash_us_per_event``: ``event_hash`` over each stored row, what the writer adds to
  every INSERT (it also keeps the run's head in memory: no read, no extra write);
- ``hash_us_per_turn``: the same per tool turn (a turn writes several events);
- ``verify_us_per_event``: ``verify_chain`` over the whole log, what ``tether audit
  --verify`` spends per event.

Prints one JSON object on stdout. Figures are reported, never asserted.

    python benchmarks/chain.py            # N = 20 tool turns
    python benchmarks/chain.py --n 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE))
try:
    import tether  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(_HERE.parent / "src"))

from _engine_common import INSTRUCTIONS, tool_result  # noqa: E402

from tether import Agent, Runtime, tool  # noqa: E402
from tether.models import ModelRequest  # noqa: E402
from tether.store import EventRow, event_hash, genesis_hash, run_key, verify_chain  # noqa: E402
from tether.testing import ScriptedModel, text, tool_call  # noqa: E402


async def _one_run(url: str, turns: int) -> tuple[str, list[EventRow], int]:
    @tool
    def fetch(i: int) -> str:
        """Fetch item i."""
        return tool_result(str(i))

    def script(req: ModelRequest) -> Any:
        done = sum(1 for m in req.messages if m.role == "tool")
        return tool_call("fetch", i=done) if done < turns else text("done")

    agent = Agent(
        name="bench", model=ScriptedModel(script), tools=[fetch], instructions=INSTRUCTIONS
    )
    async with Runtime(url, recover=False) as rt:
        handle = await rt.start(agent, "go")
        assert (await handle.result()).status == "completed"
        chain = await rt.store.load_event_chain(handle.run_id)
    assert chain is not None
    return handle.run_id, chain.rows, chain.last_seq


def _cpu_per_item(fn: Any, items: int, min_seconds: float = 0.5) -> float:
    """Process CPU µs per item of ``fn()`` (which handles ``items`` items), repeated."""
    reps, spent = 0, 0.0
    start = time.process_time()
    while spent < min_seconds:
        fn()
        reps += 1
        spent = time.process_time() - start
    return spent / (reps * items) * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20, help="tool turns in the run (default 20)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_id, rows, last_seq = asyncio.run(_one_run(f"sqlite:///{tmp}/chain.db", args.n))

    key = run_key(run_id)

    def hash_all() -> None:
        prev = genesis_hash(run_id)
        for r in rows:
            prev = event_hash(prev, key, r.seq, r.step, r.ts, r.type, r.data)

    def verify() -> None:
        assert verify_chain(run_id, rows, last_seq).ok

    per_event = _cpu_per_item(hash_all, len(rows))
    report = {
        "turns": args.n,
        "events": len(rows),
        "events_per_turn": round(len(rows) / args.n, 2),
        "mean_event_bytes": round(sum(len(r.data) for r in rows) / len(rows)),
        "hash_us_per_event": round(per_event, 2),
        "hash_us_per_turn": round(per_event * len(rows) / args.n, 2),
        "verify_us_per_event": round(_cpu_per_item(verify, len(rows)), 2),
        "python": sys.version.split()[0],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
