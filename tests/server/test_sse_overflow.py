"""A client too slow for its stream: bounded buffering, an ``overflow`` frame, no slowdown.

A client that connects and stops reading must not hold the run back, nor the other
clients of the same stream. Once it lags more than the server's per-client buffer it is
dropped from the feed (its frames are no longer kept), and when it reads again it finds
the frames it was sent, then ``event: overflow`` with the position to resume from, then
the end of the response. Resuming there loses nothing.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _live import LiveServer, live_server
from _sse_client import Frame, parse, read_frames

from tether import Agent, tool
from tether.models import ModelRequest
from tether.testing import ScriptedModel, text, tool_call

GATE = threading.Event()
CALLS = 80
PAYLOAD = 4000


@tool
async def page(n: int) -> str:
    """Fetch one page of a large export."""
    if not GATE.is_set():  # the first page waits until the clients are connected
        await asyncio.to_thread(GATE.wait, 60)
    return f"page {n}: " + "x" * PAYLOAD


def _pages(request: ModelRequest) -> Any:
    done = sum(1 for m in request.messages if m.role == "tool")
    return tool_call("page", n=done + 1) if done < CALLS else text(f"exported {done} pages")


EXPORT = Agent(name="export", model=ScriptedModel(_pages), tools=[page], max_turns=CALLS + 5)


@pytest.fixture
def srv(store_url: str) -> Iterator[LiveServer]:
    GATE.clear()
    with live_server(
        store_url,
        [EXPORT],
        app_options={"sse_buffer_bytes": 16 * 1024, "sse_overflow_grace": 60.0},
        send_buffer=4096,
    ) as live:
        yield live


def _raw_get(port: int, path: str, key: str) -> socket.socket:
    """An HTTP client that sends its request and then reads nothing (tiny receive window)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        "Accept: text/event-stream\r\nConnection: close\r\n\r\n".encode()
    )
    return sock


def _read_to_end(sock: socket.socket) -> tuple[bytes, bytes]:
    """Read a response until the server closes; its head and its de-chunked body."""
    sock.settimeout(30)
    data = bytearray()
    while chunk := sock.recv(65536):
        data += chunk
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    body = bytearray()
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        body += rest[:size]
        rest = rest[size + 2 :]
    return head, bytes(body)


def test_slow_client_overflows_without_slowing_the_run(srv: LiveServer) -> None:
    key = srv.key("acme", ["runs:read", "runs:write"])
    auth = {"Authorization": f"Bearer {key}"}
    streams = srv.app.state.streams
    with httpx.Client(base_url=srv.url, headers=auth, timeout=30) as client:
        run = client.post("/v1/runs", json={"agent": "export", "input": "export"}).json()
        url = f"/v1/runs/{run['run_id']}/events"
        slow = _raw_get(srv.port, url, key)
        fast: list[Frame] = []
        reader = threading.Thread(target=lambda: fast.extend(read_frames(client, url)))
        reader.start()
        deadline = time.monotonic() + 30
        while streams.clients < 2:
            assert time.monotonic() < deadline, "the clients never connected"
            time.sleep(0.01)
        GATE.set()
        # The run finishes while the slow client has read nothing at all.
        while client.get(f"/v1/runs/{run['run_id']}").json()["status"] != "completed":
            assert time.monotonic() < deadline + 30, "the run was held back"
            time.sleep(0.02)
        reader.join(30)
        # The other client got everything, live, while the slow one stalled.
        stored = srv.call(srv.runtime.store.load_events(run["run_id"]))
        assert [int(f.id) for f in fast if f.id] == [row.seq for row in stored]
        assert fast[-1].event == "end"
        # The slow client was dropped from the feed: nothing is buffered for it any more.
        assert streams.clients == 0

        head, body = _read_to_end(slow)
        slow.close()
        assert head.startswith(b"HTTP/1.1 200")
        frames, rest = parse(body.decode())
        assert rest == ""
        *events, last = frames
        assert last.event == "overflow"
        resume_after = last.json()["resume_after"]
        ids = [int(f.id) for f in events if f.id is not None]
        assert ids == list(range(1, resume_after + 1))
        assert resume_after < stored[-1].seq  # it really fell behind

        resumed = read_frames(client, url, headers={"Last-Event-ID": str(resume_after)})
        assert resumed[-1].event == "end"
        got = [f for f in events if f.id] + [f for f in resumed if f.id]
        assert [(int(f.id), json.loads(f.data)["data"]) for f in got if f.id] == [
            (row.seq, json.loads(row.data)) for row in stored
        ]


@tool
async def nap(seconds: float) -> str:
    """Wait a while."""
    await asyncio.sleep(seconds)
    return "rested"


NAPPER = Agent(
    name="napper", model=ScriptedModel([tool_call("nap", seconds=1.0), text("awake")]), tools=[nap]
)


def test_an_idle_stream_carries_keepalive_comments(store_url: str) -> None:
    """While the run is quiet (a long tool call), the stream sends comment lines, which
    SSE clients ignore, so proxies and clients see the connection is alive."""
    with live_server(store_url, [NAPPER], app_options={"sse_keepalive": 0.2}) as srv:
        key = srv.key("acme", ["runs:read", "runs:write"])
        with httpx.Client(
            base_url=srv.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as client:
            run = client.post("/v1/runs", json={"agent": "napper", "input": "rest"}).json()
            with client.stream("GET", f"/v1/runs/{run['run_id']}/events") as response:
                body = "".join(response.iter_text())
    assert body.count(": keepalive\n\n") >= 2
    frames, _ = parse(body)
    assert frames[-1].event == "end" and frames[-1].json()["status"] == "completed"
