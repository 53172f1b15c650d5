"""An open event stream ends once the API key it was opened with is revoked.

Red team 16: after ``tether keys revoke``, plain requests with the key got 401, but a
stream opened before kept receiving the run's events to its end (the key was checked
at connect only). The server re-reads the keys of open streams every ``sse_key_check``
seconds; a revoked key's streams get ``event: error`` (``key_revoked``) and are closed,
while other keys' streams of the same run go on.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from _live import LiveServer, live_server
from _sse_client import Frame, parse

from tether import Agent, tool
from tether.testing import ScriptedModel, text, tool_call

GATE = threading.Event()


@tool
async def wait_for_gate() -> str:
    """Block until the test lets the run go on."""
    await asyncio.to_thread(GATE.wait, 120)
    return "gate opened"


HELD = Agent(
    name="held",
    model=ScriptedModel([tool_call("wait_for_gate"), text("done")]),
    tools=[wait_for_gate],
)


@pytest.fixture
def srv(store_url: str) -> Iterator[LiveServer]:
    GATE.clear()
    # A short key-check interval; keep-alives far apart, so a stream that is never ended
    # goes silent and the client's read timeout fails the test instead of hanging it.
    options = {"sse_key_check": 0.05, "sse_keepalive": 3600.0}
    try:
        with live_server(store_url, [HELD], app_options=options) as live:
            yield live
    finally:
        GATE.set()


def _follow(srv: LiveServer, key: str, run_id: str, live: threading.Event) -> list[Frame]:
    """Read the run's stream to its end; ``live`` is set once its first event arrived."""
    frames: list[Frame] = []
    buffer = ""
    headers = {"Authorization": f"Bearer {key}"}
    with (
        httpx.Client(base_url=srv.url, headers=headers, timeout=30) as client,
        client.stream("GET", f"/v1/runs/{run_id}/events") as response,
    ):
        assert response.status_code == 200, response.read()
        for chunk in response.iter_text():
            got, buffer = parse(buffer + chunk)
            frames.extend(got)
            if any(f.id is not None for f in frames):
                live.set()
    return frames


def test_a_revoked_keys_stream_is_ended_and_other_keys_streams_go_on(srv: LiveServer) -> None:
    revoked = srv.key("acme", ["runs:read", "runs:write"], label="revoked")
    kept = srv.key("acme", ["runs:read"], label="kept")
    with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {revoked}"}) as c:
        run = c.post("/v1/runs", json={"agent": "held", "input": "go"}).json()
    run_id = run["run_id"]

    with ThreadPoolExecutor(3) as pool:
        live = [threading.Event() for _ in range(3)]
        doomed = [pool.submit(_follow, srv, revoked, run_id, live[i]) for i in range(2)]
        other = pool.submit(_follow, srv, kept, run_id, live[2])
        for event in live:
            assert event.wait(30), "a stream never delivered its first event"

        srv.revoke(revoked)
        for future in doomed:
            frames = future.result(timeout=60)
            last = frames[-1]
            assert last.event == "error", frames
            error = last.json()
            assert error["code"] == "key_revoked"
            assert revoked.split("_", 2)[1] in error["message"]
            assert isinstance(error["last_seq"], int)
            assert error["last_seq"] == max(int(f.id) for f in frames if f.id is not None)
            assert not any(f.event == "end" for f in frames)
        # The revoked key opens no new stream.
        with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {revoked}"}) as c:
            assert c.get(f"/v1/runs/{run_id}/events").status_code == 401

        # The other key's stream was open all along: it follows the run to its end.
        assert not other.done()
        GATE.set()
        frames = other.result(timeout=60)
        assert frames[-1].event == "end", frames
        assert frames[-1].json()["status"] == "completed"
        assert not any(f.event == "error" for f in frames)


def test_the_keys_of_open_streams_are_read_once_per_key_per_round(srv: LiveServer) -> None:
    """Twenty streams on one key cost one key read per check, not twenty."""
    key = srv.key("acme", ["runs:read", "runs:write"])
    with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {key}"}) as c:
        run_id = c.post("/v1/runs", json={"agent": "held", "input": "go"}).json()["run_id"]
    key_id = key.split("_", 2)[1]
    streams = srv.app.state.streams
    store = srv.runtime.store
    counts = {"rounds": 0, "reads": 0}
    ten_rounds = asyncio.Event()
    real_valid_keys = streams._valid_keys
    real_get_api_key = store.get_api_key

    async def valid_keys(key_ids: list[str]) -> set[str]:
        counts["rounds"] += 1
        if counts["rounds"] >= 10:
            ten_rounds.set()
        return set(await real_valid_keys(key_ids))

    async def get_api_key(wanted: str) -> object:
        if wanted == key_id:
            counts["reads"] += 1
        return await real_get_api_key(wanted)

    with ThreadPoolExecutor(20) as pool:
        live = [threading.Event() for _ in range(20)]
        followers = [pool.submit(_follow, srv, key, run_id, live[i]) for i in range(20)]
        for event in live:
            assert event.wait(30), "a stream never delivered its first event"

        async def instrument() -> None:  # on the server's loop, between two of its steps
            streams._valid_keys = valid_keys
            store.get_api_key = get_api_key  # type: ignore[method-assign]

        srv.call(instrument())

        async def after_ten_rounds() -> tuple[int, int]:
            await ten_rounds.wait()
            return counts["rounds"], counts["reads"]

        rounds, reads = srv.call(after_ten_rounds(), timeout=60)
        # Each round reads the key once (the last may not have read it yet).
        assert rounds - 1 <= reads <= rounds
        GATE.set()
        for future in followers:
            assert future.result(timeout=60)[-1].event == "end"


def test_which_keys_are_valid_is_read_one_by_one_or_in_one_listing(srv: LiveServer) -> None:
    """Few keys are read one by one, many in one listing: both say the same."""
    keys = [srv.key(f"t{i % 3}", ["runs:read"]) for i in range(40)]
    ids = [k.split("_", 2)[1] for k in keys]
    for key in keys[::4]:
        srv.revoke(key)
    revoked = set(ids[::4])
    unknown = ["0123456789abcdef", "no-such-key"]
    streams = srv.app.state.streams
    few = ids[:6] + unknown
    assert srv.call(streams._valid_keys(few)) == set(ids[:6]) - revoked
    many = ids + unknown
    assert len(many) > 32
    assert srv.call(streams._valid_keys(many)) == set(ids) - revoked
