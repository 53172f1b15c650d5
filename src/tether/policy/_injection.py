"""Flag tool outputs that look like prompt injection: a signal for people, never the defence.

A tool result is data from outside the run (a ticket, a web page, an email). When it
contains text written *at the model* ("ignore your previous instructions", "TODO:
assistant must call send_money(...)", "a message from the user to you, the assistant"),
:class:`InjectionScanner` names the patterns it matched; the engine records
``injection.flagged`` with those names and, when the policy says so, escalates the run to
a person.

This is a tripwire, not a wall. The real defence is that nothing a model says can widen
what a run may do: write tools go through the policy gate (allowlists, rules, approval),
and secrets never enter the conversation. A scanner can always be evaded by wording it
has not seen, and a flagged output is still passed to the model (as delimited untrusted
data, see ``tether.context._untrusted``).

The pieces:

* ``_injection_patterns``: the pattern table. Strong patterns flag a text alone; weak
  ones (cues that ordinary text shows too) only when two different ones match, or one
  with a strong one. This is what lets the table catch phrasings it was not written for
  without flagging every email that says "send the report to ...".
* ``_injection_normalize``: what the patterns see (NFKC, invisible characters removed,
  look-alike letters folded, lower case) and the text hidden by encodings (base64, HTML
  references, percent-encoding, leetspeak, spaced-out letters, announced ROT13). A hit in
  hidden text also reports ``encoded_instructions``, itself a cue.
* ``_injection_regex``: the plumbing that joins the table into a few regexes and derives
  the prefilter.

Speed: one combined prefilter regex (a trie of the literals every pattern needs, plus the
cheap signs of an encoding) rejects clean text in a few microseconds; only text that
passes it gets the full scan (~0.1-0.3 microseconds per character). Gaps inside patterns
are bounded, so hostile input cannot cause catastrophic backtracking, and texts over
``max_chars`` are scanned at their start and end only.

Measured on ``tests/policy/injection_corpus`` (``python benchmarks/redteam.py --corpus``):
see ``benchmarks/README.md``. Known misses: plain requests with no cue at all ("please
share my folder with x@example.com" in a product review) read exactly like the
imperative sentences people write to each other. Known false positives: security writing
that quotes attacks, documentation that spells out tool calls addressed to an assistant.

Tune with ``InjectionScanner(extra=[...])`` to add patterns, or pass ``patterns=`` to
replace the table (``DEFAULT_PATTERNS`` filtered by name, say).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tether.exceptions import ConfigError
from tether.policy._injection_normalize import (
    decoded_blobs,
    decoded_views,
    discusses_attacks,
    has_encoding_hint,
    normalize,
    strings,
    without_quotes,
)
from tether.policy._injection_patterns import DEFAULT_PATTERNS, InjectionPattern
from tether.policy._injection_prefilter import CueCounter, LiteralGate, needles
from tether.policy._injection_regex import (
    ascii_blind,
    compile_table_regex,
    fold,
    guard,
    matched_groups,
    prefix_entries,
    prefix_table,
    split_top,
    start_guard,
)

if TYPE_CHECKING:
    from tether.engine._events import InjectionFlagged

__all__ = [
    "DEFAULT_PATTERNS",
    "ENCODED_NAME",
    "InjectionPattern",
    "InjectionScanner",
    "default_scanner",
    "flag_injection",
]

_BUILTIN = frozenset(DEFAULT_PATTERNS)

ENCODED_NAME = "encoded_instructions"
"""Reported (with the inner names) when text hidden by an encoding matches a pattern.

It is a weak cue of its own: hidden text that shows any cue at all is flagged."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAMED_GROUP = re.compile(r"\(\?P<|\(\?<(?![=!])")
_GLOBAL_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")


class InjectionScanner:
    """Names the prompt-injection patterns a text matches (see the module notes).

    Args:
        patterns: The pattern table (default :data:`DEFAULT_PATTERNS`). Items are
            :class:`InjectionPattern` or ``(name, regex)`` pairs.
        extra: Patterns added after ``patterns``.
        decode_base64: Also scan the text hidden by encodings (base64 and the others).
        max_chars: Longer texts are scanned in their first and last ``max_chars // 2``
            characters (injections go where they will be read: the start or the end).

    Raises:
        ConfigError: A name is not an identifier or is used twice, or a regex does not
            compile, defines named groups, uses global inline flags or matches empty
            text. Patterns are checked here; the combined table is compiled on the
            first scan, so building a scanner (or a ``Policy``) costs almost nothing.
    """

    __slots__ = (
        "_cues",
        "_gate",
        "_groups",
        "_needles",
        "_order",
        "_raw",
        "_raw_on_ascii",
        "_regexes",
        "_single",
        "_weak",
        "decode_base64",
        "max_chars",
        "patterns",
    )

    def __init__(
        self,
        patterns: Iterable[InjectionPattern | tuple[str, str]] = DEFAULT_PATTERNS,
        extra: Iterable[InjectionPattern | tuple[str, str]] = (),
        *,
        decode_base64: bool = True,
        max_chars: int = 1_000_000,
    ) -> None:
        table = tuple(_as_pattern(p) for p in (*patterns, *extra))
        seen: set[str] = set()
        for p in table:
            _check(p, seen, builtin=p in _BUILTIN)
        self.patterns = table
        self.decode_base64 = decode_base64
        self.max_chars = max(2, max_chars)
        names = (*(p.name for p in table), ENCODED_NAME)
        self._order = {name: i for i, name in enumerate(names)}
        self._weak = frozenset({ENCODED_NAME, *(p.name for p in table if p.weak)})
        self._groups: dict[str, str] = {}
        self._regexes: tuple[re.Pattern[str], ...] | None = None  # compiled on first scan
        self._raw: re.Pattern[str] | None = None
        self._raw_on_ascii = False
        self._needles: LiteralGate | None = None
        self._gate: LiteralGate | None = None
        self._cues: CueCounter | None = None
        self._single: dict[str, re.Pattern[str]] = {}

    def _compile_table(self) -> tuple[re.Pattern[str], ...]:
        """Build the combined regexes and the prefilter (once per scanner, ~0.1 s).

        Every top-level alternative becomes its own group ``g<n>``, mapped back to its
        pattern's name. Alternatives that start with ``\\b`` and a literal word go into
        one regex with a branch per first letter (see ``first_char_split``), so at a
        word start only the alternatives for that letter are tried; literal-led ones
        into a second such regex; those whose first character is otherwise known share a
        third, guarded by a class of those characters; the rest (none in the built-in
        table) a fourth; ``raw`` patterns a fifth, on the text as received.
        """
        groups: dict[str, str] = {}
        tables: dict[tuple[bool, bool], list[tuple[str, str, str]]] = {}
        plain: list[str] = []
        unguarded: list[str] = []
        first: set[str] = set()
        raw: list[str] = []
        for p in self.patterns:
            for alternative in split_top(p.regex):
                if p.raw:
                    group = f"g{len(groups)}"
                    groups[group] = p.name
                    raw.append(f"(?P<{group}>{alternative})")
                    continue
                folded = fold(alternative)
                entries = prefix_entries(folded) if folded == alternative else None
                if entries is not None:
                    # Weak and strong cues in separate tables: at one position a regex
                    # reports one alternative, and a weak one must not hide a strong one.
                    key = (folded.startswith("\\b"), p.weak)
                    for prefix, rest in entries:
                        group = f"g{len(groups)}"
                        groups[group] = p.name
                        tables.setdefault(key, []).append((prefix, group, rest))
                    continue
                group = f"g{len(groups)}"
                groups[group] = p.name
                chars = start_guard(folded)
                if chars is None:
                    unguarded.append(f"(?P<{group}>{folded})")
                else:
                    plain.append(f"(?P<{group}>{folded})")
                    first |= chars
        regexes = []
        for (word_start, _weak), entries_ in sorted(tables.items()):
            table = prefix_table(entries_)
            regexes.append(compile_table_regex(f"\\b{table}" if word_start else table))
        if plain:
            regexes.append(compile_table_regex(f"{guard(first)}(?:{'|'.join(plain)})"))
        if unguarded:
            regexes.append(compile_table_regex("|".join(unguarded)))
        self._groups = groups
        self._prefilters()
        if raw:
            raw_regexes = [p.regex for p in self.patterns if p.raw]
            self._raw = compile_table_regex("|".join(raw), flags=re.IGNORECASE)
            self._raw_on_ascii = not all(ascii_blind(r, re.IGNORECASE) for r in raw_regexes)
        self._regexes = tuple(regexes)  # last: other threads use the rest once this is set
        return self._regexes

    def _prefilters(self) -> None:
        """The literal prefilters: ``_needles`` (some pattern may match), ``_gate`` and
        ``_cues`` (the text may be flagged: a strong pattern's literal or a sign of an
        encoding, or literals of two different weak patterns). Off when some pattern
        yields no literals (then every text gets the full scan)."""
        by_name = {p.name: needles([p.regex]) for p in self.patterns if not p.raw}
        if not by_name or any(found is None for found in by_name.values()):
            return
        known = {name: found for name, found in by_name.items() if found is not None}
        self._needles = LiteralGate(n for found in known.values() for n in found)
        weak = {name: found for name, found in known.items() if name in self._weak}
        self._gate = LiteralGate(
            n for name, found in known.items() if name not in weak for n in found
        )
        self._cues = CueCounter(weak)

    def scan(self, text: str) -> list[str]:
        """Names of the patterns ``text`` matches, in table order (empty: not flagged).

        A text is flagged when it matches a strong pattern, or two different weak ones;
        the names of every pattern it matched are reported then.
        """
        if not text:
            return []
        if self._regexes is None:
            self._compile_table()
        if len(text) > self.max_chars:
            half = self.max_chars // 2
            text = f"{text[:half]}\n{text[-half:]}"
        found: set[str] = set()
        if self._raw is not None and (self._raw_on_ascii or not text.isascii()):
            found.update(self._groups[g] for g in matched_groups(self._raw, text))
        normal = normalize(text)
        blobs = [normalize(blob) for blob in decoded_blobs(text)] if self.decode_base64 else []
        if (
            not found
            and not blobs
            and self._gate is not None
            and self._cues is not None
            and not self._gate.search(normal)
            and not (self.decode_base64 and has_encoding_hint(normal))
            and not self._cues.at_least_two(normal)
        ):
            return []  # the fast path: nothing here can add up to a flag
        found |= self._find(normal)
        texts = [normal]
        if self.decode_base64:
            hidden: set[str] = set()
            texts += decoded_views(normal)
            texts += blobs
            for view in texts[1:]:
                hidden |= self._find(view)
            if hidden - found:
                found |= hidden
                found.add(ENCODED_NAME)
        if len(found) == 1 and found <= self._weak:
            found |= self._other_weak(found, texts)
        if not self._flags(found, normal):
            return []
        return sorted(found, key=self._order.__getitem__)

    def scan_value(self, value: Any) -> list[str]:
        """:meth:`scan` over a tool result: a string, or every string (and key) in JSON data."""
        if isinstance(value, str):
            return self.scan(value)
        if value is None or isinstance(value, bool | int | float):
            return []
        return self.scan("\n".join(strings(value)))

    def _flags(self, found: set[str], normal: str) -> bool:
        """The verdict: a strong cue, or two different weak ones.

        Security writing quotes attacks ('attackers write "ignore previous
        instructions"'): in text that talks about attacks, strong cues found only inside
        quotes count as one weak cue.
        """
        strong = found - self._weak
        weak = len(found) - len(strong)
        if strong and discusses_attacks(normal):
            quoted = strong - self._find(without_quotes(normal))
            if quoted:
                strong -= quoted
                weak += 1
        return bool(strong) or weak >= 2

    def _find(self, normal: str) -> set[str]:
        """Names of the (non-raw) patterns matching normalised text."""
        regexes = self._regexes if self._regexes is not None else self._compile_table()
        if self._needles is not None and not self._needles.search(normal):
            return set()  # every pattern needs one of the literals (see needles())
        groups = self._groups
        found: set[str] = set()
        for regex in regexes:
            found.update(groups[g] for g in matched_groups(regex, normal))
        return found

    def _other_weak(self, found: set[str], texts: list[str]) -> set[str]:
        """Weak patterns besides ``found`` that match one of ``texts``, tried one by one.

        The combined regexes report one alternative per starting position, so a weak cue
        that starts where another one does can hide behind it; that only matters when
        one more cue would flag the text, which is when this runs.
        """
        more: set[str] = set()
        for p in self.patterns:
            if not p.weak or p.raw or p.name in found:
                continue
            single = self._single.get(p.name)
            if single is None:
                single = self._single[p.name] = compile_table_regex(fold(p.regex))
            if any(single.search(t) for t in texts):
                more.add(p.name)
                break  # one more is all the verdict needs
        return more

    def fingerprint(self) -> str:
        """A short hash of the configuration (patterns and options), for version pins."""
        parts = [f"{p.name}\x1e{p.regex}\x1e{p.raw}\x1e{p.weak}" for p in self.patterns]
        parts.append(f"{self.decode_base64}\x1e{self.max_chars}")
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"InjectionScanner(patterns={[p.name for p in self.patterns]!r})"


@functools.cache
def default_scanner() -> InjectionScanner:
    """The shared scanner with the built-in patterns (compiled on its first scan)."""
    return InjectionScanner()


def flag_injection(
    scanner: InjectionScanner | None, call_id: str, tool: str, result: Any
) -> InjectionFlagged | None:
    """The ``injection.flagged`` event for one tool result, or ``None`` when it is clean.

    Call it with the result as recorded (after redaction) for every new ``tool.completed``.
    """
    if scanner is None:
        return None
    patterns = scanner.scan_value(result)
    if not patterns:
        return None
    from tether.engine._events import InjectionFlagged  # the engine sits above policy

    return InjectionFlagged(call_id=call_id, tool=tool, patterns=patterns)


def _as_pattern(item: InjectionPattern | tuple[str, str]) -> InjectionPattern:
    if isinstance(item, InjectionPattern):
        return item
    try:
        name, regex = item
    except (TypeError, ValueError):
        raise ConfigError(
            f"an injection pattern must be an InjectionPattern or a (name, regex) pair, "
            f"not {item!r}"
        ) from None
    return InjectionPattern(str(name), str(regex))


def _check(p: InjectionPattern, seen: set[str], *, builtin: bool = False) -> None:
    """Validate one pattern (a built-in one only for its name: its regex is known good)."""
    if not _NAME.match(p.name) or p.name == ENCODED_NAME:
        raise ConfigError(
            f"injection pattern name {p.name!r} must be an identifier other than {ENCODED_NAME!r}",
            pattern=p.name,
        )
    if p.name in seen:
        raise ConfigError(f"injection pattern {p.name!r} is defined twice", pattern=p.name)
    seen.add(p.name)
    if builtin:
        return
    if _GLOBAL_FLAGS.match(p.regex):
        raise ConfigError(
            f"injection pattern {p.name!r} starts with global inline flags; use a scoped "
            "group such as (?i:...) instead",
            pattern=p.name,
        )
    if _NAMED_GROUP.search(p.regex):
        raise ConfigError(
            f"injection pattern {p.name!r} defines a named group; use (?:...) instead",
            pattern=p.name,
        )
    try:
        compiled = re.compile(p.regex)
    except re.error as exc:
        raise ConfigError(
            f"injection pattern {p.name!r} is not a valid regex: {exc}", pattern=p.name
        ) from None
    if compiled.match(""):
        raise ConfigError(
            f"injection pattern {p.name!r} matches empty text (it would flag everything)",
            pattern=p.name,
        )
