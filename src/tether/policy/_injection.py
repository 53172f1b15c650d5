"""Flag tool outputs that look like prompt injection: a signal for people, never the defence.

A tool result is data from outside the run (a ticket, a web page, an email). When it
contains text written *at the model* ("ignore your previous instructions", "call the
refund tool", "send the API key to https://..."), :class:`InjectionScanner` names the
known patterns it matched; the engine records ``injection.flagged`` with those names and,
when the policy says so, escalates the run to a person.

This is a tripwire, not a wall. The real defence is that nothing a model says can widen
what a run may do: write tools go through the policy gate (allowlists, rules, approval),
and secrets never enter the conversation. A scanner can always be evaded by wording it
has not seen, and a flagged output is still passed to the model (as delimited untrusted
data, see ``tether.context._untrusted``).

How it matches:

* Text is normalised first: Unicode NFKC (full-width and other compatibility forms
  become ASCII), common Cyrillic and Greek look-alike letters become Latin, invisible
  characters (zero-width spaces, joiners, soft hyphens, bidi controls) are removed, the
  ASCII hidden in Unicode tag characters is revealed, and everything is lower-cased. So
  ``ig\\u200bnore previous instructions`` written with a zero-width space and a Cyrillic
  ``\\u0435`` for the first ``e`` matches. The invisible characters themselves are a
  pattern (``invisible_characters``), matched on the text as received.
* The patterns are compiled into one alternation with a named group per pattern
  alternative (plus one for punctuation-led alternatives such as ``<system>`` and one for
  the raw-text pattern). Alternatives that start with ``\\b`` and a literal word are
  guarded by a trie of those words, so the engine only tries them where such a word
  starts; matching the lower-cased text without ``re.IGNORECASE`` keeps each try cheap.
  About 0.1-0.3 microseconds per character of ordinary text. Gaps inside patterns are
  bounded (``[^\\n]{0,60}?``), so hostile input cannot cause catastrophic backtracking.
  Texts over ``max_chars`` are scanned at their start and end only.
* Base64-looking runs (24+ characters) that decode to mostly printable text are decoded
  and scanned too; a hit inside one adds ``encoded_instructions``.
* Matches are reported once per pattern name, in the order of the pattern table.
  Because the alternation consumes text, two patterns whose matches overlap may be
  reported as one; the result is a set of signals, not a count.

False positives, knowingly accepted (each name below is a pattern):

* ``role_override`` (``you are now a|an|the|in|my ...``) fires on "you are now in the
  queue"; ``act_as`` on "act as a proxy for"; ``developer_mode`` on "enable debug mode"
  in logs; ``claimed_authorization`` on "pre-approved" in marketing copy;
  ``system_prompt`` on any text that discusses system prompts; ``tool_directive`` on
  documentation ("use the export tool to ..."). Security writing about prompt injection
  matches almost everything. The patterns favour recall on text aimed at an AI because a
  flag costs a person a glance, while a missed one costs nothing more than without the
  scanner (the gate still decides).
* ``invisible_characters`` fires on text with zero-width joiners outside emoji, and on
  right-to-left text that uses bidi controls.
* ``encoded_instructions`` needs the decoded text to match another pattern, so ordinary
  base64 (images, hashes) is not flagged by itself.

Tune with ``InjectionScanner(extra=[...])`` to add patterns, or pass ``patterns=`` to
replace the table (``DEFAULT_PATTERNS`` filtered by name, say).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import importlib
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tether.exceptions import ConfigError

if TYPE_CHECKING:
    from tether.engine._events import InjectionFlagged

__all__ = [
    "DEFAULT_PATTERNS",
    "InjectionPattern",
    "InjectionScanner",
    "default_scanner",
    "flag_injection",
]


@dataclass(frozen=True, slots=True)
class InjectionPattern:
    """One named pattern of injected instructions.

    Args:
        name: An identifier (``[A-Za-z_][A-Za-z0-9_]*``), reported when the pattern matches.
        regex: A Python regex, matched against the normalised, lower-cased text: write it
            in lower case (a regex with upper-case letters is wrapped in ``(?i:...)``,
            which works but is slower). It may not define named groups or global inline
            flags (it is joined with the others), nor match empty text.
        description: What it catches, for people reading a flag.
        raw: Match the text as received, before normalisation removes invisible
            characters (only patterns that look for those need it).
    """

    name: str
    regex: str
    description: str = ""
    raw: bool = False
    """Match the text as received instead of the normalised text (for hidden characters)."""


_GAP = r"[^\n]{0,60}?"  # a bounded, same-line gap between the words of a phrase
_OBJECTS = (
    r"(?:instructions?|prompts?|rules|directions|directives|guidelines|guardrails|"
    r"polic(?:y|ies)|restrictions|constraints|programming|context|messages?)"
)

DEFAULT_PATTERNS: tuple[InjectionPattern, ...] = (
    InjectionPattern(
        "ignore_instructions",
        r"\b(?:ignore|forget|skip|override|overrule|bypass|drop|abandon|discard)\s+"
        r"(?:(?:all|any|every|the|your|of|these|those|my)\s+)*(?:previous|prior|above|"
        r"earlier|preceding|existing|original|initial|system|safety|old|current|former)\s+"
        rf"{_OBJECTS}\b",
        "ignore (all|any) previous/prior/above instructions",
    ),
    InjectionPattern(
        "disregard_instructions",
        rf"\bdisregard\b{_GAP}\b{_OBJECTS}\b",
        "disregard ... instructions",
    ),
    InjectionPattern(
        "new_instructions",
        r"\b(?:new|updated|revised|real|actual|true|additional|override|priority|urgent)\s+"
        r"(?:system\s+)?(?:instructions?|directives?|task)\s*[:\-\u2014]"
        r"|\byour\s+(?:new|real|true|actual|only)\s+(?:task|goal|job|instructions?|purpose|"
        r"objective|role)\s+(?:is|are|now)\b"
        r"|\b(?:instructions|rules)\s+(?:have|has)\s+(?:been\s+)?(?:changed|updated|replaced)\b",
        "new instructions: / your real task is ...",
    ),
    InjectionPattern(
        "role_override",
        r"\byou\s+are\s+(?:now|no\s+longer)\s+(?:a|an|the|in|my|acting|operating|running|"
        r"free|unrestricted|dan|allowed|authori[sz]ed)\b"
        r"|\bfrom\s+now\s+on,?\s+(?:you|your|the\s+assistant)\b"
        r"|\bpretend\s+(?:to\s+be|you\s+are|that\s+you)\b",
        "you are now ... / from now on you ...",
    ),
    InjectionPattern(
        "system_prompt",
        r"\bsystem\s+(?:prompt|message|override|instructions?)\b",
        "mentions the system prompt or a system override",
    ),
    InjectionPattern(
        "developer_mode",
        r"\b(?:developer|dev|debug|god|admin|administrator|jailbreak|dan|sudo|unrestricted|"
        r"superuser)\s+mode\b|\bjailbr(?:eak|oken)\b|\bdo\s+anything\s+now\b",
        "developer/admin/jailbreak mode",
    ),
    InjectionPattern(
        "act_as",
        r"\bact\s+(?:as|like)\s+(?:a|an|the|if|my|though|your)\b",
        "act as a/an/the/if ...",
    ),
    InjectionPattern(
        "tool_directive",
        r"\b(?:call|invoke|use|run|execute|trigger|fire|issue)\s+(?:the\s+|your\s+)?"
        r"[`'\"]?[a-z][\w.-]{1,40}[`'\"]?\s+(?:tool|function|action|api|endpoint|command)"
        r"(?:\s+(?:to|with|on|for|and)\b|\s*[:(.,])"
        r"|\b(?:call|invoke|execute|trigger)\s+[`'\"]?[a-z]+_[a-z_]+\b"
        r"|\b(?:tool_call|function_call|tool_use)\b\s*[:=({\"']",
        "call the X tool / use the X tool to / call x_y(...)",
    ),
    InjectionPattern(
        "exfiltrate_url",
        r"\b(?:send|post|upload|forward|transmit|submit|leak|email|copy|sync|push|"
        rf"beacon|exfiltrate)\b{_GAP}\b(?:to|into|at|via|on)\s+<?(?:https?://|ftp://|www\.)\S"
        r"|\b(?:curl|wget)\b[^\n]{0,100}?https?://\S",
        "send/post/forward ... to http(s)://",
    ),
    InjectionPattern(
        "markdown_exfiltration",
        r"!\[[^\]\n]{0,100}\]\(\s*https?://[^)\s]{0,300}[?&][^)\s]{0,300}=",
        "a markdown image whose URL carries a query string (data leaves when it renders)",
    ),
    InjectionPattern(
        "exfiltrate",
        r"\bexfiltrat\w*",
        "exfiltrate / exfiltration",
    ),
    InjectionPattern(
        "reveal_secrets",
        r"\b(?:reveal|print|show|output|repeat|display|dump|leak|share|tell\s+me|give\s+me|"
        r"include|paste|list|send|email|forward|expose|return|echo|disclose|provide|post)\s+"
        r"(?:me\s+|us\s+)?(?:(?:all|any|of|every|each)\s+)*(?:your|the|its|their|all|any)\s+"
        r"(?:[\w-]+\s+){0,2}?[\w-]*?(?:instructions|(?:system\s+)?prompt|secrets?|api[\s_-]?keys?|"
        r"credentials?|passwords?|passphrases?|tokens?|(?:secret|private|access)\s+keys?|"
        r"env(?:ironment)?\s+variables|config(?:uration)?)\b",
        "reveal your instructions / prompt / secrets / API key",
    ),
    InjectionPattern(
        "fake_role_tag",
        r"</?\s*(?:system|instructions?|assistant|developer|user|sys|admin|im_start|im_end|"
        r"tool_output|tool_result|function_results?)\b[^>\n]{0,100}>"
        r"|<\|\s*(?:im_start|im_end|system|user|assistant|endoftext|start_header_id|"
        r"end_header_id|eot_id)\s*\|>|\[/?(?:inst|sys)\]|<<\s*/?sys\s*>>"
        r"|^[ \t]*#{1,6}[ \t]*(?:system|instructions?|assistant)[ \t]*:?[ \t]*$"
        r"|^[ \t]*(?:\*\*|__|\[)?(?:system|assistant|developer)(?:\*\*|__|\])?[ \t]*:[ \t]*"
        r"(?:you|ignore|disregard|forget|new|override|from\s+now|always|never|do\s+not|"
        r"call|send|reveal|the\s+(?:assistant|ai|model|user))\b"
        r"|^[ \t]*system[ \t]*:[ \t]*(?:you|ignore|disregard|new|override|from\s+now|"
        r"the\s+(?:assistant|ai|model))\b",
        "<system>, </instructions>, <|im_start|>, [INST], 'SYSTEM:' lines",
    ),
    InjectionPattern(
        "claimed_authorization",
        r"\b(?:user|customer|owner|admin|administrator|manager|operator|ceo|cfo|security\s+team|"
        r"account\s+holder)\s+(?:has\s+|have\s+)?(?:already\s+|explicitly\s+)?"
        r"(?:authori[sz]ed|approved|consented\s+to|pre-?approved|signed\s+off\s+on)\s+"
        r"(?:this|these|it|all|any|you|every|(?:a|the)\s+(?:refunds?|transfers?|payments?|"
        r"charges?|deletions?|emails?|actions?|requests?|changes?|calls?))\b"
        r"|\bpre-?(?:approved|authori[sz]ed)\b"
        r"|\b(?:approval|authori[sz]ation|override|admin|bypass|clearance)\s+"
        r"(?:token|code|key|id|pin|phrase)\s*(?:is\s*)?[:=#]"
        r"|\b(?:action|request|call|refund|transfer|operation|charge|deletion|payment)\s+"
        r"(?:is|has\s+been|was)\s+(?:already\s+)?(?:pre-?)?(?:authori[sz]ed|approved|verified)\b"
        r"|\bno\s+(?:further\s+)?(?:approval|confirmation|authori[sz]ation)\s+"
        r"(?:is\s+)?(?:needed|required|necessary)\b",
        "the user authorized this / approval token: ... / pre-approved",
    ),
    InjectionPattern(
        "bypass_controls",
        r"\b(?:skip|bypass|ignore|disable|circumvent|avoid|turn\s+off|switch\s+off|"
        r"without)\s+(?:the\s+|any\s+|all\s+)?(?:approval|confirmation|verification|review|"
        r"human|polic(?:y|ies)|safety|guardrails?|checks?|filters?|restrictions?|"
        r"moderation|security)\b"
        r"|\b(?:no\s+longer|not|never)\s+(?:required|needed|necessary|needs?|requires?)\b"
        rf"{_GAP}\b(?:approval|confirmation|authori[sz]ation|review|verification)\b",
        "skip/bypass the approval, checks or policy; approval no longer needed",
    ),
    InjectionPattern(
        "addressed_to_ai",
        r"\b(?:attention|note|message|instructions?|important|notice)\s+(?:to|for)\s+"
        r"(?:the\s+|any\s+|all\s+)?(?:ai|assistant|llm|model|chatbot|bot|gpt|claude|"
        r"language\s+model)s?\b"
        r"|\b(?:dear|hey|hello|hi)[ \t]+(?:ai|assistant|llm|chatbot|bot|gpt|claude)\b"
        r"|\b(?:ai|assistant|llm|language\s+model)[ \t]*[:,][ \t]*(?:you\s+must|please|"
        r"ignore|do\s+not|you\s+should|now)\b"
        r"|\bif\s+you\s+are\s+an?\s+(?:ai|llm|language\s+model|assistant|agent)\b",
        "text addressed to the AI reading it",
    ),
    InjectionPattern(
        "conceal_from_user",
        r"\b(?:do\s+not|don'?t|never|without)\s+(?:tell|telling|inform|informing|mention|"
        r"mentioning|alert|alerting|notify|notifying|ask|asking|warn|warning)\s+"
        r"(?:(?:this|it|them)\s+(?:to\s+)?)?(?:the\s+)?(?:user|customer|human|operator|"
        r"anyone|them|a\s+human|for\s+(?:approval|confirmation|permission))\b"
        r"|\b(?:silently|secretly|quietly|covertly)\s+(?:call|send|run|execute|forward|"
        r"refund|delete|charge|transfer|email)\b",
        "do not tell the user / silently do X",
    ),
    InjectionPattern(
        "decode_and_follow",
        rf"\b(?:decode|base64|rot13|deobfuscate|decrypt|unscramble)\b{_GAP}"
        r"\b(?:follow|execute|obey|run|do\s+what|carry\s+out|comply|act\s+on|perform)\b",
        "decode this and follow it",
    ),
    InjectionPattern(
        "invisible_characters",
        "[\u200b\u200c\u200e\u200f\u2060-\u2064\u202a-\u202e\u2066-\u2069\U000e0000-\U000e007f]"
        "|(?<=.)\ufeff",
        "zero-width, bidi-control or tag characters (hidden text)",
        raw=True,
    ),
)
"""The built-in patterns, in reporting order."""

_BUILTIN = frozenset(DEFAULT_PATTERNS)

ENCODED_NAME = "encoded_instructions"
"""Reported (with the inner names) when a base64 blob decodes to text matching a pattern."""

# Cyrillic and Greek letters that look like Latin ones, folded before matching.
_CONFUSABLES = str.maketrans(
    "\u0430\u0432\u0435\u043a\u043c\u043d\u043e\u0440\u0441\u0442\u0443\u0445"
    "\u0456\u0458\u0455\u0501\u051b\u051d\u0261\u0410\u0412\u0415\u041a\u041c"
    "\u041d\u041e\u0420\u0421\u0422\u0425\u0406\u0408\u0405\u03b1\u03bf\u03c1"
    "\u03b5\u03b9\u03ba\u03bd\u03c4\u03c5\u0391\u0392\u0395\u0396\u0397\u0399"
    "\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5\u03a7",
    "abekmhopctyxijsdqwgABEKMHOPCTXIJSaopeikvtuABEZHIKMNOPTYX",
)
_LOOKALIKE = re.compile("[" + "".join(chr(c) for c in _CONFUSABLES) + "]")
# Removed before matching (a model does not see them either). Tag characters smuggle
# ASCII (U+E0041 is an invisible "A"), so they are mapped to the letters they hide.
_INVISIBLE = re.compile(
    "[\u00ad\u200b-\u200f\u2060-\u2064\u202a-\u202e\u2066-\u2069\ufeff\U000e0000-\U000e007f]"
)
_TAGS = re.compile("[\U000e0020-\U000e007e]+")
# Starts with a character class so the search runs in C's fast loop; greedy, so a match
# always spans a whole run. Runs separated only by whitespace are decoded together: an
# attacker splits a payload into short lines (under the redactor's 40-character
# long-token rule, which would otherwise replace it before any model saw it).
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_MIN_BLOB = 24
_MAX_BLOBS = 64
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ESCAPE = re.compile(r"\\.")
_NAMED_GROUP = re.compile(r"\(\?P<|\(\?<(?![=!])")
_GLOBAL_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")


class InjectionScanner:
    """Names the known prompt-injection patterns a text matches (see the module notes).

    Args:
        patterns: The pattern table (default :data:`DEFAULT_PATTERNS`). Items are
            :class:`InjectionPattern` or ``(name, regex)`` pairs.
        extra: Patterns added after ``patterns``.
        decode_base64: Also scan the decoded text of base64-looking runs.
        max_chars: Longer texts are scanned in their first and last ``max_chars // 2``
            characters (injections go where they will be read: the start or the end).

    Raises:
        ConfigError: A name is not an identifier or is used twice, or a regex does not
            compile, defines named groups, uses global inline flags or matches empty
            text. Patterns are checked here; the combined table is compiled on the
            first scan, so building a scanner (or a ``Policy``) costs almost nothing.
    """

    __slots__ = (
        "_groups",
        "_needles",
        "_order",
        "_raw",
        "_regexes",
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
        self._groups: dict[str, str] = {}
        self._regexes: tuple[re.Pattern[str], ...] | None = None  # compiled on first scan
        self._raw: re.Pattern[str] | None = None
        self._needles: tuple[str, ...] | None = None

    def _compile_table(self) -> tuple[re.Pattern[str], ...]:
        """Build the combined regexes (~50 ms for the built-in table, once per scanner).

        Every top-level alternative becomes its own group ``g<n>``, mapped back to its
        pattern's name. Alternatives that start with ``\\b`` and a literal word go into
        one regex guarded by a trie of those words, so a position is only tried where
        such a word starts; the others share a second regex guarded by their first
        characters where possible; ``raw`` patterns get a third, on the text as received.
        """
        groups: dict[str, str] = {}
        guarded: list[str] = []
        words: list[str] = []
        plain: list[str] = []
        raw: list[str] = []
        for p in self.patterns:
            for alternative in _split_top(p.regex):
                group = f"g{len(groups)}"
                groups[group] = p.name
                if p.raw:
                    raw.append(f"(?P<{group}>{alternative})")
                    continue
                prefixes = _leading_words(alternative)
                if prefixes is not None:
                    guarded.append(f"(?P<{group}>{_fold(alternative[2:])})")
                    words.extend(prefixes)
                else:
                    plain.append(f"(?P<{group}>{_fold(alternative)})")
        regexes = []
        if guarded:
            regexes.append(_compile(rf"\b(?={_trie(words)})(?:{'|'.join(guarded)})"))
        if plain:
            regexes.append(_compile(f"{_start_guard(plain)}(?:{'|'.join(plain)})"))
        self._groups = groups
        self._needles = _needles(p.regex for p in self.patterns if not p.raw)
        self._raw = _compile("|".join(raw), flags=re.IGNORECASE) if raw else None
        self._regexes = tuple(regexes)  # last: other threads use the rest once this is set
        return self._regexes

    def scan(self, text: str) -> list[str]:
        """Names of the patterns ``text`` matches, in table order (empty: nothing found)."""
        if not text:
            return []
        if len(text) > self.max_chars:
            half = self.max_chars // 2
            text = f"{text[:half]}\n{text[-half:]}"
        found = self._find(text)
        if self.decode_base64:
            for decoded in _decoded_blobs(text):
                inner = self._find(decoded)
                if inner:
                    found |= inner
                    found.add(ENCODED_NAME)
        return sorted(found, key=self._order.__getitem__)

    def scan_value(self, value: Any) -> list[str]:
        """:meth:`scan` over a tool result: a string, or every string (and key) in JSON data."""
        if isinstance(value, str):
            return self.scan(value)
        if value is None or isinstance(value, bool | int | float):
            return []
        return self.scan("\n".join(_strings(value)))

    def _find(self, text: str) -> set[str]:
        regexes = self._regexes if self._regexes is not None else self._compile_table()
        found: set[str] = set()
        groups = self._groups
        if text.isascii():
            normal = text.lower()
            needles = self._needles
            if needles is not None:
                # Fast reject: every pattern needs one of these literals (see _needles).
                for needle in needles:
                    if needle in normal:
                        break
                else:
                    return found
        else:
            if self._raw is not None:
                found.update(groups[g] for g in _matched_groups(self._raw, text))
            normal = _normalize(text)
        for regex in regexes:
            found.update(groups[g] for g in _matched_groups(regex, normal))
        return found

    def fingerprint(self) -> str:
        """A short hash of the configuration (patterns and options), for version pins."""
        parts = [f"{p.name}\x1e{p.regex}\x1e{p.raw}" for p in self.patterns]
        parts.append(f"{self.decode_base64}\x1e{self.max_chars}")
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"InjectionScanner(patterns={[p.name for p in self.patterns]!r})"


@functools.cache
def default_scanner() -> InjectionScanner:
    """The shared scanner with the built-in patterns (compiled on its first scan, ~50 ms)."""
    return InjectionScanner()


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


def _fold(regex: str) -> str:
    """``regex`` made to match lower-cased text: as is when it has no upper-case letters."""
    if any(c.isupper() for c in _ESCAPE.sub("", regex)):
        return f"(?i:{regex})"
    return regex


def _compile(regex: str, flags: int = 0) -> re.Pattern[str]:
    try:
        return re.compile(regex, re.MULTILINE | flags)
    except re.error as exc:  # e.g. a global inline flag, valid only at the very start
        raise ConfigError(f"injection patterns do not combine: {exc}") from None


def _matched_groups(regex: re.Pattern[str], text: str) -> Iterator[str]:
    for match in regex.finditer(text):
        if match.lastgroup is not None:
            yield match.lastgroup


def _split_top(regex: str) -> list[str]:
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


_WORD = re.compile(r"[A-Za-z0-9_]+")


def _leading_words(alternative: str) -> list[str] | None:
    """The literal words one of which starts every match of ``\\b(?:w1|w2...)...``.

    ``None`` when the alternative does not start that way (it is then tried everywhere).
    """
    if not alternative.startswith("\\b"):
        return None
    rest = alternative[2:]
    if rest.startswith("(?:"):
        end = _group_end(rest)
        if end is None or rest[end + 1 : end + 2] in ("?", "*", "{"):
            return None
        options = _split_top(rest[3:end])
    else:
        options = [rest]
    words = []
    for option in options:
        match = _WORD.match(option)
        if match is None:
            return None
        word = match.group()
        if option[len(word) : len(word) + 1] in ("?", "*", "{"):
            word = word[:-1]  # the last letter is optional
        if not word:
            return None
        words.append(word.lower())
    return words


def _group_end(regex: str) -> int | None:
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


def _trie(words: Iterable[str]) -> str:
    """A regex matching any of ``words`` as a prefix, factored by common prefix."""
    trie: dict[str, Any] = {}
    for word in sorted(set(words)):
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        if "" in node:
            return ""  # a shorter word already matches: longer ones add nothing
        options = [re.escape(char) + emit(child) for char, child in sorted(node.items())]
        return options[0] if len(options) == 1 else f"(?:{'|'.join(options)})"

    return emit(trie)


def _start_guard(alternatives: list[str]) -> str:
    """A cheap lookahead that every match of the alternatives must pass, or ``""``.

    Alternatives starting with a literal character are guarded by a class of those
    characters, ``^`` ones by a line start; anything else leaves the regex unguarded.
    """
    chars: set[str] = set()
    line_start = False
    for alternative in alternatives:
        body = alternative[alternative.index(">") + 1 :]  # after "(?P<gN>"
        literal = 2 if body.startswith("\\") else 1
        if body[literal : literal + 1] in ("?", "*", "{"):
            return ""  # the first character is optional
        if body.startswith("\\") and body[1:2] and not body[1].isalnum():
            chars.add(body[1])  # an escaped literal such as \[
        elif body.startswith("^"):
            line_start = True
        elif body[:1] and body[0] not in "\\[(.$|?*+{":
            chars.add(body[0])
        else:
            return ""
    options = []
    if chars:
        options.append("[" + "".join(re.escape(c) for c in sorted(chars)) + "]")
    if line_start:
        options.append("^")
    return f"(?={'|'.join(options)})"


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
_MAX_CHOICES = 16  # strings a literal run may spell ("[ \t]x" spells " x" and "\tx")
_MAX_CLASS = 4  # characters of a class that still extends a run
# Words so common in ordinary text that a needle made of them rarely rejects anything.
_COMMON = frozenset(
    [
        "a",
        "an",
        "and",
        "any",
        "all",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "in",
        "is",
        "it",
        "its",
        "my",
        "not",
        "now",
        "of",
        "on",
        "or",
        "the",
        "this",
        "to",
        "us",
        "we",
        "with",
        "you",
        "your",
    ]
)


def _needles(regexes: Iterable[str]) -> tuple[str, ...] | None:
    """Literals one of which every match of every regex holds, or ``None`` if not known.

    The regexes are matched against lower-cased text; when that text is ASCII and holds
    none of the needles, none of them can match, so the scan stops there. Each regex is
    split and folded as :meth:`InjectionScanner._compile_table` does, and each top-level
    alternative must yield a set of needles, or there is no prefilter at all.
    """
    found: set[str] = set()
    for regex in regexes:
        for alternative in _split_top(regex):
            needed = _required(_fold(alternative))
            if needed is None:
                return None
            found |= needed
    # A needle holding a shorter one is redundant: the shorter one is found first.
    kept = {n for n in found if not any(o != n and o in n for o in found)}
    return tuple(sorted(kept, key=lambda n: (-len(n), n)))


def _required(regex: str) -> frozenset[str] | None:
    """Strings one of which occurs in the lower-cased ASCII text of every match."""
    if _PARSER is None:
        return None
    try:
        parsed = _PARSER.parse(regex, re.MULTILINE)
    except (re.error, RecursionError, OverflowError, AttributeError):
        return None
    flags = int(parsed.state.flags)
    if flags & re.LOCALE:
        return None
    return _required_in(parsed, flags)


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


def _required_in(items: Any, flags: int) -> frozenset[str] | None:
    """:func:`_required` for a parsed sequence: the cheapest set among its necessary parts.

    Consecutive literals (and small classes) form runs of known text; a group, a branch
    or a repeat with a minimum of one gives the strings its own parts require.
    Zero-width items (``\\b``, ``^``, lookarounds) do not break a run; anything else does.
    """
    candidates: list[frozenset[str]] = []
    run: set[str] = {""}
    for op, av in items:
        chars = _unit(op, av, flags)
        if chars is not None:
            run = {s + c for s in run for c in chars}
            if len(run) > _MAX_CHOICES:
                run = chars
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
                run = chars
                continue
        exact = _exact(op, av, flags)
        if exact is not None and len(run) * len(exact) <= _MAX_CHOICES:
            run = {s + e for s in run for e in exact}  # a group of plain words: "(?:a|b)"
            continue
        if run != {""}:
            candidates.append(frozenset(run))
        run = {""}
        needed: frozenset[str] | None = None
        if op is _PARSER.SUBPATTERN:
            _group, add, remove, sub = av
            needed = _required_in(sub, (flags | add) & ~remove)
        elif op is _PARSER.ATOMIC_GROUP:
            needed = _required_in(av, flags)
        elif op in _REPEATS and av[0] >= 1:
            needed = _required_in(av[2], flags)
        elif op is _PARSER.BRANCH:
            union: set[str] = set()
            for branch in av[1]:
                one = _required_in(branch, flags)
                if one is None:
                    break
                union |= one
            else:
                needed = frozenset(union)
        if needed:
            candidates.append(needed)
    if run != {""}:
        candidates.append(frozenset(run))
    return min(candidates, key=_needle_cost) if candidates else None


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
        cost += (400, 200, 40, 6, 2)[min(len(needle), 4)] + (30 if needle in _COMMON else 0)
    return cost


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


def _normalize(text: str) -> str:
    """What the patterns see: NFKC, look-alikes folded, hidden tag text revealed, lower case."""
    if text.isascii():
        return text.lower()
    if _TAGS.search(text):
        text = _TAGS.sub(lambda m: " " + "".join(chr(ord(c) - 0xE0000) for c in m.group()), text)
    if _INVISIBLE.search(text):
        text = _INVISIBLE.sub("", text)
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    if _LOOKALIKE.search(text):
        text = text.translate(_CONFUSABLES)
    return text.lower()


def _decoded_blobs(text: str) -> Iterator[str]:
    """Printable text hidden in base64 (standard or URL-safe), whole runs or split ones."""
    groups: list[list[str]] = []
    end = -1
    for match in _BASE64.finditer(text):
        if groups and text[end : match.start()].isspace():
            groups[-1].append(match.group())
        elif len(groups) < _MAX_BLOBS:
            groups.append([match.group()])
        else:
            break
        end = match.end()
    for group in groups:
        joined = _decode("".join(group)) if sum(map(len, group)) >= _MIN_BLOB else None
        if joined is not None:
            yield joined
        elif len(group) > 1:
            for piece in group:
                decoded = _decode(piece) if len(piece) >= _MIN_BLOB else None
                if decoded is not None:
                    yield decoded


def _decode(blob: str) -> str | None:
    """The text a base64 blob decodes to, when it is mostly printable text with a space."""
    if "_" in blob or "-" in blob:
        blob = blob.replace("-", "+").replace("_", "/")
    blob = blob.rstrip("=")
    blob += "=" * (-len(blob) % 4)
    try:
        decoded = base64.b64decode(blob, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    printable = sum(c.isprintable() or c.isspace() for c in decoded)
    if decoded and printable >= 0.9 * len(decoded) and " " in decoded:
        return decoded
    return None


def _strings(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string in JSON-like data, keys included (bounded depth)."""
    if depth > 32:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                yield key
            yield from _strings(item, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _strings(item, depth + 1)
