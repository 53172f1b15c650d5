"""The hash chain over a run's events: what makes the log tamper-evident.

Every event row stores ``hash``: a hash over the hash of the event before it and over
its own content. The first event of a run links to a genesis value derived from the
run id. Changing, removing or reordering any stored event breaks the chain at that
event (or, for a removed last event, at the run's ``last_seq``), and
:func:`verify_chain` names the first sequence number that breaks.

The store's writer computes the chain as it inserts the rows, in the same statement:
one SHA-256 per event and no extra write (it keeps each run's last hash in memory, so
linking needs no read either). Two choices keep the store small, because a turn's
store bytes have a budget (``benchmarks/engine.py``): the predecessor's hash is not
stored again on each row (it is the previous row's ``hash``), and a hash is SHA-256
truncated to 16 bytes (128 bits, still far out of reach of forging). The chain adds
about 17 bytes per event, where a full ``prev_hash`` + ``hash`` pair added 72.

Canonical encoding (version 1). ``H(x)`` is the first 16 bytes of SHA-256(x); all
integers are big-endian::

    genesis(run_id) = H( b"tether.genesis.v1" 0x00 || utf8(run_id) )

    hash = H( b"tether.event.v1" 0x00
              || prev                  (16 bytes: the previous event's hash, or the
                                        genesis value for the first event)
              || i64(seq) || i64(step) || f64(ts)          (ts as an IEEE 754 double)
              || u32(len(utf8(run_id))) || u32(len(utf8(type))) || u64(len(data))
              || utf8(run_id) || utf8(type) || data )      (data: the event's JSON as written)

``data`` is the JSON the engine wrote, whatever form a backend keeps it in (SQLite
stores it without the ``{"v":1,"type":...,`` head its type column implies).

The fixed-size fields come first and every variable-length field's length precedes
them all, so one ``struct.pack`` frames an event and no two events encode alike.

Rows written before the chain existed have no hash. Such rows are accepted only at
the start of a run that was created before its store began chaining
(``predates_chain``), and are reported as "not chained before seq N": they cannot be
verified, but they are not called tampering. The first chained row after them links
to the genesis value. A row without a hash anywhere else is tampering.

What the chain does not do: it has no secret, so someone who rewrites a run's whole
log and recomputes every hash (and the run's ``last_seq``) is not detected by the
chain alone. Anchor :attr:`ChainVerdict.head` somewhere else (a ticket, a signed
export) to detect that too.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tether.store._base import EventRow

HASH_BYTES = 16
"""Length of every hash in the chain: SHA-256 truncated to 128 bits."""

_GENESIS = b"tether.genesis.v1\x00"
_EVENT = b"tether.event.v1\x00"
_FRAME = struct.Struct(f">{HASH_BYTES}sqqdIIQ")


def genesis_hash(run_id: str) -> bytes:
    """The value a run's first event links to."""
    return hashlib.sha256(_GENESIS + run_id.encode()).digest()[:HASH_BYTES]


def run_key(run_id: str) -> bytes:
    """The run id as it enters every event hash, UTF-8 (compute it once per run)."""
    return run_id.encode()


def event_hash(
    prev: bytes, key: bytes, seq: int, step: int, ts: float, kind: str, data: bytes
) -> bytes:
    """The hash of one event linked to ``prev``; ``key`` is :func:`run_key` of its run."""
    raw_kind = kind.encode()
    frame = _FRAME.pack(prev, seq, step, ts, len(key), len(raw_kind), len(data))
    return hashlib.sha256(b"".join((_EVENT, frame, key, raw_kind, data))).digest()[:HASH_BYTES]


def chain_links(run_id: str, prev: bytes | None, events: Sequence[EventRow]) -> list[bytes]:
    """The hashes of ``events``, in order, linked into the run's chain after ``prev``.

    ``prev`` is the hash of the event before the first; ``None`` links to the genesis value.
    """
    link = prev if prev is not None else genesis_hash(run_id)
    key = run_key(run_id)
    links: list[bytes] = []
    for e in events:
        link = event_hash(link, key, e.seq, e.step, e.ts, e.type, e.data)
        links.append(link)
    return links


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    """What :func:`verify_chain` found.

    ``ok`` is true when nothing stored was changed, removed or reordered as far as the
    chain can tell; otherwise ``first_bad_seq`` is the first sequence number that breaks
    it and ``problem`` says how. ``unchained_before`` is set when the run's first
    events predate the chain (events ``1 .. unchained_before - 1`` cannot be verified).
    ``checked`` counts the events verified; ``head`` is the hash of the last chained
    event (hex), to anchor elsewhere.
    """

    ok: bool
    first_bad_seq: int | None = None
    problem: str | None = None
    unchained_before: int | None = None
    checked: int = 0
    head: str | None = None


def verify_chain(
    run_id: str,
    rows: Sequence[EventRow],
    last_seq: int,
    *,
    predates_chain: bool = False,
) -> ChainVerdict:
    """Check a run's stored events (all of them, in ``seq`` order) against its chain.

    ``last_seq`` is the run's summary row's last sequence number: it catches a removed
    last event. ``predates_chain`` says the run was created before its store chained
    events, so rows without hashes at its start are legacy rather than tampering.
    """
    prev = genesis_hash(run_id)
    key = run_key(run_id)
    expected = 1
    unchained_before: int | None = None
    chained = 0
    head: bytes | None = None
    for row in rows:
        seq = row.seq
        if seq != expected:
            if seq > expected:
                return _bad(expected, f"event {expected} is missing", unchained_before, chained)
            return _bad(seq, f"event {seq} is out of order", unchained_before, chained)
        expected = seq + 1
        if row.hash is None:
            if predates_chain and chained == 0:
                unchained_before = seq + 1
                continue
            return _bad(seq, f"event {seq} has no hash", unchained_before, chained)
        data = row.data if isinstance(row.data, bytes) else bytes(row.data)
        digest = event_hash(prev, key, seq, row.step, row.ts, row.type, data)
        if digest != row.hash:
            return _bad(
                seq,
                f"event {seq} was changed or moved (or an event before it was removed)",
                unchained_before,
                chained,
            )
        prev = head = digest
        chained += 1
    if last_seq >= expected:
        return _bad(
            expected,
            f"event {expected} is missing: the run's last event is {last_seq}",
            unchained_before,
            chained,
        )
    if last_seq < expected - 1:
        return _bad(
            last_seq + 1,
            f"event {last_seq + 1} is not recorded in the run's summary (its last event is "
            f"{last_seq}): events were added behind the store's back",
            unchained_before,
            chained,
        )
    return ChainVerdict(
        ok=True,
        unchained_before=unchained_before,
        checked=chained,
        head=head.hex() if head is not None else None,
    )


def _bad(seq: int, problem: str, unchained_before: int | None, checked: int) -> ChainVerdict:
    return ChainVerdict(
        ok=False,
        first_bad_seq=seq,
        problem=problem,
        unchained_before=unchained_before,
        checked=checked,
    )
