"""A run's events as resumable Server-Sent Events, to any number of clients.

One :class:`_RunFeed` per followed run (and per delta preference) subscribes to the
runtime once and fans each commit out to its clients, each frame encoded once and
shared. A client first replays the stored log after its position (``Last-Event-ID``
or ``?after=``), then takes live frames from its own buffer, skipping what it already
sent and filling any gap from the store: sequence numbers are contiguous, so a client
never misses a stored event, whatever the timing of its join.

Nothing a client does reaches the run: the runtime fills the feed's queue without
waiting, and the feed appends to each client's buffer without waiting. A buffer is
bounded (bytes of frames not yet handed to the socket): a client that falls that far
behind has its buffer dropped and is sent ``event: overflow`` with the position to
resume from, then disconnected. A client that does not even read that frame within
``overflow_grace`` seconds is cut off.

Runs driven by another process publish nothing here: a feed that hears nothing for
``poll`` seconds reads the store, and also ends the stream once the run is parked or
finished and every stored event was sent.

A stream outlives the request that authenticated it, so the API key it was opened with
is read again every ``key_check`` seconds (one store read per key, however many streams
use it): once the key is revoked or gone, each of its streams is sent ``event: error``
(``key_revoked``) and closed, as its next plain request would be refused with 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from typing import Any

import anyio
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tether.engine import PARKED, TERMINAL, RunEvent, encode_event
from tether.runtime import LiveDelta, Runtime
from tether.store import EventRow, RunRecord

log = logging.getLogger("tether.server.sse")

_STOPPED = frozenset({*TERMINAL, *PARKED})
_KEY_READS = 32
"""Up to this many keys are re-read one by one; more are read in one listing."""
_CHUNK = 64 * 1024
"""Replayed history is sent in writes of about this many bytes."""
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # reverse proxies: do not buffer the stream
}


# -- frames -------------------------------------------------------------------------------


def shown(value: Any) -> Any:
    """A sealed value without its ciphertext: ``{"$sealed": true}`` keeps the marker."""
    if isinstance(value, dict):
        if "$sealed" in value and set(value) <= {"$sealed", "kid"}:
            return {"$sealed": True}
        return {key: shown(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shown(item) for item in value]
    return value


def shown_json(data: bytes) -> bytes:
    """Persisted event JSON as clients see it (sealed values keep only their marker)."""
    if b'"$sealed"' not in data:
        return data
    return json.dumps(shown(json.loads(data)), separators=(",", ":")).encode()


def event_frame(seq: int, step: int, ts: float, kind: str, data: bytes) -> bytes:
    """One stored event as an SSE frame; its ``id`` is the sequence number."""
    return b'id: %d\nevent: %s\ndata: {"seq":%d,"step":%d,"ts":%s,"type":%s,"data":%s}\n\n' % (
        seq,
        kind.encode(),
        seq,
        step,
        repr(ts).encode(),
        json.dumps(kind).encode(),
        shown_json(data),
    )


def _row_frame(row: EventRow) -> bytes:
    return event_frame(row.seq, row.step, row.ts, row.type, row.data)


def _live_frame(rec: RunEvent) -> bytes:
    return event_frame(rec.seq, rec.step, rec.ts, rec.type, rec.data or encode_event(rec.event))


def _control_frame(kind: bytes, payload: dict[str, Any]) -> bytes:
    return b"event: %s\ndata: %s\n\n" % (kind, json.dumps(payload).encode())


def end_frame(status: str | None, last_seq: int) -> bytes:
    """The last frame of a stream whose run stopped (finished or parked)."""
    return _control_frame(b"end", {"status": status, "last_seq": last_seq})


def overflow_frame(resume_after: int) -> bytes:
    """The last frame to a client that fell too far behind: where to resume."""
    return _control_frame(b"overflow", {"resume_after": resume_after})


def revoked_frame(key_id: str, last_seq: int) -> bytes:
    """The last frame of a stream whose API key was revoked while it was open."""
    return _control_frame(
        b"error",
        {
            "code": "key_revoked",
            "message": f"the API key {key_id} was revoked; this stream ends (use another key)",
            "last_seq": last_seq,
        },
    )


# -- per-client buffers and per-run feeds -------------------------------------------------


class _End:
    __slots__ = ("last_seq", "status")

    def __init__(self, status: str | None, last_seq: int) -> None:
        self.status = status
        self.last_seq = last_seq


class _Batch:
    """Frames published together, joined once for every client.

    ``frames`` pairs each frame with its sequence number (``0`` for a delta).
    ``first``/``last`` bound the stored events in it; ``whole`` says they are
    contiguous, so a client that has sent up to ``first - 1`` sends ``blob`` as it is.
    """

    __slots__ = ("blob", "first", "frames", "last", "whole")

    def __init__(self, frames: list[tuple[int, bytes]]) -> None:
        self.frames = frames
        self.blob = b"".join(frame for _, frame in frames)
        seqs = [seq for seq, _ in frames if seq]
        self.first = seqs[0] if seqs else 0
        self.last = seqs[-1] if seqs else 0
        self.whole = not seqs or self.last - self.first + 1 == len(seqs)


_Item = _Batch | _End
"""Frames to send, or the end of the run's stream."""
_QUIET = object()
"""Nothing arrived in time (the runtime's queue itself says ``None`` when a driver stops)."""


class _Client:
    """One connection's bounded buffer of frames not yet handed to its socket."""

    __slots__ = (
        "cancel",
        "feed",
        "items",
        "key_id",
        "limit",
        "overflowed",
        "pinged",
        "revoked",
        "size",
        "waiter",
        "watchdog",
    )

    def __init__(self, feed: _RunFeed, limit: int, key_id: str | None = None) -> None:
        self.feed = feed
        self.key_id = key_id
        self.revoked = False
        self.items: deque[_Item] = deque()
        self.size = 0
        self.limit = limit
        self.waiter: asyncio.Future[None] | None = None
        self.overflowed = False
        self.pinged = False
        self.cancel: anyio.CancelScope | None = None
        self.watchdog: asyncio.TimerHandle | None = None

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Until something is pushed, the client overflows or is revoked, or a keep-alive
        is due."""
        if self.items or self.overflowed or self.revoked or self.pinged:
            return
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None

    def push(self, item: _Item) -> None:
        if self.overflowed:
            return
        if isinstance(item, _Batch):
            # Lagging means holding unread frames when more arrive: a client that has
            # read everything takes the next commit whole, however large it is.
            if self.items and self.size + len(item.blob) > self.limit:
                self.overflow()
                return
            self.size += len(item.blob)
        self.items.append(item)
        self._wake()

    def ping(self) -> None:
        self.pinged = True
        self._wake()

    def overflow(self) -> None:
        self.overflowed = True
        self._drop()

    def revoke(self) -> None:
        """The client's API key was revoked: it gets no more frames, only the last one."""
        if self.overflowed or self.revoked or self not in self.feed.clients:
            return  # already told to go, or its stream ended meanwhile
        self.revoked = True
        self._drop()

    def _drop(self) -> None:
        """Leave the feed; the stream sends its last frame, or is cut off after a grace."""
        self.items.clear()
        self.size = 0
        self._wake()
        self.feed.leave(self)
        if self.cancel is not None:
            scope = self.cancel
            grace = self.feed.streams.overflow_grace
            self.watchdog = asyncio.get_running_loop().call_later(grace, scope.cancel)

    def take(self) -> list[_Item]:
        items = list(self.items)
        self.items.clear()
        self.size = 0
        self.pinged = False
        return items


class _RunFeed:
    """One run's live commits, fanned out to every client following it."""

    def __init__(self, streams: RunStreams, run_id: str, deltas: bool) -> None:
        self.streams = streams
        self.run_id = run_id
        self.deltas = deltas
        self.clients: set[_Client] = set()
        self.last = 0
        # Subscribed now, before any client reads history: nothing committed from here on
        # can pass unseen (and the clients fill whatever came before from the store).
        self.queue = streams.runtime.subscribe(run_id, deltas=deltas)
        self.task = asyncio.get_running_loop().create_task(
            self._pump(), name=f"tether-sse-{run_id}"
        )

    def leave(self, client: _Client) -> None:
        self.clients.discard(client)
        if not self.clients and not self.task.done():
            self.task.cancel()

    def _send(self, item: _Item) -> None:
        for client in list(self.clients):
            client.push(item)

    def _add_events(self, events: list[RunEvent], frames: list[tuple[int, bytes]]) -> None:
        for rec in events:
            if rec.seq > self.last:
                self.last = rec.seq
                frames.append((rec.seq, _live_frame(rec)))

    def _add_rows(self, rows: list[EventRow], frames: list[tuple[int, bytes]]) -> None:
        for row in rows:
            if row.seq > self.last:
                self.last = row.seq
                frames.append((row.seq, _row_frame(row)))

    def _add(self, item: Any, frames: list[tuple[int, bytes]]) -> bool:
        """Take one item of the runtime's queue; ``False`` if it asks for a store look."""
        if isinstance(item, list):
            self._add_events(item, frames)
            return True
        if isinstance(item, LiveDelta):
            frames.append((0, _delta_frame(item)))
            return True
        return False

    async def _next(self, within: float) -> Any:
        """The queue's next item, or ``_QUIET`` after ``within`` seconds of silence."""
        try:
            return self.queue.get_nowait()
        except asyncio.QueueEmpty:
            pass
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                return await self.queue.get()
        return _QUIET

    async def _pump(self) -> None:
        runtime = self.streams.runtime
        store = runtime.store
        handle = runtime.get(self.run_id)
        try:
            record = await store.get_run(self.run_id)
            self.last = record.last_seq if record is not None else 0
            look = True  # at once: the run may have stopped already
            while self.clients:
                if not look:
                    frames: list[tuple[int, bytes]] = []
                    look = not self._add(await self._next(self.streams.poll), frames)
                    # What else is queued already goes out with it: one write per client.
                    while frames and not look and not self.queue.empty():
                        look = not self._add(self.queue.get_nowait(), frames)
                    if frames:
                        self._send(_Batch(frames))
                    if not look:
                        continue
                # Quiet, or the driver here stopped: read the store; end if the run stopped.
                look = False
                try:
                    frames = []
                    self._add_rows(
                        await store.load_events(self.run_id, after_seq=self.last), frames
                    )
                    if frames:
                        self._send(_Batch(frames))
                    record = await store.get_run(self.run_id)
                except Exception as exc:  # keep streaming through a store hiccup
                    log.warning("stream of run %s: cannot read the store: %s", self.run_id, exc)
                    continue
                if _ended(record, self.last) and not handle.driven_here():
                    self._send(_End(record.status if record else None, self.last))
                    return
        except Exception:
            # A bug, not a client's doing: tell every client to reconnect where it is.
            log.exception("stream of run %s failed; its clients are told to resume", self.run_id)
            for client in list(self.clients):
                client.overflow()
        finally:
            runtime.unsubscribe(self.run_id, self.queue)
            self.streams._forget(self)


def _ended(record: RunRecord | None, last: int) -> bool:
    return record is None or (record.status in _STOPPED and record.last_seq <= last)


def _delta_frame(item: LiveDelta) -> bytes:
    return b"event: delta\ndata: %s\n\n" % item.delta.model_dump_json().encode()


class RunStreams:
    """The live feeds of one app: at most one per run and delta preference.

    Args:
        runtime: The open runtime whose runs are streamed.
        buffer_bytes: How many bytes of frames a client may lag behind before it is sent
            ``overflow`` and disconnected.
        overflow_grace: Seconds an overflowed client has to read its last frames.
        poll: Seconds of silence after which a feed reads the store (runs driven by
            another process, and the end of a stream).
        keepalive: Seconds between comment lines on an idle stream.
        key_check: Seconds between reads of the API keys open streams were opened with
            (a stream whose key was revoked or deleted meanwhile is ended).
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        buffer_bytes: int = 1 << 20,
        overflow_grace: float = 10.0,
        poll: float = 0.5,
        keepalive: float = 15.0,
        key_check: float = 1.0,
    ) -> None:
        self.runtime = runtime
        self.buffer_bytes = buffer_bytes
        self.overflow_grace = overflow_grace
        self.poll = poll
        self.keepalive = keepalive
        self.key_check = key_check
        self._feeds: dict[tuple[str, bool], _RunFeed] = {}
        self._pinger: asyncio.Task[None] | None = None
        self._key_watch: asyncio.Task[None] | None = None

    def _join(self, run_id: str, deltas: bool, key_id: str | None = None) -> _Client:
        feed = self._feeds.get((run_id, deltas))
        if feed is None:
            feed = self._feeds[(run_id, deltas)] = _RunFeed(self, run_id, deltas)
        client = _Client(feed, self.buffer_bytes, key_id)
        feed.clients.add(client)
        loop = asyncio.get_running_loop()
        if self._pinger is None or self._pinger.done():
            self._pinger = loop.create_task(self._ping())
        if key_id is not None and (self._key_watch is None or self._key_watch.done()):
            self._key_watch = loop.create_task(self._watch_keys(), name="tether-sse-keys")
        return client

    async def _watch_keys(self) -> None:
        """Every ``key_check`` seconds, end the streams whose API key was revoked or deleted.

        One task for all streams, and one store read per key per round however many
        streams use it (one listing of every key when more than :data:`_KEY_READS` are
        in use). A store that fails to answer ends nothing: the next round reads again.
        """
        while True:
            await asyncio.sleep(self.key_check)
            by_key: dict[str, list[_Client]] = {}
            for feed in list(self._feeds.values()):
                for client in feed.clients:
                    if client.key_id is not None:
                        by_key.setdefault(client.key_id, []).append(client)
            if not by_key:
                return  # the next stream with a key starts a new watch
            try:
                valid = await self._valid_keys(list(by_key))
            except Exception as exc:
                log.warning("cannot re-read the API keys of open streams: %s", exc)
                continue
            for key_id, clients in by_key.items():
                if key_id not in valid:
                    log.info("API key %s revoked or gone: %d stream(s) end", key_id, len(clients))
                    for client in clients:
                        client.revoke()

    async def _valid_keys(self, key_ids: list[str]) -> set[str]:
        """Which of ``key_ids`` are stored and not revoked."""
        store = self.runtime.store
        if len(key_ids) <= _KEY_READS:
            found = await asyncio.gather(*(store.get_api_key(k) for k in key_ids))
            records = [record for record in found if record is not None]
        else:
            records = await store.list_api_keys()
        return {record.key_id for record in records if not record.revoked}

    async def _ping(self) -> None:
        """Every ``keepalive`` seconds, have each idle stream send a comment line.

        One timer for all streams, not one per client and wait.
        """
        while self._feeds:
            await asyncio.sleep(self.keepalive)
            for feed in list(self._feeds.values()):
                for client in list(feed.clients):
                    if not client.items:
                        client.ping()

    def _forget(self, feed: _RunFeed) -> None:
        key = (feed.run_id, feed.deltas)
        if self._feeds.get(key) is feed:
            del self._feeds[key]

    @property
    def clients(self) -> int:
        """Connections streaming right now."""
        return sum(len(feed.clients) for feed in self._feeds.values())

    async def close(self) -> None:
        """Stop every feed (the app is shutting down)."""
        tasks = [feed.task for feed in self._feeds.values()]
        for timer in (self._pinger, self._key_watch):
            if timer is not None:
                tasks.append(timer)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def response(
        self, run_id: str, *, after: int, deltas: bool, key_id: str | None = None
    ) -> EventStream:
        """The streaming response for one client of ``run_id``, resuming after ``after``.

        ``key_id`` is the stored API key the client authenticated with: the stream ends
        once that key is revoked. ``None`` (no key) streams until the run stops.
        """
        return EventStream(self, run_id, after=after, deltas=deltas, key_id=key_id)


_DIRECT_SEND = "tether.sse.send"


class DirectSend:
    """Keep the server's own ``send`` in the scope, for event streams to write frames with.

    Between a response and the server, Starlette's exception handlers each wrap ``send``
    (to learn whether a response started): a coroutine call per layer per write, a
    sizeable share of a frame's cost when one commit goes to a thousand clients. A stream
    starts its response through the wrapped ``send`` (so the handlers know it started)
    and writes its frames through this one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[_DIRECT_SEND] = send
        await self.app(scope, receive, send)


class EventStream(Response):
    """``text/event-stream`` of one run for one client (an ASGI response)."""

    media_type = "text/event-stream"

    def __init__(
        self,
        streams: RunStreams,
        run_id: str,
        *,
        after: int,
        deltas: bool,
        key_id: str | None = None,
    ) -> None:
        # No body and so no Content-Length (Response.__init__ would declare 0 bytes).
        self.status_code = 200
        self.background = None
        self.init_headers(_HEADERS)
        self.streams = streams
        self.run_id = run_id
        self.after = after
        self.deltas = deltas
        self.key_id = key_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = self.streams._join(self.run_id, self.deltas, self.key_id)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            send = scope.get(_DIRECT_SEND, send)
            async with anyio.create_task_group() as group:
                client.cancel = group.cancel_scope
                group.start_soon(_watch_disconnect, receive, group.cancel_scope)
                await self._stream(client, send)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                group.cancel_scope.cancel()
        finally:
            client.feed.leave(client)
            if client.watchdog is not None:
                client.watchdog.cancel()

    async def _stream(self, client: _Client, send: Send) -> None:
        store = self.streams.runtime.store
        sent = self.after

        async def flush(frames: list[bytes], upto: int) -> None:
            nonlocal sent
            if frames:
                await send(
                    {"type": "http.response.body", "body": b"".join(frames), "more_body": True}
                )
            sent = upto

        async def fill(mark: int, below: int, frames: list[bytes]) -> int:
            """Stored events after ``mark`` and before ``below``, appended to ``frames``."""
            for row in await store.load_events(self.run_id, after_seq=mark):
                if row.seq >= below:
                    break
                frames.append(_row_frame(row))
                mark = row.seq
            return mark

        # The stored log first, in chunks.
        frames: list[bytes] = [b"retry: 2000\n\n"]
        size = 0
        mark = sent
        for row in await store.load_events(self.run_id, after_seq=sent):
            frame = _row_frame(row)
            frames.append(frame)
            size += len(frame)
            mark = row.seq
            if size >= _CHUNK:
                await flush(frames, mark)
                frames, size = [], 0
                if client.revoked:
                    break  # no more of the history: the loop below ends the stream
        else:
            await flush(frames, mark)

        # Then live frames, until the run stops, the client leaves or falls behind.
        while True:
            await client.wait()
            if client.overflowed:
                await send(
                    {"type": "http.response.body", "body": overflow_frame(sent), "more_body": True}
                )
                return
            if client.revoked:
                assert client.key_id is not None  # only a client with a key is revoked
                body = revoked_frame(client.key_id, sent)
                await send({"type": "http.response.body", "body": body, "more_body": True})
                return
            if not client.items:  # idle for a keep-alive period
                client.pinged = False
                await send(
                    {"type": "http.response.body", "body": b": keepalive\n\n", "more_body": True}
                )
                continue
            frames = []
            mark = sent
            for item in client.take():
                if isinstance(item, _End):
                    if item.last_seq > mark:
                        mark = await fill(mark, item.last_seq + 1, frames)
                    frames.append(end_frame(item.status, mark))
                    await flush(frames, mark)
                    return
                if item.whole and item.first in (0, mark + 1):
                    frames.append(item.blob)  # the usual case: exactly what comes next
                    mark = item.last or mark
                    continue
                for seq, frame in item.frames:
                    if seq == 0:  # a delta: live only, no position
                        frames.append(frame)
                        continue
                    if seq <= mark:
                        continue  # already sent (from the stored log)
                    if seq > mark + 1:
                        mark = await fill(mark, seq, frames)
                    frames.append(frame)
                    mark = seq
            await flush(frames, mark)


async def _watch_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    """Stop the stream as soon as the client goes away."""
    with contextlib.suppress(Exception):
        while (await receive())["type"] != "http.disconnect":
            pass
    scope.cancel()
