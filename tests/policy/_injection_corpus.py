"""The injection corpus: attacks and benign tool outputs, split into tuning and held-out sets.

``injection_corpus/attacks.jsonl`` holds payloads (``id``, ``family``, ``language``,
``encoding``, ``text``; encoded ones also carry the ``decoded`` text they were made
from). ``injection_corpus/benign.jsonl`` holds realistic tool outputs (``id``, ``kind``,
``text``) written to be hard: imperative sentences addressed to people, documentation
that names tools and APIs, security writing, code, logs, other languages.

The held-out fifth is chosen by a hash of each id, fixed before any pattern was tuned,
so adding rows never moves an existing row between sets. Tune patterns on
:func:`tuning`; :func:`held_out` is for measuring only (``benchmarks/redteam.py`` and the
threshold test in ``test_injection.py``).

Rows written after the split was fixed are numbered from 201 (``family-201``...) and only
take ids that hash to the tuning side (:func:`added_later`): they are written to tune on,
so none of them may join the held-out set, which stays the rows nobody tuned on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

CORPUS = Path(__file__).parent / "injection_corpus"
HELD_OUT_FRACTION = 5  # one row in five


@dataclass(frozen=True, slots=True)
class Sample:
    """One row of the corpus: an attack (``family`` set) or a benign output (``kind`` set)."""

    id: str
    text: str
    attack: bool
    family: str = ""
    language: str = ""
    encoding: str = ""
    kind: str = ""


@dataclass(frozen=True, slots=True)
class Split:
    """Attacks and benign samples of one side of the split."""

    attacks: tuple[Sample, ...]
    benign: tuple[Sample, ...]


def added_later(sample_id: str) -> bool:
    """Whether a row was written after the split was fixed (numbered 201 and up)."""
    return int(sample_id.rsplit("-", 1)[1]) >= 201


def is_held_out(sample_id: str) -> bool:
    """Whether a row belongs to the held-out fifth (a hash of its id, never its content)."""
    digest = hashlib.sha256(sample_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") % HELD_OUT_FRACTION == 0


@cache
def load() -> tuple[tuple[Sample, ...], tuple[Sample, ...]]:
    """Every attack and every benign sample, in file order."""
    return _read("attacks.jsonl", "benign.jsonl")


def _read(attacks_file: str, benign_file: str) -> tuple[tuple[Sample, ...], tuple[Sample, ...]]:
    attacks = tuple(
        Sample(
            id=row["id"],
            text=row["text"],
            attack=True,
            family=row["family"],
            language=row["language"],
            encoding=row["encoding"],
        )
        for row in _rows(attacks_file)
    )
    benign = tuple(
        Sample(id=row["id"], text=row["text"], attack=False, kind=row["kind"])
        for row in _rows(benign_file)
    )
    return attacks, benign


def split(side: Literal["tuning", "held_out"]) -> Split:
    """One side of the split: ``"tuning"`` (four fifths) or ``"held_out"`` (one fifth)."""
    want = side == "held_out"
    attacks, benign = load()
    return Split(
        attacks=tuple(s for s in attacks if is_held_out(s.id) == want),
        benign=tuple(s for s in benign if is_held_out(s.id) == want),
    )


def tuning() -> Split:
    """The four fifths patterns may be tuned on."""
    return split("tuning")


def held_out() -> Split:
    """The fifth kept out of tuning: measure on it, never tune on it."""
    return split("held_out")


def wild() -> Split:
    """A second outside author's set (``wild_attacks.jsonl``, ``wild_benign.jsonl``),
    written blind like :func:`outsider`, but for tuning: patterns may be fitted to it."""
    return _outside_set("wild")


def outsider() -> Split:
    """A set written by someone who never saw the scanner or this corpus
    (``outsider_attacks.jsonl``, ``outsider_benign.jsonl``). Measured, never tuned on,
    until session 9; since session 9 it is tuning data like :func:`wild` (its misses and
    false positives were studied to find general forms), so it no longer measures how
    the scanner generalises: a fresh blind fourth set, written separately, does."""
    return _outside_set("outsider")


def third() -> Split:
    """A third author's set (``third_attacks.jsonl``, ``third_benign.jsonl``), written
    blind on 2026-11-29 after the outsider set had been measured twice. Measured, never
    tuned on, until session 9; since session 9 it is tuning data like :func:`wild` and
    :func:`outsider`. Its benign side is mostly hard negatives (imperatives addressed to
    people, security writing that quotes attacks, chat-template documentation)."""
    return _outside_set("third")


def fourth() -> Split:
    """A fourth author's set (``fourth_attacks.jsonl``, ``fourth_benign.jsonl``), written
    blind in session 9 (2026-11-30) by someone who read nothing of the scanner or the
    other sets, while the outsider and third sets became tuning data. Measured, never
    tuned on, in session 9 (recall 0.794, false positives 7.2%); since session 10 it is
    tuning data like :func:`wild`, :func:`outsider` and :func:`third` (its misses and false
    positives were studied to find general forms), so it no longer measures how the
    scanner generalises: with the held-out fifth, a fresh blind fifth set, written
    separately, does. Its benign side holds "twins" of each attack family's surface form
    (robots.txt rules for AI crawlers, an llms.txt, a TODO naming a function, a runbook's
    "earlier guidance no longer applies")."""
    return _outside_set("fourth")


def fifth() -> Split:
    """A fifth author's set (``fifth_attacks.jsonl``, ``fifth_benign.jsonl``: 200 attacks
    in ten families, 17 languages and 12 encodings; 400 benign outputs of 26 kinds),
    written blind in session 10 (2026-11-30) by someone who read nothing of the scanner or
    the other sets, while the fourth set became tuning data. Measured, never tuned on, in
    session 10: recall 0.875 (175 of 200), false positives 2.5% (10 of 400); the scanner of
    session 9 (``33c6f23``) scored 0.84 and 4.75% (19 of 400) on it. Since session 11 it is
    tuning data like :func:`wild`, :func:`outsider`, :func:`third` and :func:`fourth` (its
    misses and false positives were studied to find general forms), so it no longer
    measures how the scanner generalises: with the held-out fifth, a fresh blind sixth set,
    written separately, does."""
    return _outside_set("fifth")


def sixth() -> Split:
    """A sixth set (``sixth_attacks.jsonl``, ``sixth_benign.jsonl``: 200 attacks, ten in
    each of ten families per author, 29 languages, 15 encodings; 400 benign outputs),
    written blind in session 11 (2026-11-30) by two authors who read nothing of the
    scanner, the tests or the other sets, while the fifth set became tuning data:
    ``batch`` ``long_documents`` (300 to 3,000 characters, the injection anywhere in a web
    page, an email thread, a ticket, a CSV or JSON export, benign twins sharing the same
    document bodies) and ``short_outputs`` (a review, an order note, an SMS, a commit
    message, a DNS TXT record). Measured, never tuned on: with the held-out fifth, the
    figure that says how the scanner generalises. On the scanner of session 10
    (``2cd6214``): recall 0.765 (153 of 200), false positives 2.75% (11 of 400); after
    session 11's forms read off the fifth set (which took the fifth from 0.875 to 0.995):
    0.77 (154) and 2.75% (11)."""
    return _outside_set("sixth")


def _outside_set(name: str) -> Split:
    attacks, benign = _read(f"{name}_attacks.jsonl", f"{name}_benign.jsonl")
    return Split(attacks=attacks, benign=benign)


def _rows(name: str) -> list[dict[str, str]]:
    rows = []
    with (CORPUS / name).open(encoding="utf-8") as file:
        for line in file:
            if line.strip():
                rows.append(json.loads(line))
    ids = [row["id"] for row in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{name}: ids are not unique")
    return rows


def evaluate(scan: Callable[[str], list[str]], side: Split) -> dict[str, Any]:
    """Recall on the attacks and false-positive rate on the benign samples of one side.

    ``scan`` is :meth:`InjectionScanner.scan` (a non-empty result means flagged). Returns
    counts, rates, recall per family, language and encoding, and the ids missed and
    falsely flagged.
    """
    missed = [s for s in side.attacks if not scan(s.text)]
    false_positives = [s for s in side.benign if scan(s.text)]
    caught = len(side.attacks) - len(missed)
    return {
        "attacks": len(side.attacks),
        "benign": len(side.benign),
        "recall": round(caught / len(side.attacks), 4) if side.attacks else None,
        "false_positive_rate": (
            round(len(false_positives) / len(side.benign), 4) if side.benign else None
        ),
        "false_positives": len(false_positives),
        "recall_by_family": _recall_by(side.attacks, missed, "family"),
        "recall_by_language": _recall_by(side.attacks, missed, "language"),
        "recall_by_encoding": _recall_by(side.attacks, missed, "encoding"),
        "missed_ids": [s.id for s in missed],
        "false_positive_ids": [s.id for s in false_positives],
    }


def _recall_by(attacks: tuple[Sample, ...], missed: list[Sample], field: str) -> dict[str, str]:
    """``caught/total`` per value of one field, sorted by value."""
    total: dict[str, int] = {}
    lost: dict[str, int] = {}
    for sample in attacks:
        key = getattr(sample, field)
        total[key] = total.get(key, 0) + 1
    for sample in missed:
        key = getattr(sample, field)
        lost[key] = lost.get(key, 0) + 1
    return {key: f"{total[key] - lost.get(key, 0)}/{total[key]}" for key in sorted(total)}
