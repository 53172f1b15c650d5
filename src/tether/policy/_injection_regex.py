"""Regex plumbing for the injection scanner: splitting, guarding and prefiltering patterns.

Nothing here knows what an injection looks like; it turns a table of regexes into a few
fast combined ones (see :class:`tether.policy._injection.InjectionScanner`) and derives
the literal *needles* one of which every match must contain, so clean text is rejected
by one cheap search before any pattern runs.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Iterator
from typing import Any

from tether.exceptions import ConfigError
from tether.policy._injection_cache import compile_regex

_ESCAPE = re.compile(r"\\.")


def fold(regex: str) -> str:
    """``regex`` made to match lower-cased text: as is when it has no upper-case letters."""
    if any(c.isupper() for c in _ESCAPE.sub("", regex)):
        return f"(?i:{regex})"
    return regex


def compile_table_regex(regex: str, flags: int = 0) -> re.Pattern[str]:
    try:
        return compile_regex(regex, re.MULTILINE | flags)
    except re.error as exc:  # e.g. a global inline flag, valid only at the very start
        raise ConfigError(f"injection patterns do not combine: {exc}") from None


def matched_groups(regex: re.Pattern[str], text: str) -> Iterator[str]:
    """The group of each match, searching again one character after each match's start.

    Restarting past the start rather than the end lets a pattern that begins inside a
    longer match (a strong cue inside a weak one's span) be found too; at one position
    the alternation still reports only its first alternative.
    """
    pos = 0
    search = regex.search
    while (match := search(text, pos)) is not None:
        if match.lastgroup is not None:
            yield match.lastgroup
        pos = match.start() + 1


def split_top(regex: str) -> list[str]:
    """``regex`` split at its top-level ``|`` (outside groups and character classes)."""
    parts: list[str] = []
    start = depth = 0
    i, n = 0, len(regex)
    in_class = False
    while i < n:
        c = regex[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 1
            if regex.startswith("^", i):
                i += 1
            if regex.startswith("]", i):
                i += 1
            continue
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(regex[start:i])
            start = i + 1
        i += 1
    parts.append(regex[start:])
    return parts


def group_end(regex: str) -> int | None:
    """Index of the ``)`` closing the group that opens ``regex``."""
    depth = 0
    i, n = 0, len(regex)
    in_class = False
    while i < n:
        c = regex[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


WORD_START = "\x00"
"""Marks a needle that starts a word (it followed ``\\b`` in its pattern)."""
WORD_END = "\x01"
"""Marks the end of a word inside a needle (it was followed by ``\\b`` or whitespace)."""
STARTED_WORD = "\x02"
"""Marks, after a needle's first character, that this character started a word.

Emitted as ``(?<!\\w.)`` (the character before it is no word character), so a trie can
begin every branch with a literal character, which lets CPython's search skip ahead in C,
where a leading ``\\b`` would make it try every position."""
_TRIE_MARKS = {WORD_START: r"\b", WORD_END: r"\b", STARTED_WORD: r"(?<!\w.)"}


def trie(words: Iterable[str], *, longest: bool = False) -> str:
    """A regex matching any of ``words``, factored by common prefix.

    By default it stops at the shortest word at a position (enough to know one occurs);
    with ``longest`` it goes on to the longest one there.
    """
    trie: dict[str, Any] = {}
    for word in sorted(set(words)):
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        ends = "" in node
        if ends and not longest:
            return ""  # a shorter word already matches: longer ones add nothing
        options = [
            _TRIE_MARKS.get(char, re.escape(char)) + emit(child)
            for char, child in sorted(node.items())
            if char
        ]
        if not options:
            return ""
        if ends:
            return f"(?:{'|'.join(options)})?"
        return options[0] if len(options) == 1 else f"(?:{'|'.join(options)})"

    return emit(trie)


def start_guard(alternative: str) -> set[str] | None:
    """The characters one of which starts every match of ``alternative``, or ``None``.

    ``"^"`` in the set stands for a line start. ``None`` when the first character is
    not known (a category such as ``\\w``, a negated class, an optional first item).
    """
    if _PARSER is None:
        return None
    try:
        parsed = _PARSER.parse(alternative, re.MULTILINE)
    except (re.error, RecursionError, OverflowError, AttributeError):
        return None
    return _first_chars(parsed, int(parsed.state.flags))


def guard(chars: set[str]) -> str:
    """A lookahead that passes only where one of ``chars`` (or a line start, ``^``) is."""
    options = []
    if chars - {"^"}:
        options.append("[" + "".join(re.escape(c) for c in sorted(chars - {"^"})) + "]")
    if "^" in chars:
        options.append("^")
    return f"(?={'|'.join(options)})"


def _first_chars(items: Any, flags: int) -> set[str] | None:
    """:func:`start_guard` for a parsed sequence."""
    for op, av in items:
        if op is _PARSER.AT:
            if av in (_PARSER.AT_BEGINNING, _PARSER.AT_BEGINNING_LINE):
                return {"^"}
            continue  # \b and friends consume nothing
        if op in (_PARSER.ASSERT, _PARSER.ASSERT_NOT):
            continue
        if op is _PARSER.LITERAL or op is _PARSER.IN:
            return _class_chars(op, av, flags)
        if op is _PARSER.SUBPATTERN:
            _group, add, remove, sub = av
            return _first_chars(sub, (flags | add) & ~remove)
        if op is _PARSER.BRANCH:
            union: set[str] = set()
            for branch in av[1]:
                one = _first_chars(branch, flags)
                if one is None:
                    return None
                union |= one
            return union
        if op in _REPEATS and av[0] >= 1:
            return _first_chars(av[2], flags)
        return None
    return None


def _class_chars(op: Any, av: Any, flags: int) -> set[str] | None:
    """The characters a literal or a small class of literals matches (lower case)."""
    items = [(op, av)] if op is _PARSER.LITERAL else av
    chars: set[str] = set()
    for item_op, code in items:
        if item_op is not _PARSER.LITERAL:
            return None  # a negation, range or category
        char = chr(code)
        chars.add(char.lower() if flags & re.IGNORECASE else char)
    return chars if len(chars) <= 32 else None


# The stdlib's regex parser (``re._parser``, Python 3.11+), typed loosely: it has no stubs.
# It is private: if a future Python changes it, the prefilter is off and every text gets
# the full scan (detection never depends on it).
try:
    _PARSER: Any = importlib.import_module("re._parser")
    _REPEATS = frozenset({_PARSER.MAX_REPEAT, _PARSER.MIN_REPEAT, _PARSER.POSSESSIVE_REPEAT})
    _ZERO_WIDTH = frozenset({_PARSER.AT, _PARSER.ASSERT, _PARSER.ASSERT_NOT})
except (ImportError, AttributeError):  # pragma: no cover - depends on the Python version
    _PARSER = None
    _REPEATS = _ZERO_WIDTH = frozenset()
# Non-ASCII characters that case-insensitive matching equates with ASCII letters.
_ASCII_FOLDS = frozenset("\u212a\u017f\u0130\u0131\u212b")


def ascii_blind(regex: str, flags: int = 0) -> bool:
    """Whether every match of ``regex`` starts with a non-ASCII character.

    Such a pattern can never match ASCII text, so the scanner skips it there; any regex
    it cannot prove that for (or cannot parse) runs on every text.
    """
    if _PARSER is None:
        return False
    for alternative in split_top(regex):
        try:
            parsed = _PARSER.parse(alternative, flags)
        except (re.error, RecursionError, OverflowError, AttributeError):
            return False
        first = next(((op, av) for op, av in parsed if op not in _ZERO_WIDTH), None)
        if (
            first is not None
            and first[0] in _REPEATS
            and first[1][0] >= 1
            and len(first[1][2]) == 1
        ):
            first = first[1][2][0]  # "[...]+": the first character is one of the class
        if first is None or not _non_ascii_start(*first, flags=int(parsed.state.flags)):
            return False
    return True


def _non_ascii_start(op: Any, av: Any, *, flags: int) -> bool:
    """Whether one parsed item only ever consumes a non-ASCII character."""
    if op is _PARSER.LITERAL:
        items = [(op, av)]
    elif op is _PARSER.IN:
        items = av
    else:
        return False
    for item_op, item_av in items:
        if item_op is _PARSER.LITERAL:
            lo = hi = item_av
        elif item_op is _PARSER.RANGE:
            lo, hi = item_av
        else:
            return False  # a negation or a category (\w, \s) may match ASCII
        if lo < 128:
            return False
        if flags & re.IGNORECASE and any(lo <= ord(c) <= hi for c in _ASCII_FOLDS):
            return False
    return True


_SPECIAL = "\\[(.^$|?*+{)"
_QUANTIFIERS = ("?", "*", "+", "{")
_HEX = frozenset("0123456789abcdefABCDEF")


def prefix_entries(alternative: str) -> list[tuple[str, str]] | None:
    """``alternative`` as (literal prefix, rest) pairs, one per option, or ``None``.

    ``\\b(?:ignore|forget\\s+it)X`` gives ``[("ignore", "X"), ("forget", "\\s+itX")]``;
    a literal-led ``<\\|x`` gives ``[("<|", "x")]``. The leading ``\\b`` is left to the
    caller. ``None`` when an option does not start with a literal character.
    """
    body = alternative[2:] if alternative.startswith("\\b") else alternative
    if body.startswith("(?:"):
        end = group_end(body)
        if end is None or body[end + 1 : end + 2] in _QUANTIFIERS:
            return None
        options, tail = split_top(body[3:end]), body[end + 1 :]
    else:
        options, tail = [body], ""
    entries = []
    for option in options:
        prefix, rest = _literal_prefix(option)
        if not prefix:
            return None
        entries.append((prefix, rest + tail))
    return entries


def _literal_prefix(option: str) -> tuple[str, str]:
    """The literal characters ``option`` starts with, and the regex after them."""
    chars: list[str] = []
    i = 0
    while i < len(option):
        if option[i] == "\\":
            escaped = option[i + 1 : i + 2]
            code = option[i + 2 : i + 6]
            if escaped == "u" and len(code) == 4 and all(c in _HEX for c in code):
                char, width = chr(int(code, 16)), 6  # \u0441
            elif not escaped or escaped.isalnum():
                break
            else:
                char, width = escaped, 2
        elif option[i] in _SPECIAL:
            break
        else:
            char, width = option[i], 1
        if option[i + width : i + width + 1] in _QUANTIFIERS:
            break  # "instructions?": the "s" is optional, the prefix ends before it
        chars.append(char)
        i += width
    return "".join(chars), option[i:]


def prefix_table(entries: list[tuple[str, str, str]]) -> str:
    """One regex from (literal prefix, group name, rest) entries, as a trie of prefixes.

    The engine walks the literal prefixes one character at a time (CPython checks a
    branch's leading literal before entering it), so at each position only alternatives
    whose prefix matches there are tried: a table of hundreds costs about what a few do.
    A prefix may hold :data:`STARTED_WORD` after its first character (for ``\\b``).
    """
    root: dict[str, Any] = {}
    for prefix, group, rest in entries:
        node = root
        for char in prefix:
            node = node.setdefault(char, {})
        node.setdefault("", []).append((group, rest))

    def emit(node: dict[str, Any]) -> str:
        parts = [f"(?P<{group}>{rest})" for group, rest in node.get("", [])]
        parts += [
            _TRIE_MARKS.get(char, re.escape(char)) + emit(child)
            for char, child in sorted(node.items())
            if char
        ]
        return f"(?:{'|'.join(parts)})"

    return emit(root)
