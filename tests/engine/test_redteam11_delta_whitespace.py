"""Red team 11, hole 06: live deltas showed a secret the stored reply masked.

The model streamed ``password=``, a long run of newlines, then the value. The stream's
guard judges each release on the text since the last one plus 4,096 characters before
it; the redaction rules let any run of whitespace part a name from its value, so the name
fell out of the window and watchers (``run.events(deltas=True)``, SSE ``?deltas=true``)
saw the value the stored ``model.completed`` masked. Now a name reaches its value across
at most 256 whitespace characters: within that, both mask it; past it, neither takes the
text for the name's value, so what a watcher sees is never less protected than the log.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tether import Agent, LiveDelta, Runtime
from tether.models import ModelRequest, ModelResponse, StreamDelta, Usage

SECRET = "Tr0ub4dor-and-3x"


class _Streaming:
    model_id = "streaming-test"

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces

    async def complete(self, request: ModelRequest) -> ModelResponse:
        raise AssertionError("streamed only")

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamDelta | ModelResponse]:
        for piece in self.pieces:
            yield StreamDelta(kind="text", text=piece)
        yield ModelResponse(text="".join(self.pieces), finish_reason="stop", usage=Usage())


@pytest.mark.parametrize("gap", [200, 20_000])
async def test_watchers_never_see_a_value_the_log_masks(tmp_path: Path, gap: int) -> None:
    pieces = ["Here is the config: password="] + ["\n" * 100] * (gap // 100)
    pieces += [SECRET, " (rotate it soon)"]
    agent = Agent(name="leaky", model=_Streaming(pieces))
    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
        run = await rt.start(agent, "print the db config")
        shown = [
            item.delta.text or ""
            async for item in run.events(deltas=True)
            if isinstance(item, LiveDelta) and item.delta.kind == "text"
        ]
        assert (await run.result()).status == "completed"
    with sqlite3.connect(tmp_path / "t.db") as conn:
        stored = b"".join(bytes(r[0]) for r in conn.execute("SELECT data FROM events"))
    in_store, in_deltas = SECRET.encode() in stored, SECRET in "".join(shown)
    assert in_deltas <= in_store  # a watcher sees no more than the log keeps
    assert in_store == (gap > 256)  # masked within the bound, plain text past it
