"""Redaction: scrub credentials from anything before it is persisted, exported or shown.

Redaction protects what leaves the process and never changes what executes.

Three kinds of secret are recognised:

* **Sensitive field names** (``password``, ``api_key``, ``authorization``, ...): the whole
  value under such a key is replaced. Matching ignores case and ``-``/``_`` and looks at
  the end of the key, so ``X-Api-Key``, ``apiKey``, ``db_password`` and ``github_token``
  all match while ``max_tokens`` or ``token_count`` do not. A name written with a leading
  separator (``_pass``, ``_pin``) must also begin a word of the key: ``db_pass``,
  ``dbPass`` and ``PIN`` match, ``compass``, ``bypass`` and ``spin`` do not. Booleans and
  ``null`` are kept (``"auth": true`` reveals nothing). In free text the same names are
  recognised as ``name=value`` (env files, query strings, flags) and as quoted keys
  (``"name": value``, JSON or a Python dict inside a string). Tools add names of their own
  with :func:`declare_sensitive_fields` (a parameter typed ``SecretStr``): those match
  only as the whole key, in every redactor that has field names.
* **Credential-shaped strings**: see :data:`DEFAULT_PATTERNS` (OpenAI/Anthropic, Stripe,
  Slack, GitHub and AWS keys, ``Bearer`` tokens, JWTs, PEM private keys, passwords in
  URLs, long random tokens). Every one of them contains 20 unbroken token characters,
  which is what makes the scan cheap; a ``Bearer`` token shorter than that in free text
  is left alone (under an ``Authorization`` key it is redacted as a field, and after an
  ``Authorization:`` header name and a scheme, ``Basic`` included, whatever its length).
  Long tokens are judged by shape: a run of 40 or more base64/base64url characters is a
  secret when it has a digit and a letter and is either one unbroken alphanumeric word
  (hex digests, base32 and base62 keys) or mixes upper case, lower case and digits
  (base64). So **hex of 40+ characters is treated as a secret** (a sha1 such as a git
  commit id, a sha256): Tether's own hashes in events are 16 hex characters and
  unaffected. UUIDs (36 characters), snake_case identifiers, ordinary words, numbers and
  absolute paths are left alone. A base64 blob such as an inline image is
  indistinguishable from a key and is redacted.
* **Exact values** the secrets broker handed out (``values_source``), even when they look
  like nothing in particular (``hunter2hunter2``), also in another ASCII case and
  encoded: hex (also with ``:``, ``-`` or space between bytes), base64 (standard or
  urlsafe, padded or not, and inside a longer base64 string such as
  ``base64("user:" + value)``: each of the three byte alignments has a run of characters
  that depends on the value alone), percent-encoding (of the special characters, or of
  every byte) and JSON escapes (``\\/``, ``\\uXXXX`` for any of its characters, at any
  depth of nesting). Values shorter
  than ``min_value_length`` are ignored; *weak* values (only letters or only digits,
  under 10 characters: ``"completed"``, ``"123456"``) are replaced only where a whole
  string equals them, never inside prose or in encoded forms.

What is redacted is the secret, not the text around it: every rule reports ranges of the
original text, the ranges are merged, and only they are replaced.

**Structure is never rewritten.** :meth:`Redactor.redact_json` leaves the top-level
:data:`DEFAULT_STRUCTURAL_KEYS` of an event (``type``, ``status``, ``call_id``, ...) alone,
keys included, and a *weak* known value is never looked for in a key, so a secret that
equals ``"completed"`` cannot break the log. :meth:`Redactor.seal` is for what executes:
sensitive values become ``$sealed`` markers (see :mod:`tether.observe._codec`) that
:func:`~tether.observe.unseal` turns back into the exact originals.

**Keys are data too.** A mapping key that holds a secret (a credential shape, a known
value: ``{"sessions": {"<api key>": ...}}``, ``{"headers": {"ghp_...": ...}}``) is found
by the same rules as a string. :meth:`Redactor.redact_value` renames it to its redacted
text, and two keys that would become the same (or a key another key already has) are
told apart by a suffix (``[REDACTED]``, ``[REDACTED]#2``), so no entry is silently
dropped. :meth:`Redactor.seal` cannot put a marker where a key goes, so it seals the
smallest mapping that holds such a key whole (its exact keys come back from
:func:`~tether.observe.unseal`); with ``mask_text=True`` it renames the keys as
:meth:`Redactor.redact_value` does. Keys repeat, so what each key becomes is cached
(per set of known values): a mapping without a secret key costs a dict lookup per key,
and only once :meth:`Redactor.scan` has found something in the document at all.

**Linear time.** Every regex is linear on any input: no nested unbounded quantifiers, and
shapes start with their literal prefix (``sk-``, ``eyJ``, ``://``) so the engine jumps
between prefixes instead of starting a match at every position. ``name=value`` is found
from the ``=`` backwards; runs of 40 token characters by a substring search. Each rule
runs only when its cheap gate passes. 10 MB of tool output is redacted in well under a
second (``benchmarks/redact.py``); above :data:`OFFLOAD_BYTES` the engine runs it in a
worker thread.

:meth:`Redactor.scan` is the gate on the hot path of every persisted event. On clean data
it is a few single passes in C and no decoding: fold ASCII case, search the reversed text
for ``<sensitive key>":`` anchored on the rare ``:``, look for one run of 20 token
characters, look for ``=``/``@``, and look for each known value (its encoded forms only
behind one shared alphanumeric-run gate). Only when one of these hits are the candidate
patterns confirmed, so a clean event is passed through untouched by
:meth:`Redactor.redact_json` without being parsed.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload
from urllib.parse import quote, quote_plus

from tether.exceptions import ConfigError
from tether.observe._codec import (
    LITERAL,
    REDACTED,
    RESERVED_KEYS,
    SEALED,
    PayloadCodec,
    is_marker,
    mask_markers,
    sealed_marker,
)

DEFAULT_REPLACEMENT = "[REDACTED]"

DEFAULT_FIELDS: tuple[str, ...] = (
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "passcode",
    "_pass",
    "secret",
    "secret_key",
    "secret_access_key",
    "signing_key",
    "encryption_key",
    "token",
    "access_token",
    "refresh_token",
    "jwt",
    "api_key",
    "apikey",
    "authorization",
    "auth",
    "cookie",
    "set-cookie",
    "private_key",
    "client_secret",
    "credential",
    "credentials",
    "session",
    "_pin",
    "otp",
    "cvv",
    "cvc",
)
"""Keys whose values are always secret (case, ``-`` and ``_`` ignored; the key's end must match).

A leading ``_`` asks for a word boundary before the name as well (start of the key, a
separator, a digit or a camelCase hump): ``_pass`` is ``db_pass``/``dbPass``/``PASS`` but
not ``compass`` or ``bypass``; ``_pin`` is ``card_pin``/``cardPin`` but not ``spin``.
Keys that only *start* with such a word (``passenger``, ``pinned``, ``otp_enabled``,
``keyword``, ``primary_key``) never match: only the end of a key counts.
"""

_MIN_RUN = 20
"""Every built-in credential shape contains this many consecutive token characters."""

LONG_TOKEN_LENGTH = 40
"""A run of base64 characters at least this long is judged by :func:`_looks_random`."""

_TOKEN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"
# Token characters become "a" and everything else a space, so one substring search finds
# any run of _MIN_RUN token characters (a regex would enter a match at every letter).
_RUN_TABLE = bytes(ord("a") if c in _TOKEN_CHARS else ord(" ") for c in range(256))
_RUN_NEEDLE = b"a" * _MIN_RUN
# ASCII lower case with '-' folded into '_' (the form sensitive keys are matched in), and
# '@' folded into '=' so one byte search gates both URL credentials and name=value pairs.
# Hints go through the same table, so folding only ever adds candidates, never loses one.
_FOLD_TABLE = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ-@", b"abcdefghijklmnopqrstuvwxyz_=")
_DIGITS = frozenset("0123456789")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_SEPARATORS = frozenset("+/_-")
# A JSON, Python or shell quoted string, escapes included.
_QUOTED_VALUE = r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'"
# One whose closing quote has not arrived yet, nor a line end that rules the quoted form out.
_UNCLOSED_VALUE = r"\"(?:[^\"\\\n]|\\.)*+\\?\Z|'(?:[^'\\\n]|\\.)*+\\?\Z"
_UNCLOSED = re.compile(_UNCLOSED_VALUE)
_GAP = 256
"""At most this many whitespace characters between a sensitive name and its value (or
its ``=`` / ``:``): the rules that find a value by its name reach no further, so a live
stream's guard (``engine/_protect.DeltaGuard``, which keeps 4,096 characters before what
it showed) sees every name whose value it could show."""
_UNQUOTED_GAP = rf"(?:[ \t]|t\\+){{0,{_GAP}}}+"
"""Between an unquoted name and its ':' in the reversed bytes of an event: spaces, tabs,
and tabs as JSON writes them in a string (``\\t``, reversed ``t\\``)."""
_UNQUOTED_GAPS: tuple[tuple[str, ...], ...] = (
    (),
    (" ", _UNQUOTED_GAP),
    ("\t", _UNQUOTED_GAP),
    ("t", "\\\\+", _UNQUOTED_GAP),  # JSON's "\\t", reversed
)
"""The ways a gap before an unquoted name's ':' begins, as regex tokens on reversed bytes."""
_NAME = 128
"""Characters of a name before its sensitive spelling that the forward rules read."""
_UNCLOSED_ASSIGNED = re.compile(rf"\s{{0,{_GAP}}}+(?P<value>{_UNCLOSED_VALUE})")
_OPEN_QUOTE = re.compile(rf"\s{{0,{_GAP}}}+[\"']")
_SPACE = re.compile(r"\s")
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretPattern:
    """One credential shape: a regex, the part of a match that is secret, and a cheap gate.

    Attributes:
        name: Short identifier (``"jwt"``), for tests and documentation.
        regex: What to find. Matches are replaced by the redactor's replacement.
        group: The group that is the secret (``0``: the whole match). Text around it,
            like ``Bearer `` or ``user:`` in a URL, is kept so the result stays readable.
        accept: Further check of the secret (``False`` leaves the match alone), for
            shapes a regex alone cannot judge, like long random-looking tokens.
        hint: A literal every match contains (case-insensitive, ``-`` and ``_`` alike);
            the regex runs only when the text contains it.
        long_token: Every match contains 20 consecutive characters of
            ``[A-Za-z0-9+/_-]``; :meth:`Redactor.scan` looks for such a run once for all
            patterns that say so, and checks their ``hint`` only when it finds one. A
            pattern with neither gate is searched in full on every scan.
    """

    name: str
    regex: re.Pattern[str]
    group: int | str = 0
    accept: Callable[[str], bool] | None = None
    hint: str | None = None
    long_token: bool = False

    def found(self, text: str) -> bool:
        """Whether ``text`` contains an accepted match."""
        if self.accept is None:
            return self.regex.search(text) is not None
        return any(self.accept(m.group(self.group)) for m in self.regex.finditer(text))

    def redact(self, text: str, replacement: str) -> str:
        """``text`` with every accepted match's secret part replaced."""
        accept, group = self.accept, self.group

        def replace(match: re.Match[str]) -> str:
            secret = match.group(group)
            if accept is not None and not accept(secret):
                return match.group(0)
            if group == 0:
                return replacement
            start, end = match.span(group)
            whole, offset = match.group(0), match.start()
            return whole[: start - offset] + replacement + whole[end - offset :]

        return self.regex.sub(replace, text)


def _looks_random(run: str) -> bool:
    """Whether a 40+ character base64-alphabet run is a key rather than a word or a path."""
    core = run.rstrip("=")
    chars = frozenset(core)
    if chars.isdisjoint(_DIGITS):
        return False
    upper, lower = not chars.isdisjoint(_UPPER), not chars.isdisjoint(_LOWER)
    if not (upper or lower):
        return False
    if chars.isdisjoint(_SEPARATORS):
        return True  # one unbroken alphanumeric word of 40+ characters: hex, base32, base62
    if core.startswith("/") and core.count("/") >= 3:
        return False  # an absolute path, like /Users/Alice/Projects2/src/module
    return upper and lower  # base64 mixes cases; snake_case and CONSTANT_CASE do not


# Shapes that begin a word start with their literal prefix and check the character before
# it afterwards, with a lookbehind over prefix and character: a leading lookbehind would
# make the regex engine try every position of the text instead of jumping to the prefix.
_T = "[A-Za-z0-9_-]"  # a token character (base64url)

_LONG_TOKEN_RE = re.compile(rf"[A-Za-z0-9+/_-]{{{LONG_TOKEN_LENGTH},}}={{0,2}}")
_LONG_NEEDLE = b"a" * LONG_TOKEN_LENGTH

_PEM_BEGIN = r"-----BEGIN (?:[A-Z0-9]{1,24} ){0,4}PRIVATE KEY(?: BLOCK)?-----"
_PEM_END = r"-----END (?:[A-Z0-9]{1,24} ){0,4}PRIVATE KEY(?: BLOCK)?-----"
_PEM_MATERIAL = r"[A-Za-z0-9+/]{20}"
_PEM_REACH = 300
"""Key material must begin within this many characters after a private key header."""
_PEM_BEGIN_RE = re.compile(_PEM_BEGIN)
_PEM_END_RE = re.compile(_PEM_END)
_PEM_MATERIAL_RE = re.compile(_PEM_MATERIAL)
_PEM_STARTED = re.compile(r"-----BEGIN[A-Z0-9 -]{0,140}\Z")
"""The start of a header at the end of a text (a superset: any header, whole or not)."""

DEFAULT_PATTERNS: tuple[SecretPattern, ...] = (
    SecretPattern(
        name="private_key_block",
        # Key material must follow (a base64 line within a few header lines), so a bare
        # header in documentation stays. An unterminated block (truncated output) is
        # redacted to the end of the text.
        regex=re.compile(
            rf"{_PEM_BEGIN}(?=.{{0,{_PEM_REACH}}}?{_PEM_MATERIAL}).*?(?:{_PEM_END}|\Z)",
            re.DOTALL,
        ),
        long_token=True,  # body lines are 64 base64 characters
    ),
    SecretPattern(
        name="jwt",
        # A signed JWT header ({"alg":"HS256"} and up) is at least 20 characters.
        regex=re.compile(rf"eyJ(?<!{_T}eyJ){_T}{{17,}}+\.{_T}{{4,}}+\.{_T}*+"),
        long_token=True,
    ),
    SecretPattern(
        name="openai_anthropic_key",
        # sk-..., sk-proj-..., sk-ant-api03-...; the digit keeps "sk-learn-style-names" out.
        regex=re.compile(rf"sk-(?<!{_T}sk-)(?={_T}*?[0-9]){_T}{{20,}}"),
        long_token=True,
    ),
    SecretPattern(
        name="stripe_key",
        regex=re.compile(rf"[sr]k_(?<!{_T}[sr]k_)(?:live|test)_[A-Za-z0-9]{{16,}}"),
        long_token=True,
    ),
    SecretPattern(
        name="slack_token",
        regex=re.compile(rf"xox[abposr]-(?<!{_T}xox[abposr]-)[A-Za-z0-9-]{{15,}}"),
        long_token=True,
    ),
    SecretPattern(
        name="github_token",
        regex=re.compile(
            rf"g(?:h[pousr]_(?<!{_T}gh[pousr]_)[A-Za-z0-9]{{30,}}"
            rf"|ithub_pat_(?<!{_T}github_pat_)[A-Za-z0-9_]{{30,}})"
        ),
        long_token=True,
    ),
    SecretPattern(
        name="aws_access_key_id",
        regex=re.compile(r"A[KS]IA(?<![A-Za-z0-9]A[KS]IA)[0-9A-Z]{16}(?![A-Za-z0-9])"),
        long_token=True,
    ),
    SecretPattern(
        name="authorization_header",
        # An Authorization header written out (a request dump, curl -v, a log line): the
        # credentials after a known scheme, whatever their length or shape, so a Basic
        # credential (base64 of user:password) or a short token goes too. The scheme
        # stays; a value without one is left to the other shapes.
        hint="authorization",
        regex=re.compile(
            r"(?i:authorization)[ \t]*+:[ \t]*+(?i:basic|bearer|token|negotiate|ntlm|apikey)"
            r"[ \t]++(?P<secret>[A-Za-z0-9._~+/-]++=*+)"
        ),
        group="secret",
    ),
    SecretPattern(
        name="bearer_token",
        # The token must hold 20 unbroken token characters, as real ones do (JWTs, opaque
        # OAuth tokens, API keys). That keeps "the bearer instrument" prose and lets
        # scan() find it with the shared run check instead of one more pass. A shorter
        # token is still redacted under an "Authorization" key, not in free text.
        hint="bearer",
        regex=re.compile(
            r"(?i:\bbearer)\s+(?P<secret>(?=[A-Za-z0-9._~+/-]*?[A-Za-z0-9+/_-]{20})"
            r"[A-Za-z0-9._~+/-]+=*)"
        ),
        group="secret",
        long_token=True,
    ),
    SecretPattern(
        name="url_credentials",
        # scheme://user:password@host: only the password goes. The match starts at the
        # literal "://" (a scheme character before it), not at every word that could be a
        # scheme: "a.a.a.a..." made the old form try each letter to the end (quadratic).
        # Userinfo stops at '/', which every "://" holds, so no two attempts overlap.
        regex=re.compile(r"://(?<=[A-Za-z0-9+.-]://)[^\s/:@'\"]*+:(?P<secret>[^\s/@'\"]++)@"),
        group="secret",
        hint="@",
    ),
    SecretPattern(
        name="long_token",
        regex=_LONG_TOKEN_RE,
        accept=_looks_random,
        long_token=True,
    ),
)
"""Built-in credential shapes, in the order they are applied (specific before generic)."""


@dataclass(frozen=True, slots=True)
class _Echo:
    """One form in which a known value can show up in text (itself, hex, base64, ...).

    ``gate`` is a literal every match contains: in the ASCII-lower-cased text when
    ``folded``, else in the text as is. ``needles`` are what :meth:`Redactor.scan` looks
    for in the persisted bytes (folded with ``_FOLD_TABLE`` when ``folded``).
    """

    kind: str  # "text", "encoded" (percent), "hex", "hexsep", "base64" or "escaped"
    regex: re.Pattern[str]
    gate: str
    needles: tuple[bytes, ...]
    folded: bool
    alphabet: frozenset[str] = frozenset()  # a match grows to the run of these around it
    run: bytes = b""  # separated hex: its gate in the ``_HEXSEP_TABLE`` translation


@dataclass(frozen=True, slots=True)
class _Values:
    """Known secret values prepared for searching, cached by the identity of their source."""

    source: object
    values: tuple[str, ...]
    echoes: tuple[_Echo, ...]
    whole: frozenset[str]  # weak values: redacted only where a whole string equals them
    whole_needles: tuple[bytes, ...]
    groups: tuple[_NeedleGroup, ...] = ()
    escapes: _Escapes | None = None


class _Escapes:
    """JSON escapes of the characters of the known values (``\\/``, ``\\u002d``, a
    surrogate pair), behind any number of backslashes (JSON inside JSON ...), and how to
    undo them. Escapes of other characters (``\\u00e9`` in clean text) are left alone,
    so clean data costs a regex pass that stops only at backslashes; every printable
    ASCII character is undone (one class is quicker than a list of the values' ones)."""

    __slots__ = ("_gate", "_gate_text", "_slash", "_slash_text", "_unicode", "_unicode_text")

    def __init__(self, values: Iterable[str]) -> None:
        chars = {char for value in values for char in value}
        # Printable ASCII as one class (a quick "no" at \\u00e9), any other character of
        # the values by its code.
        codes = ["u00[2-7][0-9a-f]"]
        for char in sorted(chars):
            code = ord(char)
            if 0x20 <= code < 0x80:
                continue
            if code > 0xFFFF:  # a surrogate pair
                code -= 0x10000
                high, low = 0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)
                codes.append(rf"u{high:04x}\\+u{low:04x}")
            else:
                codes.append(f"u{code:04x}")
        unicode = "|".join(codes)
        self._unicode = re.compile(rf"\\+(?:{unicode})".encode(), re.IGNORECASE)
        self._unicode_text = re.compile(rf"\\+(?:{unicode})", re.IGNORECASE)
        slash = "/" in chars
        self._slash = re.compile(rb"\\+/") if slash else None
        self._slash_text = re.compile(r"\\+/") if slash else None
        # The gate: after one backslash, which ``re`` skips to quickly (a leading ``\\+``
        # makes it try every position); the escape is then undone behind all of them.
        gate = rf"\\(?:{unicode}|/)" if slash else rf"\\(?:{unicode})"
        self._gate = re.compile(gate.encode(), re.IGNORECASE)
        self._gate_text = re.compile(gate, re.IGNORECASE)

    def undo(self, raw: bytes) -> bytes | None:
        """``raw`` with these escapes undone; ``None`` when it has none."""
        if self._gate.search(raw) is None:
            return None
        if self._slash is not None:
            raw = self._slash.sub(b"/", raw)
        return self._unicode.sub(_unescape_bytes, raw)

    def undo_text(self, text: str) -> str | None:
        """:meth:`undo` for text."""
        if self._gate_text.search(text) is None:
            return None
        if self._slash_text is not None:
            text = self._slash_text.sub("/", text)
        return self._unicode_text.sub(_unescape_text, text)


_ESCAPE_CODE = re.compile(r"[0-9a-fA-F]{4}")


def _escaped(matched: str) -> str:
    """The character an escape ``\\uXXXX`` (or a surrogate pair of them) stands for."""
    codes = [int(code, 16) for code in _ESCAPE_CODE.findall(matched)]
    if len(codes) == 2:
        return chr(0x10000 + ((codes[0] - 0xD800) << 10) + (codes[1] - 0xDC00))
    return chr(codes[0])


def _unescape_text(match: re.Match[str]) -> str:
    return _escaped(match.group())


def _unescape_bytes(match: re.Match[bytes]) -> bytes:
    return _escaped(match.group().decode("ascii")).encode("utf-8", "surrogatepass")


@dataclass(frozen=True, slots=True)
class _NeedleGroup:
    """Needles :meth:`Redactor.scan` looks for, behind one shared gate.

    The gate is a run of alphanumeric characters as long as the shortest needle (hex, and
    the longest piece of base64 between ``+`` and ``/``), or a ``literal`` byte, that every
    needle of the group implies. A clean event passes few of them, so the needles of
    encoded forms are seldom searched for.
    """

    needles: tuple[bytes, ...]
    folded: bool
    run: bytes = b""  # a run of this many alphanumeric characters ("aaa...")
    literal: int | None = None  # a byte (``bytes in bytes`` is slow, ``int in bytes`` fast)
    escaped: bool = False  # also looked for in the data with JSON escapes undone
    table: bytes | None = None  # the translation ``run`` is looked for in (None: alnum)


_NO_VALUES = _Values(None, (), (), frozenset(), ())
_ALNUM_RUN_TABLE = bytes(
    ord("a") if chr(c).isascii() and chr(c).isalnum() else 32 for c in range(256)
)
_HEX_SEPARATORS = ":- "
"""What may stand between the bytes of separated hex (``41:42:43``)."""
_HEXSEP_TABLE = bytes(
    ord("h") if chr(c) in "0123456789abcdefABCDEF" else ord("s") if chr(c) in ":- " else 46
    for c in range(256)
)
"""Hex digits as ``h``, separators as ``s``: separated hex reads ``hhshhs...``. (In the
alphanumeric-run translation it would read ``aa aa ...``, which prose is full of: a
search for it there is slow.)"""
_HEXSEP_PAIRS = 5
"""Bytes of separated hex the gate looks for (more make the needle no more selective,
only slower to search for)."""

_Check = Callable[[str], bool]

_BASE64_ALPHABET = frozenset(_TOKEN_CHARS.decode() + "=")
_HEX_ALPHABET = frozenset("0123456789abcdefABCDEF")

WEAK_VALUE_LENGTH = 10
"""A known value of only letters or only digits shorter than this is a *weak* value."""

_CONFIRM_BYTES = 64 * 1024
"""Up to this size :meth:`Redactor.scan` confirms a gate's hit before saying ``True``."""

OFFLOAD_BYTES = 64 * 1024
"""Above this size the engine calls :meth:`Redactor.redact_json` in a worker thread.

Redaction is linear (about 10 MB/s worst case, far faster on clean data), so this keeps
the event loop's share of any one call around a few milliseconds.
"""

DEFAULT_STRUCTURAL_KEYS: frozenset[str] = frozenset(
    {
        # The envelope and identities: what the log, its readers and its schema rely on.
        "v",
        "type",
        "seq",
        "step",
        "ts",
        "run_id",
        "call",
        "call_id",
        "tool",
        "status",
        "name",
        "effect",
        "kind",
        "attempt",
        "idempotency_key",
        "agent",
        "agent_version",
        "tenant",
        "parent_run_id",
        "initial_state",
        "prefix_hash",
        "to",
        "model",
        "error_code",
        "retryable",
        "will_retry",
        "retry_after",
        "latency_ms",
        "duration_ms",
        "cost_usd",
        "previous",
        "current",
        "changed",
        "action",
        "rule",
        "source",
        "approved",
        "by",
        "expires_at",
        "on_expiry",
        "dimension",
        "used",
        "limit",
        "degraded_to",
        "patterns",
        "model_calls",
        "tool_calls",
    }
)
"""Top-level keys of a persisted event that redaction never rewrites.

They hold the event's type, identities, states and numbers; rewriting one (a secret that
happens to equal ``"completed"``) breaks the log. Everything else at the top level
(``arguments``, ``result``, ``input``, ``output``, ``response``, ``details``, ...) is
payload and redacted.
"""


_DECLARED: tuple[str, ...] = ()
"""Argument names tools declared secret (:func:`declare_sensitive_fields`), in order."""
_DECLARED_LOCK = threading.Lock()
_LIVE: weakref.WeakSet[Redactor] = weakref.WeakSet()
"""Redactors with field names: each learns the names declared after it was built."""


def declare_sensitive_fields(names: Iterable[str]) -> None:
    """Treat keys named exactly ``names`` as sensitive in every redactor with field names.

    For argument names a tool knows are secret although nothing in the name says so: a
    parameter typed ``SecretStr`` (``@tool`` declares those itself) or one such as ``dsn``.
    A declared name matches only the whole key (ASCII case and ``-``/``_`` ignored, so
    ``new_value`` is also ``newValue`` and ``NEW-VALUE``), not a longer key ending with it,
    and only in structured data and quoted keys (not ``name=value`` text). It applies to
    redactors built before and after the call, except those built without field names
    (``Redactor(field_names=())``, which look for known values only). Names stay declared
    for the life of the process: a declared ``value`` seals every ``"value"`` key.

    Raises:
        ConfigError: A name is empty or not ASCII.
    """
    global _DECLARED
    fresh = [n for n in dict.fromkeys(names) if n not in _DECLARED]
    _variants(fresh)  # validates
    if not fresh:
        return
    with _DECLARED_LOCK:
        _DECLARED = (*_DECLARED, *(n for n in fresh if n not in _DECLARED))
        for redactor in list(_LIVE):
            redactor._compile_fields(_DECLARED)


class Redactor:
    """Replace secrets in events, traces and text: by field name, by shape and by exact value.

    Args:
        field_names: Keys whose values are secret (case, ``-`` and ``_`` ignored; a key
            matches when it ends with one of them). ASCII only.
        patterns: Credential shapes (:class:`SecretPattern`, or regexes whose whole match
            is secret).
        values_source: Returns the exact secret values to scrub, such as
            ``SecretBroker.known_values``. Called on every scan; work derived from its
            result is cached while it returns the same object.
        replacement: What a secret becomes.
        min_value_length: Exact values shorter than this are ignored: replacing every
            "1234" in every text would destroy more than it protects.
        structural_keys: Top-level keys of a JSON document that :meth:`redact_json`
            never rewrites (see :data:`DEFAULT_STRUCTURAL_KEYS`).

    Known values are matched in any ASCII case and in their encoded forms: percent-encoded
    (``%20`` or ``+`` for a space, or every byte as ``%XX``), hex (either case, bytes
    joined or separated by ``:``, ``-`` or a space), JSON-escaped (``\\/`` for ``/``,
    ``\\uXXXX`` for any character, however deeply nested) and base64 (standard or
    urlsafe, padded or not, also inside a longer base64 string such as
    ``base64("user:" + value)``, whose whole run is then replaced). A *weak* value, one of
    only letters or only digits shorter than :data:`WEAK_VALUE_LENGTH` (``"completed"``,
    ``"123456"``), would destroy ordinary prose and numbers if scrubbed inside text; it is
    replaced only where a whole string equals it, and not in its encoded forms.

    Raises:
        ConfigError: A field name is empty or not ASCII.
    """

    def __init__(
        self,
        field_names: Iterable[str] = DEFAULT_FIELDS,
        patterns: Iterable[SecretPattern | re.Pattern[str] | str] = DEFAULT_PATTERNS,
        values_source: Callable[[], Iterable[str]] | None = None,
        replacement: str = DEFAULT_REPLACEMENT,
        *,
        min_value_length: int = 6,
        structural_keys: Iterable[str] = DEFAULT_STRUCTURAL_KEYS,
    ) -> None:
        self.replacement = replacement
        self.min_value_length = max(1, min_value_length)
        self.structural_keys = frozenset(structural_keys)
        self.patterns: tuple[SecretPattern, ...] = tuple(
            _as_pattern(p, i) for i, p in enumerate(patterns)
        )
        self.field_names: tuple[str, ...] = tuple(field_names)
        self._values_source = values_source
        self._values_cache = _NO_VALUES
        self._values_lock = threading.Lock()
        self._spaced: tuple[_Values | None, tuple[str, ...]] = (None, ())
        """Known values with whitespace inside (ASCII lower case), for open_span_start."""

        self._spellings: tuple[str, ...] = ()  # suffixes
        self._words: tuple[str, ...] = ()  # suffixes that must begin a word of the key
        self._exact: frozenset[str] = frozenset()  # whole keys (declared by tools)
        self._key_cache: dict[str, bool] = {}
        self._key_secrets: tuple[tuple[str, ...] | None, dict[str, str | None]] = (None, {})
        """What each key seen so far becomes (``None``: clean), for the known values given."""
        self._key_search: Callable[[bytes], re.Match[bytes] | None] | None = None
        self._quoted_field: re.Pattern[str] | None = None
        self._assigned_key: re.Pattern[str] | None = None
        self._assigned_value: re.Pattern[str] | None = None
        self._colon_key: re.Pattern[str] | None = None
        self._colon_value: re.Pattern[str] | None = None
        self._colon_block: re.Pattern[str] | None = None
        self._xml_field: re.Pattern[str] | None = None
        self._xml_open: re.Pattern[str] | None = None
        with _DECLARED_LOCK:
            # A redactor without field names (one that only looks for known values) stays
            # without: declared names join the others, now and when declared later.
            self._compile_fields(_DECLARED if self.field_names else ())
            if self.field_names:
                _LIVE.add(self)
        # What scan() confirms, grouped by the cheap gate that must pass first.
        self._run_gated: tuple[tuple[bytes | None, _Check], ...] = tuple(
            (None if p.hint is None else _fold(p.hint), p.found)
            for p in self.patterns
            if p.long_token
        )
        hinted: dict[bytes, list[_Check]] = {}
        for p in self.patterns:
            if p.hint is not None and not p.long_token:
                hinted.setdefault(_fold(p.hint), []).append(p.found)
        if self._assigned_key is not None:
            # name=value in text; quoted keys are caught by the key search already.
            hinted.setdefault(_fold("="), []).append(
                lambda text: next(self._assigned_spans(text), None) is not None
            )
        # A one-byte hint is looked for as an int: ``bytes in bytes`` first tries its
        # needle as an int and builds a TypeError, which costs more than the search.
        self._byte_hinted: tuple[tuple[int, tuple[_Check, ...]], ...] = tuple(
            (h[0], tuple(checks)) for h, checks in hinted.items() if len(h) == 1
        )
        self._hinted: tuple[tuple[bytes, tuple[_Check, ...]], ...] = tuple(
            (h, tuple(checks)) for h, checks in hinted.items() if len(h) != 1
        )
        self._ungated: tuple[_Check, ...] = tuple(
            p.found for p in self.patterns if p.hint is None and not p.long_token
        )

    def _compile_fields(self, declared: Iterable[str]) -> None:
        """Build what matches sensitive keys: the suffix, word and whole-key spellings."""
        suffixes, words = _field_spellings(self.field_names)
        exact = frozenset(
            s
            for s in _variants(declared)
            if not s.endswith(suffixes) and not _word_end(s, s, words)
        )
        key_search = quoted_field = assigned_key = assigned_value = None
        colon_key = colon_value = colon_block = xml_field = xml_open = None
        if suffixes or words or exact:
            # Matched on the reversed, folded bytes so the regex can start at the literal
            # ':' that ends every key: the rare anchor makes a clean event cheap to pass.
            # A trie of optional space, quote, escapes (JSON nested up to four levels deep)
            # and key, so most keys fail on a character or two. Folded text has no case,
            # so a word is looked for as a suffix (a superset: redaction decides).
            ends: list[tuple[str, tuple[str, ...]]] = [(s, ()) for s in (*suffixes, *words)]
            ends += [(s, (r"""(?=["'])""",)) for s in sorted(exact)]
            trie = _trie_regex(
                [
                    (*_chars(sp + q + "\\" * escapes + s[::-1]), *tail)
                    for s, tail in ends
                    for sp in ("", " ")
                    for q in ('"', "'")
                    for escapes in (0, 1, 3, 7)
                ]
                # An unquoted name before its ':' in text (``api_key: "v"``, YAML, a log
                # line): not in JSON's own keys, which are quoted, so clean events pass.
                # A gap before the ':' (an aligned "Password      :", a tab, JSON's "\t")
                # starts with a space, a tab or a 't': JSON's own keys end with '"', so
                # the gap's branches cost a clean event's ':' nothing.
                + [
                    (*gap, *_chars(s[::-1]), *tail)
                    for s, tail in ends[: len(suffixes) + len(words)]
                    for gap in _UNQUOTED_GAPS
                ]
            )
            key_search = re.compile(f":{trie}".encode()).search
            alts = "|".join(
                [_chars_regex(s) for s in suffixes]
                + [_WORD_START + _chars_regex(s) for s in words]
                + [r"""(?<=["'])""" + _chars_regex(s) for s in sorted(exact)]
            )
            # Both start at a boundary (a quote; a character that cannot be in a name), so
            # the lazy name scan covers each word once: linear in the text.
            quoted_field = re.compile(
                rf"(?P<q>[\"'])[\w.-]{{0,{_NAME}}}?(?:{alts})(?P=q) ?:\s{{0,{_GAP}}}"
                rf"(?P<value>{_QUOTED_VALUE}"
                r"|(?![{\[])(?!(?:true|false|null|none)\b)[^\s,;}\]]++)",
                re.IGNORECASE,
            )
            # <password>value</password>: XML and HTML forms, from the '<' of the tag (a
            # boundary, so linear); the value stops at the next '<'.
            xml_field = re.compile(
                rf"<(?P<tag>[\w.:-]{{0,{_NAME}}}?(?:{alts}))(?:\s[^<>]{{0,512}}+)?>"
                rf"(?P<value>[^<]{{1,4096}}+)</(?P=tag)\s*>",
                re.IGNORECASE,
            )
            xml_open = re.compile(
                rf"<(?P<tag>[\w.:-]{{0,{_NAME}}}?(?:{alts}))(?:\s[^<>]{{0,512}}+)?>"
                rf"(?P<value>[^<]{{0,4096}}+)\Z",
                re.IGNORECASE,
            )
        if suffixes or words:
            # name=value is found from the '=' backwards, on the reversed text: a forward
            # regex would have to try every word of the text as the start of a name
            # (form-urlencoded data is all words and '='). The name only has to end with
            # a sensitive spelling, so nothing before the spelling needs checking (but
            # for a word, the character just before it). Declared whole keys are
            # argument names, looked for in structured data only.
            reversed_trie = _trie_regex(
                [*(_chars(s[::-1], "[-_]") for s in suffixes)]
                + [(*_chars(s[::-1], "[-_]"), _WORD_START_REVERSED) for s in words]
            )
            # The name may be quoted or a subscript (``'password' => '...'``,
            # ``ENV['API_KEY'] = ...``), the '=' a hash rocket (``:password => '...'``).
            assigned_key = re.compile(
                rf"=(?<!==)\s{{0,{_GAP}}}+[\]\"']{{0,2}}+{reversed_trie}", re.IGNORECASE
            )
            assigned_value = re.compile(
                rf">?\s{{0,{_GAP}}}+(?P<value>{_QUOTED_VALUE}|[^\s&,;'\"]++)"
            )
            # name: value, the same way from the ':' backwards (an unquoted name: quoted
            # ones are the quoted field's). Prose says "password: see below", so an
            # unquoted value must look like a credential: six characters or more with a
            # digit or a symbol in them (not a word, nor a type: "api_key: Optional[str]";
            # base64's '=' padding is a symbol). No URL here: '&' is part of the value
            # ("Tr0ub4dor&3"), not a separator. A name that ends its line takes the
            # indented block under it (YAML ``password: |``, ``password:`` and a line).
            colon_key = re.compile(rf":(?<!::)[ \t]{{0,{_GAP}}}+{reversed_trie}", re.IGNORECASE)
            colon_value = re.compile(
                rf"[ \t]{{0,{_GAP}}}+(?P<value>{_QUOTED_VALUE}"
                rf"|(?=[^\s,;'\"\d!@#$%^&*+/~?=]*+[\d!@#$%^&*+/~?=])[^\s,;'\"]{{6,}}+)"
            )
            colon_block = re.compile(
                rf"[ \t]{{0,{_GAP}}}+(?:[|>][-+]?[1-9]?[ \t]{{0,{_GAP}}}+)?\r?\n"
                r"(?P<indent>[ \t]++)(?P<value>[^\r\n]++(?:\r?\n(?P=indent)[^\r\n]++)*+)"
            )
        self._spellings, self._words, self._exact = suffixes, words, exact
        self._key_search, self._quoted_field = key_search, quoted_field
        self._assigned_key, self._assigned_value = assigned_key, assigned_value
        self._colon_key, self._colon_value = colon_key, colon_value
        self._colon_block = colon_block
        self._xml_field, self._xml_open = xml_field, xml_open
        self._key_cache = {}
        self._key_secrets = (None, {})

    # -- checks --------------------------------------------------------------------------

    def scan(self, data: bytes | str) -> bool:
        """Whether ``data`` may hold something to redact; ``False`` means it certainly does not.

        Built for the hot path of persisting events: on clean data it does a handful of
        single passes in C and no decoding (about 3 µs for a 900-byte event, see
        ``benchmarks/redact.py``). It may say ``True`` for a sensitive key name whose value
        turns out to be harmless; it never says ``False`` when :meth:`redact_text` or
        :meth:`redact_json` would change something (custom patterns without a gate are
        searched in full; JSON nested inside strings is seen through four levels).
        """
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        folded = raw.translate(_FOLD_TABLE)
        # Keys end with '":'; reversed, that literal ':' lets the regex skip ahead in C.
        if self._names_in(folded):
            return True
        xml = self._xml_field
        # An XML element (<password>...</password>); ``60 in`` is one memchr for '<'.
        if xml is not None and 60 in folded and xml.search(raw.decode("utf-8", "replace")):
            return True
        # A gate that passes only nominates patterns; they are confirmed on the text.
        # Substrings are looked for with find(), bytes with ``int in bytes``: ``bytes in
        # bytes`` first tries its needle as an int and builds a TypeError (most of its cost).
        checks = self._ungated
        if self._run_gated and raw.translate(_RUN_TABLE).find(_RUN_NEEDLE) != -1:
            checks += tuple(c for h, c in self._run_gated if h is None or folded.find(h) != -1)
        for byte, hinted in self._byte_hinted:
            if byte in folded:
                checks += hinted
        for hint, hinted in self._hinted:
            if folded.find(hint) != -1:
                checks += hinted
        if checks and (len(raw) > _CONFIRM_BYTES or _confirmed(raw, checks)):
            # Big data goes straight to redaction, which runs each nominated rule once
            # per string; confirming first would run them all over the document again.
            return True
        if self._values_source is not None:
            values = self._values()
            alnum_runs = b""
            for group in values.groups:
                if group.literal is not None and group.literal not in raw:
                    continue
                if group.table is not None:  # separated hex: its own translation
                    if raw.translate(group.table).find(group.run) == -1:
                        continue
                elif group.run:
                    # Hex and base64 share one translation: both are alphanumeric runs.
                    alnum_runs = alnum_runs or raw.translate(_ALNUM_RUN_TABLE)
                    if alnum_runs.find(group.run) == -1:
                        continue
                find = folded.find if group.folded else raw.find
                for needle in group.needles:
                    if find(needle) != -1:
                        return True
            unescaped = values.escapes.undo(raw) if values.escapes and 92 in raw else None
            if unescaped is not None:
                # JSON escapes of the values' characters (``\\/``, ``\\u002d``, nested at
                # any depth): their text needles are looked for with the escapes undone.
                find = unescaped.translate(_FOLD_TABLE).find
                for group in values.groups:
                    if group.escaped:
                        for needle in group.needles:
                            if find(needle) != -1:
                                return True
            if values.whole:
                find = raw.find
                for needle in values.whole_needles:
                    if find(needle) != -1:
                        return True
                if len(raw) < 4 * WEAK_VALUE_LENGTH and raw.decode("utf-8", "replace") in (
                    values.whole
                ):
                    return True  # the bare string, as redact_text() sees it
        return False

    def _names_in(self, folded: bytes) -> bool:
        """Whether folded ``data`` may hold a sensitive name before a ':' (see scan)."""
        key_search = self._key_search
        return key_search is not None and key_search(folded[::-1]) is not None

    def is_sensitive_key(self, key: str) -> bool:
        """Whether values under ``key`` are replaced entirely (``X-Api-Key``: yes)."""
        hit = self._key_cache.get(key)
        if hit is None:
            folded = key.lower().replace("-", "_")
            hit = (
                folded.endswith(self._spellings)
                or folded in self._exact
                or (bool(self._words) and _word_end(key, folded, self._words))
            )
            if len(self._key_cache) < 4096:  # keys repeat; a flood of unique ones must not grow it
                self._key_cache[key] = hit
        return hit

    def open_span_start(self, text: str) -> int | None:
        """Where the earliest secret begins that these rules would find only with more text.

        For a text still arriving (a streamed reply), ``text`` being what has arrived. A
        secret with whitespace inside may match nothing until its end arrives, so text up to
        its last whitespace is not yet final. The spans looked for:

        * a quoted value after a sensitive name, as :meth:`redact_text` finds them
          (``password="correct horse``, ``"api_key": 'a b``, ``db_password = 'a``), whose
          closing quote has not arrived, nor the end of its line (which rules it out);
        * a private key block, from its header (or the start of one) until its end line,
          unless what followed the header has ruled key material out;
        * the beginning of a known value with whitespace in it (a passphrase).

        A word still being written (a token, a URL) is not reported: it has no whitespace,
        so a reader that shows text only up to its last whitespace never shows part of one.

        Returns the index of the span's first character (the opening quote, the first
        ``-`` of the header), or ``None``: then, whatever more arrives, :meth:`redact_text`
        masks nothing before the text's last whitespace that it does not mask now. Linear
        in ``text``; the caller bounds how much of a long text it passes (a name and its
        value are a few lines at most).
        """
        starts: list[int] = []
        if '"' in text or "'" in text:
            quoted = self._quoted_field
            if quoted is not None and self._names_in(_fold(text)):
                # An unclosed quoted value is matched, for now, as the unquoted word that
                # begins with its quote; matches come in order, so the first is the earliest.
                for match in quoted.finditer(text):
                    if _UNCLOSED.match(text, match.start("value")) is not None:
                        starts.append(match.start("value"))
                        break
            last = len(text) - 1
            for key, sign in ((self._assigned_key, "="), (self._colon_key, ":")):
                if key is not None and sign in text:
                    # Found from the right; one value of each quote can be unclosed.
                    for match in key.finditer(text[::-1]):
                        found = _UNCLOSED_ASSIGNED.match(text, last - match.start() + 1)
                        if found is not None:
                            starts.append(found.start("value"))
        xml_open = self._xml_open
        if xml_open is not None and "<" in text:
            # <password>correct horse ... with its closing tag still to come.
            opened = xml_open.search(text, max(0, len(text) - 4096 - 1024))
            if opened is not None:
                starts.append(opened.start("value"))
        if "-----BEGIN" in text:
            begun = _PEM_STARTED.search(text, max(0, len(text) - 160))
            if begun is not None:
                starts.append(begun.start())
            last_end = max((m.start() for m in _PEM_END_RE.finditer(text)), default=-1)
            for header in _PEM_BEGIN_RE.finditer(text):
                after = header.end()
                if last_end >= after:
                    continue  # the block (if it is one) has ended
                decided = len(text) - after >= _PEM_REACH + 20
                material = _PEM_MATERIAL_RE.search(text, after, after + _PEM_REACH + 20)
                if material is not None or not decided:
                    starts.append(header.start())  # matched to the end so far, or may be
                    break
        values = self._values()
        spaced = self._spaced
        if spaced[0] is not values:
            spaced = (
                values,
                tuple(
                    v.translate(_ASCII_LOWER)
                    for v in values.values
                    if v not in values.whole and _SPACE.search(v) is not None
                ),
            )
            self._spaced = spaced
        for folded in spaced[1]:
            base = max(0, len(text) - len(folded) + 1)
            tail = text[base:].translate(_ASCII_LOWER)
            at = tail.find(folded[0])
            while at != -1:
                if folded.startswith(tail[at:]):
                    starts.append(base + at)
                    break
                at = tail.find(folded[0], at + 1)
        return min(starts, default=None)

    # -- redaction -----------------------------------------------------------------------

    def redact_text(self, text: str) -> str:
        """``text`` with credential shapes, ``name=value`` secrets and known values replaced.

        Only the secret goes; the text around it stays. Text that is a JSON document is
        parsed and redacted field by field, so a secret nested under a sensitive key
        inside a tool's JSON output goes too. Returns ``text`` itself when it is clean.
        """
        if not text:
            return text
        if text in self._values().whole:
            return self.replacement
        if len(text) <= _CONFIRM_BYTES and not self.scan(text):
            return text
        return self._scrub(text)

    def redact_value(self, obj: Any) -> Any:
        """A redacted copy of JSON-like data (dicts, lists, tuples, strings, numbers).

        Values under sensitive keys are replaced entirely (except booleans and ``None``);
        strings go through :meth:`redact_text`. A key that holds a secret is renamed to
        its redacted text, kept distinct from the mapping's other keys (``[REDACTED]``,
        ``[REDACTED]#2``); ``$sealed``/``$redacted`` markers are left as they are. What
        needs no change is returned as the same object, so a clean input comes back
        unchanged.
        """
        return self._redact(obj, ())

    @overload
    def redact_json(self, data: bytes) -> bytes: ...
    @overload
    def redact_json(self, data: str) -> str: ...
    def redact_json(self, data: bytes | str) -> bytes | str:
        """Redact a JSON document; returns ``data`` itself when nothing needs to change.

        The clean case costs one :meth:`scan`. Otherwise the document is parsed, redacted
        with :meth:`redact_value` except for the top-level :attr:`structural_keys`
        (``type``, ``status``, ``call_id``, ...), which are never touched, and written back
        compact (key order kept). Data that is not valid JSON is redacted as text instead
        of failing the write. Synchronous and CPU-bound; for data over
        :data:`OFFLOAD_BYTES` call it in a worker thread (``asyncio.to_thread``).
        """
        if not self.scan(data):
            return data
        try:
            obj = json.loads(data)
        except ValueError:
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
            scrubbed = self._scrub(text)
            if scrubbed == text:
                return data
            return scrubbed.encode() if isinstance(data, bytes) else scrubbed
        new = self._redact(obj, self.structural_keys)
        if new is obj:
            return data
        dumped = json.dumps(new, separators=(",", ":"), ensure_ascii=False)
        return dumped.encode() if isinstance(data, bytes) else dumped

    # -- sealing -------------------------------------------------------------------------

    def seal(self, obj: Any, codec: PayloadCodec | None = None, *, mask_text: bool = False) -> Any:
        """``obj`` with every sensitive value replaced by a marker, for storing what executes.

        A value under a sensitive key (except booleans and ``None``) and a string that
        holds a credential shape or a known value become ``{"$sealed": token, "kid": id}``
        with a codec (the value's JSON, encrypted: :func:`unseal` restores it exactly) or
        ``{"$redacted": reason}`` without one. A mapping with a key that holds a secret
        (a credential shape, a known value) is sealed whole, reason ``"key"``, since a
        key cannot be a marker; with ``mask_text=True`` its keys are renamed as
        :meth:`redact_value` renames them instead.

        A string that merely *contains* a secret is sealed whole, so a tool argument
        like a shell command gets its exact text back. With ``mask_text=True`` such text
        is treated as display instead: the secret inside it becomes ``[REDACTED]`` and the
        rest stays readable (unrecoverable; only a string that *is* a secret is sealed).

        ``unseal(redactor.seal(x, codec), codec) == x`` for every JSON value ``x``.
        """
        return self._seal(obj, codec, mask_text)

    def for_display(self, obj: Any) -> Any:
        """``obj`` as a person may see it: markers shown as the replacement, secrets masked."""
        return self.redact_value(mask_markers(obj, self.replacement))

    # -- internals -----------------------------------------------------------------------

    def _redact(self, obj: Any, protected: frozenset[str] | tuple[()]) -> Any:
        """:meth:`redact_value`, leaving the values of ``protected`` keys (top level) alone."""
        if isinstance(obj, str):
            return self.redact_text(obj)
        if isinstance(obj, Mapping):
            if is_marker(obj) and self._is_clean_marker(obj):
                return obj
            out: dict[Any, Any] = {}
            renamed = self._secret_keys(obj, protected)
            changed = renamed is not None or not isinstance(obj, dict)
            for key, value in obj.items():
                shown = key if renamed is None else renamed.get(key, key)
                if key in protected or (is_marker(value) and self._is_clean_marker(value)):
                    out[shown] = value  # a sealed value under a sensitive key is already safe
                    continue
                if (
                    isinstance(key, str)
                    and self.is_sensitive_key(key)
                    and value is not None
                    and not isinstance(value, bool)
                ):
                    out[shown] = self.replacement
                    changed = changed or value != self.replacement
                    continue
                new_value = self._redact(value, ())
                out[shown] = new_value
                changed = changed or new_value is not value
            return out if changed else obj
        if isinstance(obj, list | tuple):
            items = [self._redact(item, ()) for item in obj]
            if all(new is old for new, old in zip(items, obj, strict=True)):
                return obj
            return items if isinstance(obj, list) else tuple(items)
        return obj

    def _secret_keys(
        self, obj: Mapping[Any, Any], protected: frozenset[str] | tuple[()]
    ) -> dict[str, str] | None:
        """The keys of ``obj`` that hold a secret, each with the distinct key it becomes.

        ``None`` when no key does (the common case: one cached lookup per key). A key is
        judged as :meth:`redact_text` judges a string (credential shapes, ``name=value``,
        known values and their encodings) and becomes its redacted text, except that a
        *weak* known value is never looked for in keys: a key is an identifier, and a
        ``"completed"`` or ``"123456"`` key is far more often a word or an id than the
        secret. Two keys that would become the same (``[REDACTED]`` for two tokens), or
        a key another key of ``obj`` already has, are told apart by a suffix (``#2``,
        ``#3``, ...), so no entry overwrites another and nothing is silently dropped.
        The ``protected`` keys (the top level of an event's envelope) are never renamed.
        """
        values = self._values()
        cached, memo = self._key_secrets
        if cached is not values.values:  # the same tuple while the values stay the same
            memo = {}
            self._key_secrets = (values.values, memo)
        found: list[tuple[str, str]] = []
        for key in obj:
            if type(key) is not str:
                continue
            new = memo.get(key, key)
            if new is key:  # not seen yet (a hit is never the key itself)
                new = self._redacted_key(key, values)
                if len(memo) < 4096:  # keys repeat; a flood of unique ones must not grow it
                    memo[key] = new
            if new is not None and key not in protected:
                found.append((key, new))
        if not found:
            return None
        taken: set[Any] = set(obj)
        taken.difference_update(key for key, _ in found)
        counts: dict[str, int] = {}
        renamed: dict[str, str] = {}
        for key, new in found:
            if new in taken:
                n = counts.get(new, 1)
                while f"{new}#{n + 1}" in taken:
                    n += 1
                counts[new] = n + 1
                new = f"{new}#{n + 1}"
            taken.add(new)
            renamed[key] = new
        return renamed

    def _redacted_key(self, key: str, values: _Values) -> str | None:
        """What ``key`` becomes when it holds a secret, or ``None`` (see _secret_keys)."""
        if not key or key in values.whole:
            return None
        if len(key) <= _CONFIRM_BYTES and not self.scan(key):
            return None
        new = self._scrub(key)
        return None if new == key else new

    def _is_clean_marker(self, marker: Mapping[str, Any]) -> bool:
        """Whether a marker is one of ours and hides nothing, so redaction keeps it whole.

        A sealed token is random text that the long-token shape would take for a key; it is
        checked with every other rule instead. A tool's output that merely looks like a
        marker but carries a credential or a known value is redacted like any data.
        """
        parts: list[Any]
        if set(marker) == {SEALED, "kid"}:
            parts = [marker[SEALED], marker["kid"]]
        elif set(marker) == {REDACTED}:
            parts = [marker[REDACTED]]
        else:
            return False
        if not all(isinstance(part, str) for part in parts):
            return False
        whole = self._values().whole
        return not any(part in whole or self._spans(part, long_tokens=False) for part in parts)

    def _seal(self, obj: Any, codec: PayloadCodec | None, mask_text: bool) -> Any:
        if isinstance(obj, str):
            redacted = self.redact_text(obj)
            if redacted is obj or redacted == obj:
                return obj
            if mask_text and redacted != self.replacement:
                return redacted
            return sealed_marker(obj, codec, "text")
        if isinstance(obj, Mapping):
            renamed = self._secret_keys(obj, ())
            if renamed is not None and not mask_text:
                # A key cannot be a marker: the smallest mapping that holds a secret key is
                # sealed whole, so unseal() gives back its exact keys (see _secret_keys).
                return sealed_marker(obj, codec, "key")
            out: dict[Any, Any] = {}
            changed = renamed is not None or not isinstance(obj, dict)
            for key, value in obj.items():
                if (
                    isinstance(key, str)
                    and self.is_sensitive_key(key)
                    and value is not None
                    and not isinstance(value, bool)
                ):
                    new_value: Any = sealed_marker(value, codec, "field")
                    changed = True
                else:
                    new_value = self._seal(value, codec, mask_text)
                    changed = changed or new_value is not value
                out[key if renamed is None else renamed.get(key, key)] = new_value
            if not RESERVED_KEYS.isdisjoint(out):
                return {LITERAL: out}  # data that looks like a marker stays data
            return out if changed else obj
        if isinstance(obj, list | tuple):
            items = [self._seal(item, codec, mask_text) for item in obj]
            if all(new is old for new, old in zip(items, obj, strict=True)):
                return obj
            return items if isinstance(obj, list) else tuple(items)
        return obj

    def _scrub(self, text: str) -> str:
        """Apply every rule to ``text`` (gated per rule, never the whole text at once)."""
        if text in self._values().whole:
            return self.replacement
        if text.lstrip()[:1] in ("{", "["):
            try:
                parsed = json.loads(text)
            except ValueError:
                pass
            else:
                if isinstance(parsed, dict | list):
                    redacted = self._redact(parsed, ())
                    if redacted is parsed:
                        return text
                    return json.dumps(redacted, ensure_ascii=False)
        spans = self._spans(text)
        if not spans:
            return text
        parts: list[str] = []
        last = 0
        for start, end in spans:
            parts.append(text[last:start])
            parts.append(self.replacement)
            last = end
        parts.append(text[last:])
        return "".join(parts)

    def _spans(self, text: str, *, long_tokens: bool = True) -> list[tuple[int, int]]:
        """Sorted, disjoint ``(start, end)`` ranges of ``text`` that are secret.

        Every rule reports ranges on the original text (no rule sees another's output),
        and each rule runs only when its cheap gate passes, so the cost is a few linear
        passes whatever the text holds.
        """
        raw = text.encode("utf-8", "surrogatepass")
        folded = raw.translate(_FOLD_TABLE)
        spans: list[tuple[int, int]] = []
        grow: dict[tuple[int, int], frozenset[str]] = {}

        values = self._values()
        if values.echoes:
            lowered = text.lower() if any(e.folded for e in values.echoes) else text
            aligned = len(lowered) == len(text)  # then a position in one is one in the other
            # Gates shared by the values' forms, each computed once (if at all).
            unescaped: str | None = None
            percent: bool | None = None
            separated_hex: bool | None = None
            for echo in values.echoes:
                kind = echo.kind
                if kind == "escaped":
                    # Only text with a JSON escape, whose unescaped reading holds the value.
                    if unescaped is None:
                        escapes = values.escapes if "\\" in text else None
                        undone = escapes.undo_text(text) if escapes is not None else None
                        unescaped = undone.lower() if undone is not None else ""
                    if not unescaped or echo.gate not in unescaped:
                        continue
                    spans.extend(m.span() for m in echo.regex.finditer(text))
                    continue
                if kind == "hexsep":
                    if separated_hex is None:
                        shortest = min((e.run for e in values.echoes if e.run), key=len)
                        separated_hex = raw.translate(_HEXSEP_TABLE).find(shortest) != -1
                    if not separated_hex:
                        continue
                elif kind == "encoded" and "%" in echo.gate:
                    if percent is None:
                        percent = "%" in text
                    if not percent:
                        continue
                haystack = lowered if echo.folded else text
                if echo.gate not in haystack:
                    continue
                for span in _echo_spans(echo, text, haystack if aligned else None):
                    spans.append(span)
                    if echo.alphabet:
                        grow[span] = echo.alphabet

        runs = raw.translate(_RUN_TABLE)
        run_gate = _RUN_NEEDLE in runs
        for pattern in self.patterns:
            if pattern.long_token and not run_gate:
                continue
            if pattern.hint is not None and _fold(pattern.hint) not in folded:
                continue
            accept, group = pattern.accept, pattern.group
            if pattern.regex is _LONG_TOKEN_RE:
                if not long_tokens:
                    continue
                if len(raw) == len(text):  # ASCII: the byte runs are the character runs
                    spans.extend(_long_runs(text, runs, accept))
                    continue
            for match in pattern.regex.finditer(text):
                if accept is None or accept(match.group(group)):
                    spans.append(match.span(group))

        if self._quoted_field is not None and self._names_in(folded):
            spans.extend(_value_spans(self._quoted_field.finditer(text)))
            spans.extend(
                self._named_spans(text, self._colon_key, self._colon_value, self._colon_block)
            )
        if self._xml_field is not None and "</" in text:
            spans.extend(_value_spans(self._xml_field.finditer(text)))
        if self._assigned_key is not None and _fold("=") in folded:
            spans.extend(self._assigned_spans(text))
        return _merge(text, spans, grow)

    def _assigned_spans(self, text: str) -> Iterator[tuple[int, int]]:
        """Spans of the values in ``name=value`` pairs whose name is sensitive."""
        return self._named_spans(text, self._assigned_key, self._assigned_value)

    @staticmethod
    def _named_spans(
        text: str, key: re.Pattern[str] | None, *values: re.Pattern[str] | None
    ) -> Iterator[tuple[int, int]]:
        """Spans of the values after sensitive names ``key`` finds on the reversed text.

        Names come right to left; a value is read only up to where the name after it
        begins, so the reads never overlap and the whole pass stays linear (unbounded,
        ``password=xpassword=x...`` read each value to the end of the text: quadratic,
        eight seconds for 200 KB). A quoted value still open where the next name begins
        runs to there (``password="a b token=c"`` loses ``a b`` and ``c``).
        """
        if key is None or None in values:
            return
        size = len(text)
        last, limit = size - 1, size
        for match in key.finditer(text[::-1]):
            start = last - match.start() + 1
            found = None
            for value in values:
                found = value.match(text, start, limit)  # type: ignore[union-attr]  # checked
                if found is not None:
                    break
            if found is not None:
                yield from _value_spans((found,))
            else:
                opened = _OPEN_QUOTE.match(text, start, limit)
                if opened is not None and opened.end() < limit:
                    yield opened.end(), limit
            limit = size - match.end()

    def _values(self) -> _Values:
        """The known secret values, prepared for searching, recomputed only when they change."""
        if self._values_source is None:
            return _NO_VALUES
        current = self._values_source()
        cache = self._values_cache
        if current is cache.source:
            return cache
        values = tuple(
            sorted(
                {v for v in current if isinstance(v, str) and len(v) >= self.min_value_length},
                key=lambda v: (-len(v), v),
            )
        )
        with self._values_lock:
            cache = self._values_cache
            if values == cache.values:
                prepared = _Values(
                    current,
                    cache.values,
                    cache.echoes,
                    cache.whole,
                    cache.whole_needles,
                    cache.groups,
                    cache.escapes,
                )
            else:
                prepared = _prepare_values(current, values)
            self._values_cache = prepared
        return prepared

    def with_values(self, source: Callable[[], Iterable[str]]) -> Redactor:
        """A redactor with these rules that also scrubs the exact values ``source`` returns
        (the secrets broker's ``known_values``), besides any this one already knew.

        The runtime gives a redactor passed to it the broker's values this way, so a custom
        redactor cannot turn off the scrub of the credentials the broker hands to tools.
        """
        own = self._values_source
        return Redactor(
            self.field_names,
            self.patterns,
            source if own is None else _BothValues(own, source),
            self.replacement,
            min_value_length=self.min_value_length,
            structural_keys=self.structural_keys,
        )

    def __repr__(self) -> str:
        return (
            f"Redactor(fields={len(self.field_names)}, "
            f"patterns={[p.name for p in self.patterns]!r})"
        )


class _BothValues:
    """Two sources of known values as one, returning the same object while neither changes
    (a redactor re-prepares its values only when its source returns a new object)."""

    __slots__ = ("_first", "_second", "_seen", "_values")

    def __init__(
        self, first: Callable[[], Iterable[str]], second: Callable[[], Iterable[str]]
    ) -> None:
        self._first, self._second = first, second
        self._seen: tuple[object, object] = (None, None)
        self._values: tuple[str, ...] = ()

    def __call__(self) -> tuple[str, ...]:
        first, second = self._first(), self._second()
        if first is not self._seen[0] or second is not self._seen[1]:
            self._values = (*first, *second)
            self._seen = (first, second)
        return self._values


def is_weak_value(value: str) -> bool:
    """Whether scrubbing ``value`` inside text would destroy ordinary words or numbers."""
    return len(value) < WEAK_VALUE_LENGTH and (value.isalpha() or value.isdigit())


def _prepare_values(source: object, values: tuple[str, ...]) -> _Values:
    whole = frozenset(v for v in values if is_weak_value(v))
    whole_needles: dict[bytes, None] = {}
    for value in sorted(whole):
        for form in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
            # The string as a JSON value, and as one inside a JSON string.
            whole_needles[form.encode()] = None
            whole_needles[json.dumps(form)[1:-1].encode()] = None
    echoes: list[_Echo] = []
    for value in values:
        if value not in whole:
            echoes.extend(_echoes(value))
    by_kind: dict[str, dict[bytes, None]] = {}
    for echo in echoes:
        if echo.kind == "escaped":
            continue  # looked for by the text needles, in the unescaped data
        kind = "percent" if echo.kind == "encoded" and b"%" in echo.needles[0] else echo.kind
        by_kind.setdefault(kind, {}).update(dict.fromkeys(echo.needles))
    groups: list[_NeedleGroup] = []
    for kind, found in by_kind.items():
        needles = tuple(found)
        if kind in ("hex", "base64"):
            run = b"a" * min(map(len, needles))
            groups.append(_NeedleGroup(needles, kind == "hex", run=run))
        elif kind == "hexsep":
            run = _hexsep_run(min((len(n) + 1) // 3 for n in needles))
            groups.append(_NeedleGroup(needles, True, run=run, table=_HEXSEP_TABLE))
        elif kind == "percent":
            groups.append(_NeedleGroup(needles, True, literal=ord("%")))
        else:
            groups.append(_NeedleGroup(needles, True, escaped=kind == "text"))
    strong = [value for value in values if value not in whole]
    escapes = _Escapes(strong) if strong else None
    return _Values(
        source, values, tuple(echoes), whole, tuple(whole_needles), tuple(groups), escapes
    )


def _echoes(value: str) -> list[_Echo]:
    """The forms of ``value`` that redaction looks for: itself and its encodings."""
    flags = re.IGNORECASE | re.ASCII  # ASCII case only, so lower-cased text is a sound gate
    echoes = [
        _Echo(
            kind="text",
            regex=re.compile(re.escape(value), flags),
            gate=value.lower(),
            needles=tuple(_fold(n) for n in _value_needles(value)),
            folded=True,
        )
    ]
    encoded = {quote(value, safe=""), quote(value), quote_plus(value, safe=""), quote_plus(value)}
    raw = value.encode("utf-8", "surrogatepass")
    encoded.add("".join(f"%{byte:02X}" for byte in raw))  # every byte (either case: flags)
    for form in sorted(encoded - {value}):
        echoes.append(
            _Echo(
                kind="encoded",
                regex=re.compile(re.escape(form), flags),
                gate=form.lower(),
                needles=(_fold(form),),
                folded=True,
            )
        )
    hexed = raw.hex()
    echoes.append(
        _Echo(
            kind="hex",
            regex=re.compile(hexed, flags),
            gate=hexed,
            needles=(hexed.encode(),),
            folded=True,
            alphabet=_HEX_ALPHABET,
        )
    )
    for separator in _HEX_SEPARATORS:  # 41:42:43, 41-42-43, 41 42 43 (either case)
        separated = raw.hex(separator)
        echoes.append(
            _Echo(
                kind="hexsep",
                regex=re.compile(re.escape(separated), flags),
                gate=separated,
                needles=(_fold(separated),),
                folded=True,
                run=_hexsep_run(len(raw)),
            )
        )
    # JSON escapes of any of its characters (``\\/``, ``\\u002d``), behind any number of
    # backslashes; the gate is the value in the text read with those escapes undone.
    echoes.append(
        _Echo(
            kind="escaped",
            regex=re.compile("".join(_escaped_char(c) for c in value), flags),
            gate=value.lower(),
            needles=(),
            folded=False,
        )
    )
    for offset in range(3):
        # Base64 of any text that holds ``raw`` after ``offset`` bytes (mod 3): the
        # characters whose 6 bits all come from ``raw`` depend on nothing else.
        encoded_text = base64.b64encode(b"\0" * offset + raw).decode()
        first = -(-8 * offset // 6)
        last = (8 * offset + 8 * len(raw)) // 6
        core = encoded_text[first:last]
        pieces = re.split(r"[+/]", core)
        gate = max(pieces, key=len)
        regex = "".join("[+-]" if c == "+" else "[/_]" if c == "/" else re.escape(c) for c in core)
        echoes.append(
            _Echo(
                kind="base64",
                regex=re.compile(regex),
                gate=gate,
                needles=(gate.encode(),),
                folded=False,
                alphabet=_BASE64_ALPHABET,
            )
        )
    return echoes


def _hexsep_run(size: int) -> bytes:
    """What separated hex of ``size`` bytes holds in the ``_HEXSEP_TABLE`` translation."""
    return b"s".join([b"hh"] * min(size, _HEXSEP_PAIRS))


def _escaped_char(char: str) -> str:
    """A regex for ``char`` as itself or JSON-escaped (``\\uXXXX``, ``\\/``), behind any
    number of backslashes."""
    code = ord(char)
    if code > 0xFFFF:  # a surrogate pair
        code -= 0x10000
        high, low = 0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)
        escaped = rf"\\+u{high:04x}\\+u{low:04x}"
    else:
        escaped = rf"\\+u{code:04x}"
    if char == "/":
        escaped += r"|\\+/"
    return f"(?:{re.escape(char)}|{escaped})"


def _echo_spans(echo: _Echo, text: str, lowered: str | None) -> Iterator[tuple[int, int]]:
    """Where ``echo`` occurs in ``text``: what ``echo.regex.finditer`` finds.

    A case-insensitive regex cannot skip ahead to its literal; when the lower-cased text
    lines up with the text, a substring search for the gate (the whole form, lower-cased)
    finds the candidates and the regex only confirms each one.
    """
    if lowered is None or not echo.folded:
        for found in echo.regex.finditer(text):
            yield found.span()
        return
    gate, confirm = echo.gate, echo.regex.match
    at = lowered.find(gate)
    while at != -1:
        match = confirm(text, at)
        if match is None:
            at = lowered.find(gate, at + 1)
            continue
        yield match.span()
        at = lowered.find(gate, max(match.end(), at + 1))


def _long_runs(
    text: str, runs: bytes, accept: Callable[[str], bool] | None
) -> Iterator[tuple[int, int]]:
    """What ``_LONG_TOKEN_RE`` finds in ASCII ``text``, from its token-run translation.

    The regex tries each position of a short run up to its end (40 times the work per
    character of ordinary words); a substring search for 40 token characters is one pass.
    """
    pos, size = 0, len(text)
    while (start := runs.find(_LONG_NEEDLE, pos)) != -1:
        end = runs.find(b" ", start + LONG_TOKEN_LENGTH)
        end = size if end == -1 else end
        stop = end
        while stop < size and stop - end < 2 and text[stop] == "=":
            stop += 1
        if accept is None or accept(text[start:stop]):
            yield start, stop
        pos = stop


def _merge(
    text: str, spans: list[tuple[int, int]], grow: Mapping[tuple[int, int], frozenset[str]]
) -> list[tuple[int, int]]:
    """Sort and merge ``spans``; a span in ``grow`` first widens to its run of characters.

    Each widening stops at the previous span's end, so the pass is linear.
    """
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if start >= end:
            continue
        alphabet = grow.get((start, end))
        floor = merged[-1][1] if merged else 0
        if alphabet is not None:
            origin = start
            while start > floor and text[start - 1] in alphabet:
                start -= 1
            if start < origin and start > 0 and text[start - 1] == "%":
                start = min(start + 2, origin)  # "%20" before the run is an escape
            if merged and end <= merged[-1][1]:
                continue  # inside a span that has already grown over this run
            while end < len(text) and text[end] in alphabet:
                end += 1
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
            continue
        merged.append((start, end))
    return merged


def _fold(text: str | bytes) -> bytes:
    """``text`` as :meth:`Redactor.scan` compares it: UTF-8, ASCII lower case, ``-``→``_``."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return raw.translate(_FOLD_TABLE)


def _variants(field_names: Iterable[str]) -> set[str]:
    """Folded spellings of the field names: separators as ``_`` or as nothing.

    ``api_key`` gives ``api_key`` and ``apikey``. A leading separator (``_pass``) is not
    part of a spelling (it marks a word, see :func:`_field_spellings`).
    """
    spelled: set[str] = set()
    for name in field_names:
        parts = (
            [p for p in re.split(r"[-_\s]+", name.strip().lower()) if p]
            if isinstance(name, str) and name.isascii()
            else []
        )
        if not parts:
            raise ConfigError(f"redaction field name {name!r} must be a non-empty ASCII string")
        variants = [parts[0]]
        for part in parts[1:]:
            variants = [v + sep + part for v in variants for sep in ("_", "")]
        spelled.update(variants)
    return spelled


def _field_spellings(field_names: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The spellings keys must end with, and those that must also begin a word of the key.

    A name with a leading ``_`` or ``-`` (``_pass``) is a word. Both lists are minimal: a
    suffix is dropped when any key ending with it also ends with a shorter suffix
    (``access_token`` and ``token``), and a word when a suffix already covers it.
    """
    names = list(field_names)
    words = {n for n in names if isinstance(n, str) and n.strip()[:1] in ("_", "-")}
    suffixes = _variants(n for n in names if n not in words)
    minimal = {s for s in suffixes if not any(s != o and s.endswith(o) for o in suffixes)}
    covered = tuple(minimal)
    word_spellings = {w for w in _variants(words) if not w.endswith(covered)}
    return tuple(sorted(minimal, key=_longest_first)), tuple(
        sorted(word_spellings, key=_longest_first)
    )


def _longest_first(spelling: str) -> tuple[int, str]:
    return -len(spelling), spelling


_WORD_START = r"(?:(?<![A-Za-z])|(?-i:(?<=[a-z])(?=[A-Z])))"
"""Before a word: no ASCII letter, or a camelCase hump (``db|Pass``)."""
_WORD_START_REVERSED = r"(?:(?![A-Za-z])|(?-i:(?<=[A-Z])(?=[a-z])))"
""":data:`_WORD_START` on reversed text, after the reversed word."""


def _word_end(key: str, folded: str, words: tuple[str, ...]) -> bool:
    """Whether ``key`` (``folded``: lower case, ``-`` as ``_``) ends with one of ``words``.

    The word must begin the key or follow a character that is not an ASCII letter
    (``db_pass``, ``2pin``) or a camelCase hump (``dbPass``): not ``compass``.
    """
    for word in words:
        if not folded.endswith(word):
            continue
        start = len(folded) - len(word)
        if start == 0 or len(folded) != len(key):
            return True  # (a key whose lower case changes length: matched, to be safe)
        before, first = key[start - 1], key[start]
        if not ("a" <= before <= "z" or "A" <= before <= "Z"):
            return True
        if "a" <= before <= "z" and "A" <= first <= "Z":
            return True
    return False


def _chars(text: str, underscore: str | None = None) -> tuple[str, ...]:
    """``text`` as regex tokens, one per character (``_`` as ``underscore`` if given)."""
    return tuple(underscore if c == "_" and underscore else re.escape(c) for c in text)


def _chars_regex(spelling: str) -> str:
    """A regex of a folded spelling that matches ``-`` or ``_`` where it has ``_``."""
    return "".join(_chars(spelling, "[-_]"))


def _trie_regex(words: Iterable[Sequence[str]]) -> str:
    """A regex matching any of ``words`` (sequences of regex tokens), factored by prefix.

    ``[("a", "b"), ("a", "c")]`` gives ``a(?:b|c)``: most candidates fail on a token or two.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for token in word:
            node = node.setdefault(token, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        options = [token + emit(child) for token, child in sorted(node.items()) if token]
        if not options:
            return ""
        body = options[0] if len(options) == 1 else f"(?:{'|'.join(options)})"
        if "" in node:  # a word ends here and longer ones continue
            body = f"(?:{body})?"
        return body

    return f"(?:{emit(trie)})"


_JSON_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_JSON_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


# Characters no JSON encoder escapes (printable ASCII but quote, backslash and slash).
_UNESCAPED_RUN = re.compile(r"[ !#-.0-\[\]-~]+")


def _value_needles(value: str) -> list[bytes]:
    """Byte strings of which one is in any JSON that holds ``value``, however deeply nested.

    The value's longest stretch that JSON never escapes survives every level of encoding;
    when that stretch is too short to search for, the value as stored at the first two
    levels (raw, escaped with and without ``ensure_ascii``, escaped twice) is used.
    """
    longest = max(_UNESCAPED_RUN.findall(value), key=len, default="")
    if len(longest) >= 6 or longest == value:
        return [longest.encode()]
    forms = {value}
    for _ in range(2):
        forms |= {json.dumps(f, ensure_ascii=a)[1:-1] for f in forms for a in (True, False)}
    return [f.encode("utf-8", "surrogatepass") for f in sorted(forms)]


def _confirmed(raw: bytes, checks: tuple[_Check, ...]) -> bool:
    """Whether any check finds its pattern in ``raw``, read as text and as JSON.

    Patterns are confirmed on the whole document rather than string by string. When it
    has escapes they are also tried undone (level by level, for JSON nested in strings),
    so ``\\u00e9AKIA...`` or ``Bearer\\t...`` look as they will to
    :meth:`Redactor.redact_value` and a confirmation never misses what redaction would
    find; the plain reading covers text that merely has backslashes.
    """
    text = raw.decode("utf-8", "replace")
    for _ in range(4):  # JSON in JSON in ...: each reading undoes one level of escapes
        if any(check(text) for check in checks):
            return True
        if "\\" not in text:
            return False
        text = _JSON_ESCAPE.sub(_unescape_one, text)
    return any(check(text) for check in checks)


def _unescape_one(match: re.Match[str]) -> str:
    code = match.group(1)
    if len(code) == 5:
        return chr(int(code[1:], 16))
    return _JSON_ESCAPES.get(code, code)


def _value_spans(matches: Iterable[re.Match[str]]) -> Iterator[tuple[int, int]]:
    """The span of each match's ``value`` group, inside its quotes when it is quoted."""
    for match in matches:
        start, end = match.span("value")
        value = match.group("value")
        if len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]:
            start, end = start + 1, end - 1  # keep the quotes
        if start < end:
            yield start, end


def _as_pattern(pattern: SecretPattern | re.Pattern[str] | str, index: int) -> SecretPattern:
    if isinstance(pattern, SecretPattern):
        return pattern
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    return SecretPattern(name=f"custom_{index}", regex=regex)
