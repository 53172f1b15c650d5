"""Literal prefilters for the injection scanner: what every match must contain.

:func:`needles` reads each pattern with the stdlib's regex parser and derives literals
one of which every match holds (``ignore`` for ``\\bignore\\s+...``, ``\\bai`` where a
pattern needs the word "ai", not any "ai" as in "email"). :class:`LiteralGate` finds
them in a few microseconds; :class:`CueCounter` tells whether literals of two different
weak patterns occur. A text that passes neither cannot be flagged, so the full scan is
skipped.

:func:`requirements` goes further: per top-level alternative, *every* set of literals a
match needs (a verb, then "your", then "password"), not only the rarest one.
:class:`WordScreen` checks them from the words of an ASCII text through a per-word cache,
so a clean tool result costs a ``bytes.translate``, a ``split`` and a few dictionary
look-ups; the scanner then searches only the patterns it names. Every step loosens, never
tightens, what a literal requires: the screen names every pattern that matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from tether.policy._injection_cache import compile_regex
from tether.policy._injection_regex import (
    _ASCII_FOLDS,
    _PARSER,
    _REPEATS,
    _ZERO_WIDTH,
    STARTED_WORD,
    WORD_END,
    WORD_START,
    fold,
    split_top,
    trie,
)

__all__ = ["CueCounter", "LiteralGate", "WordScreen", "needles"]

K = TypeVar("K")

_MAX_CHOICES = 48  # strings a literal run may spell ("[ \t]x" spells " x" and "\tx")
_MAX_CLASS = 4  # characters of a class that still extends a run
# Words so common in ordinary text that a needle made of them rarely rejects anything.
_COMMON = frozenset(
    [
        "a",
        "about",
        "account",
        "address",
        "after",
        "all",
        "an",
        "and",
        "any",
        "anything",
        "are",
        "as",
        "at",
        "be",
        "before",
        "by",
        "call",
        "can",
        "card",
        "code",
        "contact",
        "data",
        "do",
        "email",
        "first",
        "for",
        "from",
        "has",
        "have",
        "here",
        "hi",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "know",
        "mail",
        "may",
        "me",
        "my",
        "new",
        "no",
        "not",
        "now",
        "number",
        "of",
        "on",
        "only",
        "or",
        "order",
        "our",
        "phone",
        "please",
        "run",
        "send",
        "set",
        "so",
        "status",
        "that",
        "the",
        "then",
        "there",
        "this",
        "to",
        "us",
        "use",
        "user",
        "we",
        "what",
        "will",
        "with",
        "you",
        "your",
    ]
)


def needles(regexes: Iterable[str]) -> tuple[str, ...] | None:
    """Literals one of which every match of every regex holds, or ``None`` if not known.

    The regexes are matched against lower-cased text; when that text is ASCII and holds
    none of the needles, none of them can match, so the scan stops there. Each regex is
    split and folded as :meth:`InjectionScanner._compile_table` does, and each top-level
    alternative must yield a set of needles, or there is no prefilter at all.
    """
    found: set[str] = set()
    for regex in regexes:
        for alternative in split_top(regex):
            needed = _required(fold(alternative))
            if needed is None:
                return None
            found |= needed
    found = {_fix_markers(n) for n in found}
    # A needle holding a shorter one is redundant: the shorter one is found first.
    kept = {n for n in found if not any(o != n and o in n for o in found)}
    return tuple(sorted(kept, key=lambda n: (-len(n), n)))


def _fix_markers(needle: str) -> str:
    """Word-boundary markers kept only where ``\\b`` means what they say: a start marker
    before a word character, an end marker after one (``\\b.`` means the opposite)."""
    if needle.startswith(WORD_START) and not _is_word_char(needle[1:2]):
        needle = needle[1:]
    chars = [
        c for i, c in enumerate(needle) if c != WORD_END or (i and _is_word_char(needle[i - 1]))
    ]
    return "".join(chars)


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _plain(needle: str) -> str:
    """A needle without its markers: the text it matches."""
    return needle.replace(WORD_START, "").replace(WORD_END, "")


def _required(regex: str) -> frozenset[str] | None:
    """Strings one of which occurs in the lower-cased ASCII text of every match."""
    every = _required_all(regex)
    return None if every is None else min(every, key=_needle_cost)


def _required_all(regex: str) -> list[frozenset[str]] | None:
    """Every set of strings of which the text of each match holds one (all of them
    necessary at once), or ``None`` if none is known."""
    if _PARSER is None:
        return None
    try:
        parsed = _PARSER.parse(regex, re.MULTILINE)
    except (re.error, RecursionError, OverflowError, AttributeError):
        return None
    flags = int(parsed.state.flags)
    if flags & re.LOCALE:
        return None
    every: list[frozenset[str]] = []
    _required_in(parsed, flags, every=every)
    return every or None


def requirements(regex: str) -> list[list[frozenset[str]]] | None:
    """Per top-level alternative of ``regex``, the sets of literals each match must hold
    one of, every set at once; ``None`` when some alternative yields none."""
    alternatives: list[list[frozenset[str]]] = []
    for alternative in split_top(regex):
        every = _required_all(fold(alternative))
        if every is None:
            return None
        alternatives.append([frozenset(_fix_markers(n) for n in found) for found in every])
    return alternatives


def _unit(op: Any, av: Any, flags: int) -> set[str] | None:
    """The characters one regex item consumes when it is a literal or a small class."""
    if op is _PARSER.LITERAL:
        items = [(op, av)]
    elif op is _PARSER.IN and len(av) <= _MAX_CLASS:
        items = av
    else:
        return None
    chars: set[str] = set()
    for item_op, code in items:
        if item_op is not _PARSER.LITERAL:
            return None  # a negation, range or category
        char = chr(code)
        if flags & re.IGNORECASE:
            if not char.isascii():
                return None  # may match ASCII letters (the Kelvin sign matches "k")
            char = char.lower()  # the text is lower-cased
        chars.add(char)
    return chars


def _required_in(
    items: Any, flags: int, start: str = "", every: list[frozenset[str]] | None = None
) -> frozenset[str] | None:
    """:func:`_required` for a parsed sequence: the cheapest set among its necessary parts.

    Consecutive literals (and small classes) form runs of known text; a group, a branch
    or a repeat with a minimum of one gives the strings its own parts require.
    Zero-width items (``\\b``, ``^``, lookarounds) do not break a run; anything else does.
    """
    candidates: list[frozenset[str]] = []
    run: set[str] = {start}
    for op, av in items:
        chars = _unit(op, av, flags)
        if chars is not None:
            longer = {s + c for s in run for c in chars}
            if len(longer) > _MAX_CHOICES:
                if run not in ({""}, {WORD_START}):
                    candidates.append(frozenset(run))
                longer = chars
            run = longer
            continue
        if op is _PARSER.AT and av is _PARSER.AT_BOUNDARY:
            if run == {""}:
                run = {WORD_START}  # what follows starts a word: "\bai" is rarer than "ai"
            elif run != {WORD_START} and all(_is_word_char(s[-1:]) for s in run):
                run = {s + WORD_END for s in run}  # and here one ends: "\bai\b"
            continue
        if op in _ZERO_WIDTH:
            continue
        if op in _REPEATS and av[0] >= 1 and len(av[2]) == 1:
            item_op, item_av = av[2][0]
            chars = _unit(item_op, item_av, flags)
            if chars is not None:  # "x+": an x ends the run and starts the next one
                run = {s + c for s in run for c in chars}
                if len(run) <= _MAX_CHOICES:
                    candidates.append(frozenset(run))
                run = {WORD_START} if all(c.isspace() for c in chars) else chars
                continue
        exact = _exact(op, av, flags)
        if exact is not None and len(run) * len(exact) <= _MAX_CHOICES:
            run = {s + e for s in run for e in exact}  # a group of plain words: "(?:a|b)"
            continue
        inner = WORD_START if run == {WORD_START} else ""  # a group right after \b
        ends_word = op in _REPEATS and av[0] >= 1 and _is_space(av[2])
        if ends_word and all(_is_word_char(s[-1:]) for s in run):
            run = {s + WORD_END for s in run}  # "ai\s+": the word ends before the space
        if run not in ({""}, {WORD_START}):
            candidates.append(frozenset(run))
        run = {""}
        needed: frozenset[str] | None = None
        if op is _PARSER.SUBPATTERN:
            _group, add, remove, sub = av
            needed = _required_in(sub, (flags | add) & ~remove, inner)
        elif op is _PARSER.ATOMIC_GROUP:
            needed = _required_in(av, flags, inner)
        elif op in _REPEATS and av[0] >= 1:
            needed = _required_in(av[2], flags, inner)
        elif op is _PARSER.BRANCH:
            union: set[str] = set()
            for branch in av[1]:
                one = _required_in(branch, flags, inner)
                if one is None:
                    break
                union |= one
            else:
                needed = frozenset(union)
        if needed:
            candidates.append(needed)
        if ends_word:
            run = {WORD_START}  # after "\\s+" a word starts (if what follows is a word)
    if run not in ({""}, {WORD_START}):
        candidates.append(frozenset(run))
    if every is not None:
        every.extend(candidates)
    return min(candidates, key=_needle_cost) if candidates else None


def _is_space(items: Any) -> bool:
    """Whether a parsed sequence is one whitespace item (``\\s``, ``[ \\t]``, a space)."""
    if len(items) != 1:
        return False
    op, av = items[0]
    if op is _PARSER.LITERAL:
        return chr(av).isspace()
    if op is _PARSER.IN:
        return all(
            (item_op is _PARSER.LITERAL and chr(code).isspace())
            or (item_op is _PARSER.CATEGORY and code is _PARSER.CATEGORY_SPACE)
            for item_op, code in av
        )
    return False


def _exact(op: Any, av: Any, flags: int) -> set[str] | None:
    """Every string a group matches, when it is a few literal words (``(?:a|bc)``)."""
    if op is _PARSER.SUBPATTERN:
        _group, add, remove, sub = av
        flags = (flags | add) & ~remove
        strings: set[str] = {""}
        for item_op, item_av in sub:
            chars = _unit(item_op, item_av, flags)
            part = chars if chars is not None else _exact(item_op, item_av, flags)
            if part is None:
                return None
            strings = {s + c for s in strings for c in part}
            if len(strings) > _MAX_CHOICES:
                return None
        return strings if "" not in strings else None
    if op is _PARSER.BRANCH:
        union: set[str] = set()
        for branch in av[1]:
            one = _exact(_PARSER.SUBPATTERN, (None, 0, 0, branch), flags)
            if one is None:
                return None
            union |= one
        return union if len(union) <= _MAX_CHOICES else None
    return None


def _needle_cost(needles: frozenset[str]) -> int:
    """How often a set of needles is likely to be found in ordinary text (lower is rarer)."""
    cost = 0
    for needle in needles:
        text = _plain(needle)
        markers = len(needle) - len(text)
        one = (10_000, 3_000, 400, 60, 10)[min(len(text) + markers, 4)]
        cost += one + (300 if text.strip() in _COMMON else 0)
    return cost


class LiteralGate:
    """Whether a text holds any of some literals, in a few microseconds.

    One trie regex for the ASCII literals and one for the others (searched only in
    non-ASCII text, where alone they can occur). Every branch of a trie starts with a
    literal character (a word start is checked after the first character), because
    CPython's search skips ahead in C only then: a single leading ``\\b`` branch makes it
    try every position, about seven times slower.
    """

    __slots__ = ("_ascii", "_foreign")

    def __init__(self, literals: Iterable[str], *, longest: bool = False) -> None:
        word_start, anywhere, foreign = _partition(literals)
        # "\bai" becomes "a(?<!\w.)i": every branch of the trie starts with a literal.
        ascii_ = [w[:1] + STARTED_WORD + w[1:] for w in word_start] + anywhere
        self._ascii = compile_regex(trie(ascii_, longest=longest)) if ascii_ else None
        self._foreign = compile_regex(trie(foreign, longest=longest)) if foreign else None

    def search(self, text: str) -> bool:
        """Whether one of the literals occurs in ``text``."""
        if self._ascii is not None and self._ascii.search(text) is not None:
            return True
        return (
            self._foreign is not None
            and not text.isascii()
            and self._foreign.search(text) is not None
        )

    def finditer(self, text: str) -> Iterator[str]:
        """Each literal found (the shortest at each position), overlapping ones too."""
        regexes = [self._ascii]
        if not text.isascii():
            regexes.append(self._foreign)
        for regex in regexes:
            if regex is None:
                continue
            pos = 0
            while (match := regex.search(text, pos)) is not None:
                yield match.group()
                pos = match.start() + 1


def _partition(literals: Iterable[str]) -> tuple[list[str], list[str], list[str]]:
    """Literals split into word-start ASCII ones (marker dropped), other ASCII, non-ASCII."""
    word_start: list[str] = []
    anywhere: list[str] = []
    foreign: list[str] = []
    for literal in literals:
        if not _plain(literal).isascii():
            foreign.append(_plain(literal))  # markers dropped: weaker, still sound
        elif literal.startswith(WORD_START):
            word_start.append(literal[1:])
        else:
            anywhere.append(literal)
    return word_start, anywhere, foreign


class CueCounter:
    """Tells, in one pass over a text, whether it may be flagged at all.

    A text is flagged by a strong pattern, or by two different weak ones; a pattern can
    only match where one of its literals occurs. So a text in which no strong pattern's
    literal occurs, and literals of at most one weak pattern, is passed over. The trie
    reports the longest literal at a position, which is credited to every pattern with
    that literal or one it starts with (they occur there too); overlapping literals are
    all seen. Word-boundary marks are ignored here, so the count is an upper bound.
    """

    __slots__ = ("_gate", "_owners", "_strong")

    def __init__(self, needles_by_name: dict[str, tuple[str, ...]], weak: Iterable[str]) -> None:
        weak = frozenset(weak)
        plain_by_name = {
            name: {_plain(n) for n in found} for name, found in needles_by_name.items()
        }
        exact: dict[str, set[str]] = {}
        for name, found in plain_by_name.items():
            for needle in found:
                exact.setdefault(needle, set()).add(name)
        self._owners = _by_prefix(exact)
        self._strong = frozenset(needles_by_name) - weak
        self._gate = LiteralGate(
            (n for found in needles_by_name.values() for n in found), longest=True
        )

    def may_flag(self, text: str) -> bool:
        """Whether a strong pattern's literal, or literals of two weak ones, occur in ``text``."""
        seen: set[str] = set()
        strong = self._strong
        for needle in self._gate.finditer(text):
            names = self._owners[needle]
            if not names.isdisjoint(strong):
                return True
            seen |= names
            if len(seen) >= 2:
                return True
        return False

    def owners(self, texts: Iterable[str]) -> set[str]:
        """Every pattern that has a literal (or one starting with it) in one of ``texts``."""
        found: set[str] = set()
        for text in texts:
            for needle in self._gate.finditer(text):
                found |= self._owners[needle]
        return found

    def at_least_two(self, text: str) -> bool:
        """Whether literals of two or more different patterns may occur in ``text``."""
        seen: set[str] = set()
        for needle in self._gate.finditer(text):
            seen |= self._owners[needle]
            if len(seen) >= 2:
                return True
        return False


# Bytes of ASCII text that are not word characters (``\w``) become spaces, so a
# ``bytes.split()`` yields the words a ``\b`` sees, in C.
_NOT_WORD = bytes(
    c if chr(c).isascii() and (chr(c).isalnum() or c == ord("_")) else ord(" ") for c in range(256)
)
_MAX_CACHED_WORDS = 1 << 16
_MAX_NEW_IDS = 100
_DIGIT = re.compile(rb"[0-9]")
_ASCII_WORD = "0123456789abcdefghijklmnopqrstuvwxyz_"
# The cache entry of a word that meets no requirement and starts nothing (one object,
# told by identity).
_NOTHING: tuple[int, frozenset[int], frozenset[int]] = (0, frozenset(), frozenset())
_HEX = b"0123456789abcdef"


def _word_piece(needle: str) -> tuple[str, bool, bool] | None:
    """The longest run of word characters in a needle, and whether a word starts before it
    and ends after it (``"\\x00user's"`` gives ``("user", True, True)``): any match of the
    needle holds a word with that start or end. ``None`` when the needle has no word
    character (``"<!--"``)."""
    pieces: list[tuple[str, bool, bool]] = []
    start = 0
    n = len(needle)
    while start < n:
        if not _is_word_char(needle[start]):
            start += 1
            continue
        end = start
        while end < n and _is_word_char(needle[end]):
            end += 1
        before = needle[start - 1] if start else ""
        after = needle[end] if end < n else ""
        pieces.append((needle[start:end], before != "", after != ""))
        start = end
    if not pieces:
        return None
    return max(pieces, key=lambda piece: (len(piece[0]), piece[1], piece[2]))


def _by_prefix(table: Mapping[str, Iterable[K]]) -> dict[str, frozenset[K]]:
    """For each literal, what every literal it starts with (itself included) maps to.

    Each literal's prefixes are looked up, so a table costs its total length in look-ups,
    not a comparison per pair of literals (a second of start-up in every worker).
    """
    found: dict[str, frozenset[K]] = {}
    for word in table:
        owners: set[K] = set()
        for end in range(len(word) + 1):
            hit = table.get(word[:end])
            if hit:
                owners.update(hit)
        found[word] = frozenset(owners)
    return found


def _overlapping(regex: re.Pattern[str], text: str) -> Iterator[str]:
    """Each match of a trie, searching again one character after each match's start (a
    lookahead would find them too, but turns off the search's skipping ahead in C)."""
    pos = 0
    while (match := regex.search(text, pos)) is not None:
        yield match.group()
        pos = match.start() + 1


class WordScreen:
    """Which pattern alternatives may match ASCII text, by its words: a few microseconds.

    A pattern may match only where, for one of its top-level alternatives, every set of
    literals that alternative needs (:func:`requirements`: a verb, then "your", then
    "password") has one literal in the text; all of them, not only the rarest set as
    :class:`CueCounter` checks. Each ASCII literal is reduced to a run of word characters
    it holds and where that run sits in its word (the whole word, its start, its end,
    anywhere), so what a word satisfies depends on the word alone and is cached per
    word. A text is then its set of words (``bytes.translate`` and ``split``, in C)
    looked up in that cache. Literals without a word character are searched in the
    text. The reduction only loosens the literals: every alternative that matches a text
    is among those named.

    Requirements and alternatives are bits of Python integers: a word's cache entry is
    the mask of requirements it meets and the mask of alternatives whose rarest
    requirement it meets, so a text costs one ``|`` per word and one ``&`` per
    alternative it touches (sets of numbers cost ten times that).
    """

    __slots__ = (
        "_alt_name",
        "_alt_needs",
        "_alts_of",
        "_by_words_only",
        "_cache",
        "_exact",
        "_exact_starts",
        "_hex",
        "_hex_starts",
        "_inner",
        "_inner_owners",
        "_loose_of",
        "_loose_triggers",
        "_needed_letters",
        "_numbers",
        "_prefix",
        "_prefix_owners",
        "_prefix_start_owners",
        "_prefix_starts",
        "_suffix",
        "_suffix_owners",
        "alternative_names",
        "anchored",
    )

    def __init__(
        self,
        requirements_by_name: dict[str, list[list[frozenset[str]]]],
        starts_by_name: Mapping[str, list[frozenset[str] | None]] | None = None,
    ) -> None:
        tables: tuple[dict[str, set[int]], ...] = ({}, {}, {}, {})
        exact_starts: dict[str, set[int]] = {}  # the word is the lead
        prefix_starts: dict[str, set[int]] = {}  # the word starts with the lead
        starting: list[tuple[int, frozenset[str]]] = []
        loose: dict[str, set[int]] = {}
        alt_name: list[str] = []
        alt_needs: list[int] = []
        alts_of: dict[int, set[int]] = {}
        need_id = 0
        needed: set[str] = set()
        for name, alternatives in requirements_by_name.items():
            alt_starts = (starts_by_name or {}).get(name) or [None] * len(alternatives)
            for sets, prefixes in zip(alternatives, alt_starts, strict=True):
                if prefixes is not None:
                    starting.append((len(alt_name), prefixes))
                ids = []
                # An alternative is looked at only when its rarest requirement is met.
                rank = min(range(len(sets)), key=lambda i: _needle_cost(sets[i]))
                for i, found in enumerate(sets):
                    ids.append(need_id)
                    if i == rank:
                        alts_of.setdefault(need_id, set()).add(len(alt_name))
                    for needle in found:
                        text = _plain(needle)
                        letters = {c for c in text if not c.isascii() and _is_word_char(c)}
                        if letters:
                            # A text holding one of these gets the full scan (can_read).
                            needed.update(letters)
                            continue
                        # Punctuation outside ASCII ("—") is read like ASCII punctuation:
                        # not part of a word, found in the text itself (see names).
                        piece = _word_piece(needle)
                        if piece is None:
                            loose.setdefault(text, set()).add(need_id)
                            continue
                        word, starts, ends = piece
                        table = tables[(2 if starts else 0) + (1 if ends else 0)]
                        table.setdefault(word, set()).add(need_id)
                    need_id += 1
                alt_name.append(name)
                alt_needs.append(_mask(ids[:rank] + ids[rank + 1 :]))
        inner, suffix, prefix, exact = ({k: _mask(v) for k, v in t.items()} for t in tables)
        self._needed_letters = _characters_like(needed | _ASCII_FOLDS)
        anchored: set[int] = set()
        for alt, prefixes in starting:
            leads = self._leads(prefixes)
            if leads is None:
                continue
            anchored.add(alt)
            for lead, goes_on in leads:
                table = prefix_starts if goes_on else exact_starts
                table.setdefault(lead, set()).add(alt)
        self._alt_name = alt_name
        self.alternative_names: tuple[str, ...] = tuple(alt_name)
        """The pattern each alternative (numbered as :meth:`alternatives` names them) is
        one of: the patterns' top-level alternatives in table order."""
        self._alt_needs = alt_needs
        self._alts_of = alts_of
        self._exact = exact
        self._prefix = compile_regex(trie(prefix, longest=True)) if prefix else None
        self._prefix_owners = _by_prefix_mask(prefix)
        backwards = {word[::-1]: ids for word, ids in suffix.items()}
        self._suffix = compile_regex(trie(backwards, longest=True)) if backwards else None
        self._suffix_owners = _by_prefix_mask(backwards)
        # The longest inner literal at each position, credited to every inner literal it
        # starts with (they occur there too).
        self._inner = compile_regex(trie(inner, longest=True)) if inner else None
        self._inner_owners = _by_prefix_mask(inner)
        self._loose_of: dict[int, list[str]] = {}
        for literal, owners in sorted(loose.items()):
            for need in owners:
                self._loose_of.setdefault(need, []).append(literal)
        # Requirements no literal without words ("<!--") meets: unmet by the words, unmet.
        self._by_words_only = ~_mask(need for owners in loose.values() for need in owners)
        self._loose_triggers = [
            (literal, alts)
            for literal, owners in sorted(loose.items())
            if (alts := self._triggered(_mask(owners)))
        ]
        self._cache: dict[bytes, tuple[int, frozenset[int], frozenset[int]]] = {}
        self.anchored = frozenset(anchored)
        """The alternatives every match of which starts at a word that :meth:`starts`
        names (a ``\\b`` and then literal text)."""
        self._exact_starts = {k: frozenset(v) for k, v in exact_starts.items()}
        self._prefix_starts = (
            compile_regex(trie(prefix_starts, longest=True)) if prefix_starts else None
        )
        self._prefix_start_owners = _by_prefix({k: frozenset(v) for k, v in prefix_starts.items()})
        # What a hex id or a number may start (they are not cached).
        self._hex_starts: dict[int, list[tuple[bytes, bool, frozenset[int]]]] = {}
        for goes_on, table in ((False, exact_starts), (True, prefix_starts)):
            for lead, starters in sorted(table.items()):
                if not lead.encode("ascii").strip(_HEX):  # by first byte
                    self._hex_starts.setdefault(ord(lead[0]), []).append(
                        (lead.encode("ascii"), goes_on, frozenset(starters))
                    )
        # Literals made of hex digits, by kind (0 anywhere, 1 word end, 2 word start,
        # 3 whole word): all a hex id can hold.
        self._hex = [
            (word.encode("ascii"), kind, (ids, self._triggered(ids)))
            for kind, table in enumerate((inner, suffix, prefix, exact))
            for word, ids in sorted(table.items())
            if not word.encode("ascii").strip(_HEX)
        ]
        # Literals made of digits ("0" of "step 0"), all a number can hold.
        self._numbers = [
            (word.encode("ascii"), (ids, self._triggered(ids)))
            for table in (inner, suffix, prefix, exact)
            for word, ids in sorted(table.items())
            if word.isdigit()
        ]

    def _leads(self, prefixes: frozenset[str]) -> set[tuple[str, bool]] | None:
        """The words a match may start at, when it starts after a ``\\b`` with one of
        ``prefixes``: (the ASCII word characters a prefix starts with, whether the word may
        go on after them). A prefix that starts with a letter :meth:`can_read` turns away
        cannot match any text read here, and is left out; ``None`` when a prefix starts
        with another character (its match would start at no word of the split)."""
        leads = set()
        for prefix in prefixes:
            lead = prefix[: len(prefix) - len(prefix.lstrip(_ASCII_WORD))]
            if lead:
                leads.add((lead, lead == prefix))
            elif not prefix or self._needed_letters.match(prefix) is None:
                return None
        return leads

    def can_read(self, texts: list[str]) -> bool:
        """Whether :meth:`alternatives` can read every one of ``texts``.

        It reads ASCII, and text outside ASCII unless it holds a letter some literal needs
        (accented letters of the translated patterns, CJK, Cyrillic, their case variants,
        or a character that matches an ASCII letter without case, such as the long s):
        those texts get the full scan. Any other character outside ASCII (curly quotes,
        dashes, emoji, letters no pattern names) is part of no literal's word, so
        :meth:`alternatives` splits words at it; literals without a word character ("—",
        "<|") are looked for in the text itself. Every literal found in the text is still
        found, and the extra word boundaries can only name more alternatives.
        """
        needed = self._needed_letters
        return all(text.isascii() or needed.search(text) is None for text in texts)

    def names(self, text: str, *, view: bool = False) -> set[str] | None:
        """Every pattern that may match ``text`` (the patterns of :meth:`alternatives`)."""
        found = self.alternatives(text, view=view)
        if found is None:
            return None
        return {self._alt_name[alt] for alt in found[0]}

    def alternatives(
        self, text: str, *, view: bool = False
    ) -> tuple[list[int], list[tuple[bytes, frozenset[int]]]] | None:
        """Every top-level alternative that may match ``text`` (a superset of those that
        do), in table order, for a text :meth:`can_read` accepts; :attr:`alternative_names`
        says whose each is.

        ``None`` when the text holds more than a few words never seen before that look
        like ids ("a3f9c2", or any new word of a decoded view, say a hex id read as
        leetspeak): they are seldom seen twice, so reading each costs more than the full
        scan this screen is there to save.

        Also returned: the words of the text that may start a match of an alternative of
        :attr:`anchored`, with those alternatives (see :meth:`starts`).
        """
        cache = self._cache
        met = 0
        touched: set[int] = set()
        starting: list[tuple[bytes, frozenset[int]]] = []
        misses = 0
        for word in set(text.encode("ascii", "replace").translate(_NOT_WORD).split()):
            entry = cache.get(word)
            if entry is None:
                if word.isdigit() or (not word.isalpha() and not word.strip(_HEX)):
                    # Numbers and hex ids are not cached (they are many and seldom seen
                    # twice): they may start only what starts with hex digits.
                    for lead, goes_on, alts in self._hex_starts.get(word[0], ()):
                        if word == lead or (goes_on and word.startswith(lead)):
                            starting.append((word, alts))
                if word.isdigit():  # numbers are many and hold only the digit literals
                    for digits, (ids, alts) in self._numbers:
                        if digits in word:
                            met |= ids
                            touched |= alts
                    continue
                if not word.isalpha() and not word.strip(_HEX):
                    # A hex id or hash ("a3f9c2"): seldom seen twice, and it can only hold
                    # the few literals made of hex digits, looked for directly.
                    for piece, kind, (ids, alts) in self._hex:
                        if (
                            (piece in word)
                            if kind == 0
                            else word.startswith(piece)
                            if kind == 2
                            else word.endswith(piece)
                            if kind == 1
                            else word == piece
                        ):
                            met |= ids
                            touched |= alts
                    continue
                if view or (not word.isalpha() and _DIGIT.search(word) is not None):
                    misses += 1
                    if misses > _MAX_NEW_IDS:
                        return None
                entry = self._entry(word.decode("ascii"))
                if len(cache) >= _MAX_CACHED_WORDS:
                    cache.clear()  # rebuilt at a few microseconds a word as texts come in
                cache[word] = entry
            if entry is _NOTHING:
                continue  # most words of a text
            met |= entry[0]
            if entry[1]:
                touched |= entry[1]
            if entry[2]:
                starting.append((word, entry[2]))
        for literal, alts in self._loose_triggers:
            if literal in text:
                touched |= alts
        if not touched:
            return [], starting
        unmet = ~met
        alt_needs = self._alt_needs
        by_words_only = self._by_words_only
        loose: dict[int, bool] = {}  # requirement -> met by a literal without words
        found: list[int] = []
        for alt in sorted(touched):
            # The rarest requirement is met (it touched alt); the others must be too.
            missing = alt_needs[alt] & unmet
            if missing and (missing & by_words_only or not self._loose_meet(missing, text, loose)):
                continue  # a requirement no word, nor literal without words, meets
            found.append(alt)
        return found, starting

    def _loose_meet(self, needs: int, text: str, seen: dict[int, bool]) -> bool:
        """Whether ``text`` holds a literal without words ("<!--", "://") of each
        requirement in ``needs`` (``seen``: what earlier calls for this text found)."""
        loose_of = self._loose_of
        while needs:
            low = needs & -needs
            needs ^= low
            need = low.bit_length() - 1
            met = seen.get(need)
            if met is None:
                met = seen[need] = any(literal in text for literal in loose_of[need])
            if not met:
                return False
        return True

    def _triggered(self, ids: int) -> frozenset[int]:
        """The alternatives whose rarest requirement is among ``ids``."""
        alts_of = self._alts_of
        found: set[int] = set()
        while ids:
            low = ids & -ids
            ids ^= low
            found.update(alts_of.get(low.bit_length() - 1, ()))
        return frozenset(found)

    def _entry(self, word: str) -> tuple[int, frozenset[int], frozenset[int]]:
        """A word's cache entry: the requirements it meets, the alternatives it triggers,
        the anchored alternatives a match of which may start at it."""
        ids = self._word_needs(word)
        starts = self._exact_starts.get(word, frozenset())
        if self._prefix_starts is not None:
            match = self._prefix_starts.match(word)
            if match is not None:
                starts |= self._prefix_start_owners[match.group()]
        if not ids and not starts:
            return _NOTHING
        return ids, self._triggered(ids), starts

    def _word_needs(self, word: str) -> int:
        """The requirements one word meets (by a literal it may hold)."""
        found = self._exact.get(word, 0)
        # A plain trie finds the longest literal the word starts (or, reversed, ends)
        # with; every literal that one starts with is there too.
        if self._prefix is not None and (match := self._prefix.match(word)) is not None:
            found |= self._prefix_owners[match.group()]
        if self._suffix is not None and (match := self._suffix.match(word[::-1])) is not None:
            found |= self._suffix_owners[match.group()]
        if self._inner is not None:
            for literal in _overlapping(self._inner, word):
                found |= self._inner_owners[literal]
        return found


def _mask(ids: Iterable[int]) -> int:
    """Numbers as the bits of one integer."""
    found = 0
    for i in ids:
        found |= 1 << i
    return found


def _by_prefix_mask(table: Mapping[str, int]) -> dict[str, int]:
    """:func:`_by_prefix` for masks: each literal's mask, and those of its prefixes."""
    found: dict[str, int] = {}
    for word in table:
        owners = 0
        for end in range(len(word) + 1):
            owners |= table.get(word[:end], 0)
        found[word] = owners
    return found


def _characters_like(chars: set[str]) -> re.Pattern[str]:
    """A class matching ``chars`` and every character outside ASCII that equals one of
    them ignoring case (case variants in the Basic Multilingual Plane, where letters with
    case live; the characters themselves wherever they are)."""
    if not chars:
        return re.compile(r"(?!)")
    variants = re.compile("(?i)[" + "".join(re.escape(c) for c in sorted(chars)) + "]")
    found = set(chars)
    everything = "".join(chr(c) for c in range(0x80, 0x10000) if not 0xD800 <= c <= 0xDFFF)
    found.update(variants.findall(everything))
    found = {c for c in found if not c.isascii()}
    return re.compile("[" + "".join(re.escape(c) for c in sorted(found)) + "]")
