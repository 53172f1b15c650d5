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
from dataclasses import dataclass
from typing import Any

from tether.engine._events import (
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
    keep_blob,
    unseal,
)
from tether.tools import ToolCallError

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

    def protect(self, event: _Event) -> tuple[_Event, bytes]:
        """The event to fold and the bytes to persist (a few µs when there is no secret).

        Text the log cannot hold (a lone surrogate) is folded as the log holds it, so the
        run goes on from what a reader of the log, or a resumed run, will see.
        """
        event, data = encode_event_as_stored(event)
        redactor = self.redactor
        if redactor is None or (type(event) is Transitioned and event.data is None):
            return event, data  # a bare step boundary holds nothing but a state name
        if not redactor.scan(data):
            return event, data
        return self._seal(event, data)

    async def aprotect(self, event: _Event) -> tuple[_Event, bytes]:
        """:meth:`protect`, in a worker thread when the payload is large (no loop stall)."""
        event, data = encode_event_as_stored(event)
        redactor = self.redactor
        if redactor is None:
            return event, data
        if len(data) > OFFLOAD_BYTES:
            if not await asyncio.to_thread(redactor.scan, data):
                return event, data
            return await asyncio.to_thread(self._seal, event, data)
        if not redactor.scan(data):
            return event, data
        return self._seal(event, data)

    def restore(self, data: bytes) -> bytes:
        """Persisted bytes with every marker the codec can open turned back into its value."""
        if not any(marker in data for marker in _MARKERS):
            return data
        restored = _unseal_what_we_can(json.loads(data), self.codec)
        return json.dumps(restored, separators=(",", ":"), ensure_ascii=False).encode()

    def _seal(self, event: _Event, data: bytes) -> tuple[_Event, bytes]:
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
    watchers (the server's event stream, ``RunHandle.events(deltas=True)``) and get the
    same protection. Text is released up to the last whitespace, checked together with
    what came before it, so a secret split across deltas is seen whole before any of it
    goes out; the tail after the last whitespace waits for the next delta, or for the
    end of the reply (:meth:`finish`). While the text is clean, each release scans only
    the new text and the ``_OVERLAP`` characters before it (linear in the reply); once
    something must be masked, the text so far is redacted as a whole, and if that would
    change text already sent (a masked block that began earlier), the rest of the
    stream's text is held back. Tool-call argument fragments are never sent: arguments
    may be secret, and they are stored sealed.
    """

    __slots__ = ("_clean", "_held", "_redactor", "_released", "_sent", "_text")

    _OVERLAP = 4096
    """Characters before the new text scanned with it: longer than any secret's shape."""

    def __init__(self, redactor: Redactor | None) -> None:
        self._redactor = redactor
        self._text = ""
        self._released = 0
        """Characters of ``_text`` shown so far."""
        self._sent = ""
        """What was shown (``_text[:_released]`` while nothing was masked)."""
        self._clean = True
        self._held = False

    def admit(self, delta: StreamDelta) -> StreamDelta | None:
        """What of ``delta`` may be shown now (``None``: nothing yet)."""
        if delta.kind != "text":
            if delta.arguments_fragment:
                if delta.tool_name is None:
                    return None  # only a piece of arguments: nothing to show
                return delta.model_copy(update={"arguments_fragment": ""})
            return delta
        if self._redactor is None:
            return delta
        self._text += delta.text
        if self._held:
            return None
        text = self._text
        cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t")) + 1
        return self._release(cut) if cut > self._released else None

    def finish(self) -> StreamDelta | None:
        """The rest of the text, redacted, once the reply is complete (``None``: nothing)."""
        if self._redactor is None or self._held or len(self._text) <= self._released:
            return None
        return self._release(len(self._text))

    def _release(self, end: int) -> StreamDelta | None:
        redactor = self._redactor
        assert redactor is not None
        text, start = self._text, self._released
        if self._clean and not redactor.scan(text[max(0, start - self._OVERLAP) : end]):
            fresh = text[start:end]
            self._sent += fresh
        else:
            shown = redactor.redact_text(text[:end])
            if not shown.startswith(self._sent):
                self._held = True  # masking reaches back into text already sent
                return None
            self._clean = self._clean and shown == text[:end]
            fresh, self._sent = shown[len(self._sent) :], shown
        self._released = end
        return StreamDelta(kind="text", text=fresh) if fresh else None
