"""What an event looks like in the store, and what the run folds: never the same question.

Redaction protects what leaves the process (the store, exports, traces, the UI) and
never changes what executes. So the driver folds the event as it happened (a tool gets
the real password, an approver edits the real arguments) and persists a *sealed* copy:
every sensitive value (a sensitive field name, a credential shape, a value the secrets
broker handed out) is encrypted by the payload codec, whose key lives outside the store,
or, without a codec, replaced by a ``$redacted`` reference. Loading a run unseals what
the codec can decrypt; what it cannot stays a marker, and a write whose arguments still
hold one parks as an uncertain write instead of running with a placeholder.

One exception to "fold what happened": values the secrets broker handed to a tool are
credentials the model never needs, so a tool output that echoes one (raw or encoded)
is scrubbed before it joins the conversation.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tether.engine._events import (
    UNKNOWN_TOOL_LABEL,
    ApprovalDecided,
    ApprovalRequested,
    ModelCompleted,
    ToolCompleted,
    ToolFailed,
    ToolStarted,
    Transitioned,
    _Event,
    decode_event,
    encode_event_as_stored,
)
from tether.models import StreamDelta
from tether.observe import (
    DEFAULT_STRUCTURAL_KEYS,
    OFFLOAD_BYTES,
    PayloadCodec,
    Redactor,
    is_marker,
    is_weak_value,
    keep_blob,
    sealed_marker,
    unseal,
)
from tether.tools import ToolCallError

_BOUNDARIES: dict[str, bytes] = {}
"""The stored bytes of a bare ``transition`` event, by target state."""
_MAX_BOUNDARIES = 4096  # machines have a few states; agents built on the fly may bring more
_EXECUTES = (ToolStarted, ApprovalRequested, ApprovalDecided)
"""Events whose ``arguments`` will run: sealed whole, never masked (so are tool calls')."""
_TOOL_OUTPUT = (ToolCompleted, ToolFailed)
_MARKERS = (b'"$sealed"', b'"$redacted"')


@dataclass(frozen=True, slots=True)
class PayloadProtection:
    """Seals events for the store and unseals them for execution.

    Args:
        redactor: Finds sensitive values (names, shapes, known values).
        codec: Encrypts them recoverably; ``None`` stores references instead.
        known_values: A redactor of only the broker's values, for tool outputs the
            model will read (``None``: nothing is scrubbed from the conversation).
    """

    redactor: Redactor | None = None
    codec: PayloadCodec | None = None
    known_values: Redactor | None = None

    def protect(self, event: _Event, quoted: Quoted = ()) -> tuple[_Event, bytes]:
        """The event to fold and the bytes to persist (a few µs when there is no secret).

        Text the log cannot hold (a lone surrogate) is folded as the log holds it, so the
        run goes on from what a reader of the log, or a resumed run, will see.
        ``quoted``: values sealed for their key earlier in the run (:func:`quoted_values`),
        masked where this event's text repeats them (a tool that echoes the password it
        was given, a reply that reads it back).
        """
        if type(event) is Transitioned and event.data is None:
            # A bare step boundary holds nothing but a state name: its bytes are the same
            # every time (one per state of the machine), nothing to scan.
            data = _BOUNDARIES.get(event.to)
            if data is None:
                event, data = encode_event_as_stored(event)
                if type(event) is Transitioned:  # not a copy with replaced text
                    if len(_BOUNDARIES) >= _MAX_BOUNDARIES:
                        _BOUNDARIES.clear()
                    _BOUNDARIES[event.to] = data
            return event, data
        event, data = encode_event_as_stored(event)
        redactor = self.redactor
        if redactor is None:
            return event, data
        if not redactor.scan(data) and not (quoted and _holds(data, quoted)):
            return event, data
        return self._seal(event, data, quoted)

    async def aprotect(self, event: _Event, quoted: Quoted = ()) -> tuple[_Event, bytes]:
        """:meth:`protect`, in a worker thread when the payload is large (no loop stall)."""
        event, data = encode_event_as_stored(event)
        redactor = self.redactor
        if redactor is None:
            return event, data
        if len(data) > OFFLOAD_BYTES:
            if not await asyncio.to_thread(_may_seal, redactor, data, quoted):
                return event, data
            return await asyncio.to_thread(self._seal, event, data, quoted)
        if not redactor.scan(data) and not (quoted and _holds(data, quoted)):
            return event, data
        return self._seal(event, data, quoted)

    async def keep_text(self, data: bytes) -> bytes:
        """A UTF-8 text blob (the prompt prefix) as the store may keep it: as it is when
        clean, else sealed whole, or with its secrets redacted without a codec
        (:func:`~tether.observe.keep_blob`), in a worker thread when it is large."""
        redactor = self.redactor
        if redactor is None:
            return data
        text = data.decode("utf-8", "surrogatepass")
        if len(data) > OFFLOAD_BYTES:  # linear, but not for the event loop
            kept, _ = await asyncio.to_thread(keep_blob, data, redactor, self.codec, text=text)
        else:
            kept, _ = keep_blob(data, redactor, self.codec, text=text)
        assert kept is not None  # text is redacted, never refused
        return kept

    def restore(self, data: bytes) -> bytes:
        """Persisted bytes with every marker the codec can open turned back into its value."""
        if not sealed_something(data):
            return data
        restored = _unseal_what_we_can(json.loads(data), self.codec)
        return json.dumps(restored, separators=(",", ":"), ensure_ascii=False).encode()

    def _seal(self, event: _Event, data: bytes, quoted: Quoted = ()) -> tuple[_Event, bytes]:
        redactor = self.redactor
        assert redactor is not None
        obj: dict[str, Any] = json.loads(data)
        fold = event
        if isinstance(event, _TOOL_OUTPUT) and self.known_values is not None:
            cleaned = self.known_values.redact_value(obj)
            if cleaned is not obj:
                obj = cleaned
                fold = decode_event(json.dumps(obj))
        envelope = {k: obj.pop(k) for k in list(obj) if k in DEFAULT_STRUCTURAL_KEYS}
        # Arguments that will run are sealed whole (exact text back, or a reference that
        # parks the call); the rest is text for people, masked when there is no key.
        arguments = _take_arguments(event, obj)
        sealed_args = [redactor.seal(a, self.codec) for a in arguments]
        if quoted:
            # A call that repeats a value the run sealed before (an email carrying the API
            # key a tool returned): each string holding one is sealed whole, as one holding
            # a credential is, so it runs exactly and is stored sealed.
            values = [value for value, _needle in quoted]
            sealed_args = [_seal_quoted(a, values, self.codec) for a in sealed_args]
        # What the event says about its own arguments (an approval's preview and
        # reasoning, the reply that made the call) may quote a value sealed for its key
        # ("set bob's password to hunter22"): masked there too (red team 16, hole 1).
        masked = _values_under_sensitive_keys(redactor, arguments, _MIN_QUOTED)
        masked += [value for value, _needle in quoted]
        if masked:
            longest_first = sorted(set(masked), key=len, reverse=True)
            obj = _mask_values(obj, longest_first, redactor.replacement)
        rest = redactor.seal(obj, self.codec, mask_text=self.codec is None)
        persisted = _put_arguments(event, {**envelope, **rest}, sealed_args)
        encoded = _dumps(persisted)
        if not _decodes(encoded):
            # A marker landed in a typed text field (a reply that *is* a secret): show
            # that part masked instead, so the log always reads back.
            rest = redactor.for_display(obj)
            encoded = _dumps(_put_arguments(event, {**envelope, **rest}, sealed_args))
        return fold, encoded


@dataclass(frozen=True, slots=True)
class ProtectedArtifacts:
    """The run's store as tools keep artifacts in it (``ToolContext.artifacts``).

    A blob a tool keeps leaves the process like an event does, so it is protected the
    same way, with the runtime's redactor (the secrets broker's values included) and
    payload codec: kept as it is when clean, else sealed, or without a codec kept as
    redacted text; a binary blob that may hold a secret is refused without a codec.
    """

    store: Any
    protection: PayloadProtection
    quoted: Callable[[], Quoted] | None = None
    """The run's values sealed for their key so far (see :func:`quoted_values`): a blob
    repeating one is kept as one holding a secret is (red team 17, hole 11)."""

    async def get_blob(self, key: str) -> bytes | None:
        """What is kept under ``key`` (as kept: a sealed blob stays sealed)."""
        data: bytes | None = await self.store.get_blob(key)
        return data

    async def put_blob(self, key: str, data: bytes) -> None:
        """Keep ``data`` under ``key``, protected (see the class).

        Raises:
            ToolCallError: a binary blob may hold a secret and no codec can seal it.
        """
        redactor = self.protection.redactor
        if redactor is not None:
            codec = self.protection.codec
            if len(data) > OFFLOAD_BYTES:  # linear, but not for the event loop
                kept, note = await asyncio.to_thread(keep_blob, data, redactor, codec)
            else:
                kept, note = keep_blob(data, redactor, codec)
            quoted = self.quoted() if self.quoted is not None else ()
            if kept is data and quoted and any(v.encode() in data for v, _needle in quoted):
                values = frozenset(v for v, _needle in quoted)
                repeats = Redactor(field_names=(), patterns=(), values_source=lambda: values)
                kept, note = keep_blob(data, repeats, codec)
            if kept is None:
                raise ToolCallError(note or "the artifact was not kept", error_code="not_kept")
            data = kept
        await self.store.put_blob(key, data)


def _take_arguments(event: _Event, obj: dict[str, Any]) -> list[Any]:
    """Remove and return the argument objects of an event (they are sealed whole)."""
    if isinstance(event, ModelCompleted):
        calls = obj.get("response", {}).get("tool_calls") or []
        return [call.pop("arguments", {}) for call in calls]
    if isinstance(event, _EXECUTES) and "arguments" in obj:
        return [obj.pop("arguments")]
    return []


_MIN_QUOTED = 4
"""Shortest sealed argument value masked where the same event quotes it (shorter ones
would mask ordinary words and numbers)."""
_MIN_QUOTED_LATER = 6
"""Shortest one masked where a later event of the run quotes it (see :func:`quoted_values`)."""

Quoted = tuple[tuple[str, bytes], ...]
"""Values sealed for their key earlier in a run, each with its form inside stored JSON."""


def quoted_values(redactor: Redactor | None, arguments: Iterable[Any]) -> Quoted:
    """The values under sensitive keys in ``arguments`` (tool calls' arguments, a run's
    input) that later events of the run must not repeat in clear.

    At least :data:`_MIN_QUOTED_LATER` characters, and not a *weak* value
    (:func:`~tether.observe.is_weak_value`): masking every "123456" or "welcome" in every
    later text would destroy more than it protects (the redactor's rule for known values).
    """
    if redactor is None:
        return ()
    found = _values_under_sensitive_keys(redactor, list(arguments), _MIN_QUOTED_LATER)
    return tuple(
        (value, json.dumps(value, ensure_ascii=False)[1:-1].encode())
        for value in found
        if not is_weak_value(value)
    )


def sealed_something(data: bytes) -> bool:
    """Whether stored bytes hold a sealed (or redacted) value: a marker's key."""
    # find(), not ``in``: ``bytes in bytes`` first tries its needle as an int and builds a
    # TypeError, most of its cost on an event (see ``Redactor.scan``).
    return data.find(_MARKERS[0]) != -1 or data.find(_MARKERS[1]) != -1


def learn_quoted(redactor: Redactor | None, known: Quoted, event: _Event, data: bytes) -> Quoted:
    """``known`` plus the values under sensitive keys of ``event``, when its stored form
    ``data`` sealed something (any event: a tool result's ``api_key``, a signal's
    ``password``, a call's arguments). A look for a marker in C on every other event."""
    if redactor is None or not sealed_something(data):
        return known
    found = quoted_values(redactor, [event.model_dump()])
    return known + tuple(q for q in found if q not in known) if found else known


def _holds(data: bytes, quoted: Quoted) -> bool:
    """Whether stored ``data`` repeats one of the ``quoted`` values."""
    return any(data.find(needle) != -1 for _value, needle in quoted)


def _may_seal(redactor: Redactor, data: bytes, quoted: Quoted) -> bool:
    return redactor.scan(data) or (bool(quoted) and _holds(data, quoted))


def _values_under_sensitive_keys(
    redactor: Redactor, arguments: list[Any], shortest: int
) -> list[str]:
    """The text of every argument value that is sealed for its key (a password, a token),
    longest first, so a value inside another is masked after it."""
    found: set[str] = set()

    def leaves(value: Any) -> None:
        if isinstance(value, str):
            if len(value.strip()) >= shortest:
                found.add(value.strip())
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if len(str(value)) >= shortest:
                found.add(str(value))
        elif isinstance(value, dict):
            for item in value.values():
                leaves(item)
        elif isinstance(value, list | tuple):
            for item in value:
                leaves(item)

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and redactor.is_sensitive_key(key):
                    leaves(item)
                else:
                    walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    for argument in arguments:
        walk(argument)
    return sorted(found, key=len, reverse=True)


def _seal_quoted(obj: Any, values: list[str], codec: PayloadCodec | None) -> Any:
    """``obj`` with every string that holds one of ``values`` sealed whole (markers, which
    hold no plaintext, are left as they are)."""
    if isinstance(obj, str):
        return sealed_marker(obj, codec, "text") if any(v in obj for v in values) else obj
    if isinstance(obj, dict):
        if is_marker(obj):
            return obj
        return {key: _seal_quoted(item, values, codec) for key, item in obj.items()}
    if isinstance(obj, list):
        return [_seal_quoted(item, values, codec) for item in obj]
    return obj


def _mask_values(obj: Any, values: list[str], replacement: str) -> Any:
    """``obj`` with every occurrence of ``values`` in its strings (keys too) replaced."""
    if isinstance(obj, str):
        for value in values:
            if value in obj:
                obj = obj.replace(value, replacement)
        return obj
    if isinstance(obj, dict):
        return {
            _mask_values(key, values, replacement): _mask_values(item, values, replacement)
            for key, item in obj.items()
        }
    if isinstance(obj, list):
        return [_mask_values(item, values, replacement) for item in obj]
    return obj


def _put_arguments(event: _Event, obj: dict[str, Any], arguments: list[Any]) -> dict[str, Any]:
    if not arguments:
        return obj
    if isinstance(event, ModelCompleted):
        for call, value in zip(obj["response"]["tool_calls"], arguments, strict=True):
            call["arguments"] = value
    else:
        obj["arguments"] = arguments[0]
    return obj


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _decodes(data: bytes) -> bool:
    try:
        decode_event(data)
    except Exception:  # any failure means: not readable as stored
        return False
    return True


def _unseal_what_we_can(obj: Any, codec: PayloadCodec | None) -> Any:
    """Open every marker the codec can; leave the others (they stay unrecoverable)."""
    return unseal(obj, codec, strict=False)


class DeltaGuard:
    """Redacts one streamed reply's live deltas before anyone watching sees them.

    The reply is stored sealed or masked (``model.completed``); its deltas go to live
    watchers (the server's event stream, ``RunHandle.events(deltas=True)``), who must
    never see what the stored reply masks. Only known fields go out: a text delta's text,
    a tool call's index and name (the name only when it is one of the agent's tools, else
    ``<unknown>``, as a result records it: a name the model made up is its own text, which
    may be a secret it read). Tool-call argument fragments are never sent: arguments may
    be secret, and they are stored sealed.

    Text is released up to its last whitespace, judged with everything that has arrived:
    a secret split across deltas is seen whole before any of it goes out, and the tail
    after the last whitespace waits for the next delta or the end of the reply
    (:meth:`finish`). A secret with whitespace inside may match nothing until its end
    arrives (``password="correct horse battery staple"``), so nothing is released past
    the start of such a span while it is open (:meth:`Redactor.open_span_start`), nor
    into a secret that reaches past the cut. A reply that may be a JSON document is
    redacted whole once complete (values under sensitive keys, of any type, and escapes
    decoded), so once one has something that may be sensitive, the rest waits for the end.

    Cost: each release looks at the text arrived since the last one and the ``_OVERLAP``
    characters before it (a scan, and redaction only when the scan finds something), so a
    reply costs time linear in its length; a span held open longer than ``_OVERLAP``
    stops live release (the rest comes at the end) rather than be looked at again and
    again. :meth:`finish` redacts the whole reply once, as the store does, and releases
    its rest only if it goes on from what was shown.
    """

    __slots__ = (
        "_chunks",
        "_cut",
        "_deferred",
        "_document",
        "_pending",
        "_redactor",
        "_released",
        "_sent",
        "_shown",
        "_size",
        "_start",
        "_text",
        "_tools",
        "_unknown",
    )

    _OVERLAP = 4096
    """Characters before the new text judged with it: longer than any secret's shape."""

    def __init__(self, redactor: Redactor | None, tools: Iterable[str] = ()) -> None:
        self._redactor = redactor
        self._tools = frozenset(tools)
        """Names a tool call may show (the agent's tools); any other is ``_unknown``."""
        self._unknown = UNKNOWN_TOOL_LABEL
        self._chunks: list[str] = []
        """The whole text so far."""
        self._size = 0
        self._pending: list[str] = []
        """Text arrived since ``_text`` was last brought up to date."""
        self._text = ""
        """The text from ``_start`` (``_OVERLAP`` or more before ``_released``) to ``_pending``."""
        self._start = 0
        self._released = 0
        """Characters of the text shown so far (masked as they were shown)."""
        self._cut = 0
        """Just after the text's last whitespace: as far as a release may go."""
        self._sent: list[str] = []
        """What was shown."""
        self._shown: tuple[int, int, str] | None = None
        """The last masked release: its window's start, its end, the window redacted."""
        self._document: bool | None = None
        """Whether the reply may be a JSON document (``None``: nothing but space yet)."""
        self._deferred = False
        """Nothing more is released before :meth:`finish`."""

    def admit(self, delta: StreamDelta) -> StreamDelta | None:
        """What of ``delta`` may be shown now (``None``: nothing yet)."""
        if delta.kind == "tool_call":
            name = delta.tool_name
            if not name:
                return None  # only a piece of arguments: nothing to show
            return StreamDelta(
                kind="tool_call",
                tool_call_index=delta.tool_call_index,
                tool_name=name if name in self._tools else self._unknown,
            )
        piece = delta.text
        if delta.kind != "text" or not piece:
            return None
        if self._redactor is None:
            return StreamDelta(kind="text", text=piece)
        size = self._size
        self._chunks.append(piece)
        self._size = size + len(piece)
        if self._document is None and piece.strip():
            self._document = "".join(self._chunks).lstrip()[:1] in ("{", "[")
        if self._deferred:
            return None
        self._pending.append(piece)
        space = max(piece.rfind(" "), piece.rfind("\n"), piece.rfind("\t"))
        if space >= 0:
            self._cut = size + space + 1
        return self._release() if self._cut > self._released else None

    def finish(self) -> StreamDelta | None:
        """The rest of the text, redacted, once the reply is complete (``None``: nothing).

        The whole reply is redacted as the store redacts it; its rest goes out only if it
        goes on from what was shown (else a mask reaches back into shown text, and the
        watcher gets the stored reply instead).
        """
        redactor = self._redactor
        if redactor is None or self._released >= self._size:
            return None
        shown, sent = redactor.redact_text("".join(self._chunks)), "".join(self._sent)
        self._released = self._size
        self._deferred = True
        if not shown.startswith(sent) or len(shown) == len(sent):
            return None
        return StreamDelta(kind="text", text=shown[len(sent) :])

    def _release(self) -> StreamDelta | None:
        """Show what is final of the text up to ``_cut``, judged with all that arrived."""
        redactor = self._redactor
        assert redactor is not None
        if self._pending:
            self._text += "".join(self._pending)
            self._pending.clear()
        text, start, released = self._text, self._start, self._released
        sensitive = redactor.scan(text)
        if self._document and (sensitive or _has_sensitive_key(redactor, text, released - start)):
            self._defer()
            return None
        end = self._cut
        open_at = redactor.open_span_start(text)
        if open_at is not None:
            end = min(end, start + open_at)
        fresh: str | None = None
        if end > released:
            if not sensitive:
                fresh = text[released - start : end - start]
            else:
                # What was shown must stay a prefix of the text redacted as it stands, and
                # no secret may reach past the cut (the next release will include it).
                shown = self._shown
                if shown is not None and shown[0] == start and shown[1] == released:
                    before = shown[2]  # the last release's, from the same start
                else:
                    before = redactor.redact_text(text[: released - start])
                upto = redactor.redact_text(text[: end - start])
                whole = upto if end - start == len(text) else redactor.redact_text(text)
                if upto.startswith(before) and whole.startswith(upto):
                    fresh = upto[len(before) :]
                    self._shown = (start, end, upto)
        if fresh is None:
            if self._size - released > self._OVERLAP:
                self._defer()  # held open too long to keep looking at it
            return None
        self._released = end
        if end - start > (2 if sensitive else 1) * self._OVERLAP:
            # Keep _OVERLAP before what was shown (twice that, while masking, so the next
            # release can reuse this one's redaction).
            keep = end - self._OVERLAP
            self._text, self._start = text[keep - start :], keep
        if not fresh:
            return None
        self._sent.append(fresh)
        return StreamDelta(kind="text", text=fresh)

    def _defer(self) -> None:
        self._deferred = True
        self._text, self._pending = "", []


_JSON_KEY = re.compile(r'"((?:[^"\\]|\\.)*+)"\s*+:')


def _has_sensitive_key(redactor: Redactor, text: str, since: int) -> bool:
    """Whether a JSON key in ``text`` whose ``:`` is at or after ``since`` is sensitive.

    The key as a JSON reader sees it (escapes decoded, any space before the ``:``), since
    a reply that is a JSON document is redacted by its parsed keys.
    """
    if ":" not in text[since:]:
        return False
    for match in _JSON_KEY.finditer(text):
        if match.end() <= since:
            continue
        try:
            key = json.loads(f'"{match.group(1)}"')
        except ValueError:
            key = match.group(1)
        if isinstance(key, str) and redactor.is_sensitive_key(key):
            return True
    return False
