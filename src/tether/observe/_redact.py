"""Redaction: scrub credentials from anything before it is persisted, exported or shown.

Three kinds of secret are recognised:

* **Sensitive field names** (``password``, ``api_key``, ``authorization``, ...): the whole
  value under such a key is replaced. Matching ignores case and ``-``/``_`` and looks at
  the end of the key, so ``X-Api-Key``, ``apiKey``, ``db_password`` and ``github_token``
  all match while ``max_tokens`` or ``token_count`` do not. Booleans and ``null`` are
  kept (``"auth": true`` reveals nothing). In free text the same names are recognised as
  ``name=value`` (env files, query strings, flags) and as quoted keys (``"name": value``,
  JSON or a Python dict inside a string).
* **Credential-shaped strings**: see :data:`DEFAULT_PATTERNS` (OpenAI/Anthropic, Stripe,
  Slack, GitHub and AWS keys, ``Bearer`` tokens, JWTs, PEM private keys, passwords in
  URLs, long random tokens). Every one of them contains 20 unbroken token characters,
  which is what makes the scan cheap; a ``Bearer`` token shorter than that in free text
  is left alone (under an ``Authorization`` key it is redacted as a field).
  Long tokens are judged by shape: a run of 40 or more base64/base64url characters is a
  secret when it has a digit and a letter and is either one unbroken alphanumeric word
  (hex digests, base32 and base62 keys) or mixes upper case, lower case and digits
  (base64). So **hex of 40+ characters is treated as a secret** (a sha1 such as a git
  commit id, a sha256): Tether's own hashes in events are 16 hex characters and
  unaffected. UUIDs (36 characters), snake_case identifiers, ordinary words, numbers and
  absolute paths are left alone. A base64 blob such as an inline image is
  indistinguishable from a key and is redacted.
* **Exact values** the secrets broker handed out (``values_source``), even when they look
  like nothing in particular (``hunter2hunter2``), longest first.

:meth:`Redactor.scan` is the gate on the hot path of every persisted event. On clean data
it is a few single passes in C and no decoding: fold ASCII case, search the reversed text
for ``<sensitive key>":`` anchored on the rare ``:``, look for one run of 20 token
characters, look for ``=``/``@``, and look for each known value. Only when one of these
hits are the candidate patterns confirmed, so a clean event is passed through untouched
by :meth:`Redactor.redact_json` without being parsed.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, overload

from tether.exceptions import ConfigError

DEFAULT_REPLACEMENT = "[REDACTED]"

DEFAULT_FIELDS: tuple[str, ...] = (
    "password",
    "passwd",
    "secret",
    "token",
    "access_token",
    "refresh_token",
    "api_key",
    "apikey",
    "authorization",
    "auth",
    "cookie",
    "set-cookie",
    "private_key",
    "client_secret",
    "credentials",
    "session",
)
"""Keys whose values are always secret (case, ``-`` and ``_`` ignored; the key's end must match)."""

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
        hint: A literal every match contains (case-insensitive); :meth:`Redactor.scan`
            runs the regex only when the text contains it.
        long_token: Every match contains 20 consecutive characters of
            ``[A-Za-z0-9+/_-]``; :meth:`Redactor.scan` looks for such a run once for all
            patterns that say so (this gate wins over ``hint``). A pattern with neither
            gate is searched in full on every scan.
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


_NOT_TOKEN_BEFORE = r"(?<![A-Za-z0-9_\-])"

DEFAULT_PATTERNS: tuple[SecretPattern, ...] = (
    SecretPattern(
        name="private_key_block",
        # Key material must follow (a base64 line within a few header lines), so a bare
        # header in documentation stays. An unterminated block (truncated output) is
        # redacted to the end of the text.
        regex=re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?=.{0,300}?[A-Za-z0-9+/]{20})"
            r".*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.DOTALL,
        ),
        long_token=True,  # body lines are 64 base64 characters
    ),
    SecretPattern(
        name="jwt",
        # A signed JWT header ({"alg":"HS256"} and up) is at least 20 characters.
        regex=re.compile(
            _NOT_TOKEN_BEFORE + r"eyJ[A-Za-z0-9_-]{17,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
        ),
        long_token=True,
    ),
    SecretPattern(
        name="openai_anthropic_key",
        # sk-..., sk-proj-..., sk-ant-api03-...; the digit keeps "sk-learn-style-names" out.
        regex=re.compile(_NOT_TOKEN_BEFORE + r"sk-(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{20,}"),
        long_token=True,
    ),
    SecretPattern(
        name="stripe_key",
        regex=re.compile(_NOT_TOKEN_BEFORE + r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),
        long_token=True,
    ),
    SecretPattern(
        name="slack_token",
        regex=re.compile(_NOT_TOKEN_BEFORE + r"xox[abposr]-[A-Za-z0-9-]{15,}"),
        long_token=True,
    ),
    SecretPattern(
        name="github_token",
        regex=re.compile(
            _NOT_TOKEN_BEFORE + r"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"
        ),
        long_token=True,
    ),
    SecretPattern(
        name="aws_access_key_id",
        regex=re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])"),
        long_token=True,
    ),
    SecretPattern(
        name="bearer_token",
        # The token must hold 20 unbroken token characters, as real ones do (JWTs, opaque
        # OAuth tokens, API keys). That keeps "the bearer instrument" prose and lets
        # scan() find it with the shared run check instead of one more pass. A shorter
        # token is still redacted under an "Authorization" key, not in free text.
        regex=re.compile(
            r"(?i:\bbearer)\s+(?P<secret>(?=[A-Za-z0-9._~+/-]*?[A-Za-z0-9+/_-]{20})"
            r"[A-Za-z0-9._~+/-]+=*)"
        ),
        group="secret",
        long_token=True,
    ),
    SecretPattern(
        name="url_credentials",
        # scheme://user:password@host: only the password goes.
        regex=re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@'\"]*:(?P<secret>[^\s/@'\"]+)@"),
        group="secret",
        hint="@",
    ),
    SecretPattern(
        name="long_token",
        regex=re.compile(rf"[A-Za-z0-9+/_-]{{{LONG_TOKEN_LENGTH},}}={{0,2}}"),
        accept=_looks_random,
        long_token=True,
    ),
)
"""Built-in credential shapes, in the order they are applied (specific before generic)."""


@dataclass(frozen=True, slots=True)
class _Values:
    """Exact secret values prepared for searching, cached by the identity of their source."""

    source: object
    values: tuple[str, ...]
    needles: tuple[bytes, ...]
    regex: re.Pattern[str] | None


_NO_VALUES = _Values(None, (), (), None)

_Check = Callable[[str], bool]


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
        min_value_length: Exact values shorter than this are not scrubbed: replacing
            every "1234" in every text would destroy more than it protects.

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
    ) -> None:
        self.replacement = replacement
        self.min_value_length = max(1, min_value_length)
        self.patterns: tuple[SecretPattern, ...] = tuple(
            _as_pattern(p, i) for i, p in enumerate(patterns)
        )
        self.field_names: tuple[str, ...] = tuple(field_names)
        self._values_source = values_source
        self._values_cache = _NO_VALUES
        self._values_lock = threading.Lock()

        spellings = _spellings(self.field_names)
        self._spellings = spellings
        self._key_cache: dict[str, bool] = {}
        self._key_search: Callable[[bytes], re.Match[bytes] | None] | None = None
        self._field_patterns: tuple[re.Pattern[str], ...] = ()
        if spellings:
            # Matched on the reversed, folded bytes so the regex can start at the literal
            # ':' that ends every key: the rare anchor makes a clean event cheap to pass.
            # A trie of optional space, quote, escapes (JSON nested up to four levels deep)
            # and key, so most keys fail on a character or two.
            trie = _trie_regex(
                sp + q + "\\" * escapes + s[::-1]
                for s in spellings
                for sp in ("", " ")
                for q in ('"', "'")
                for escapes in (0, 1, 3, 7)
            )
            self._key_search = re.compile(f":{trie}".encode()).search
            alts = "|".join(re.escape(s).replace("_", "[-_]") for s in spellings)
            self._field_patterns = (
                re.compile(
                    rf"(?P<q>[\"'])[\w.-]*?(?:{alts})(?P=q) ?:\s*(?P<value>{_QUOTED_VALUE}"
                    r"|(?![{\[])(?!(?:true|false|null|none)\b)[^\s,;}\]]+)",
                    re.IGNORECASE,
                ),
                re.compile(
                    rf"(?<![\w.-])[\w.-]*?(?:{alts})\s*=(?!=)\s*(?P<value>{_QUOTED_VALUE}"
                    r"|[^\s&,;'\"]+)",
                    re.IGNORECASE,
                ),
            )
        # What scan() confirms, grouped by the cheap gate that must pass first.
        self._run_gated: tuple[_Check, ...] = tuple(p.found for p in self.patterns if p.long_token)
        hinted: dict[bytes, list[_Check]] = {}
        for p in self.patterns:
            if p.hint is not None and not p.long_token:
                hinted.setdefault(p.hint.encode().translate(_FOLD_TABLE), []).append(p.found)
        if self._field_patterns:
            # name=value in text; quoted keys are caught by the key search already.
            hinted.setdefault(b"=".translate(_FOLD_TABLE), []).append(
                _searcher(self._field_patterns[1])
            )
        self._hinted = tuple((h, tuple(checks)) for h, checks in hinted.items())
        self._ungated: tuple[_Check, ...] = tuple(
            p.found for p in self.patterns if p.hint is None and not p.long_token
        )

    # -- checks --------------------------------------------------------------------------

    def scan(self, data: bytes | str) -> bool:
        """Whether ``data`` may hold something to redact; ``False`` means it certainly does not.

        Built for the hot path of persisting events: on clean data it does a handful of
        single passes in C and no decoding. It may say ``True`` for a sensitive key name
        whose value turns out to be harmless; it never says ``False`` when
        :meth:`redact_text` or :meth:`redact_json` would change something (custom
        patterns without a gate are searched in full; JSON nested inside strings is seen
        through four levels).
        """
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        folded = raw.translate(_FOLD_TABLE)
        # Keys end with '":'; reversed, that literal ':' lets the regex skip ahead in C.
        key_search = self._key_search
        if key_search is not None and key_search(folded[::-1]) is not None:
            return True
        # A gate that passes only nominates patterns; they are confirmed on the text.
        checks = self._ungated
        if self._run_gated and _RUN_NEEDLE in raw.translate(_RUN_TABLE):
            checks += self._run_gated
        for hint, hinted in self._hinted:
            if hint in folded:
                checks += hinted
        if checks and _confirmed(raw, checks):
            return True
        if self._values_source is not None:
            for needle in self._values().needles:
                if needle in raw:
                    return True
        return False

    def is_sensitive_key(self, key: str) -> bool:
        """Whether values under ``key`` are replaced entirely (``X-Api-Key``: yes)."""
        hit = self._key_cache.get(key)
        if hit is None:
            hit = key.lower().replace("-", "_").endswith(self._spellings)
            if len(self._key_cache) < 4096:  # keys repeat; a flood of unique ones must not grow it
                self._key_cache[key] = hit
        return hit

    # -- redaction -----------------------------------------------------------------------

    def redact_text(self, text: str) -> str:
        """``text`` with credential shapes, ``name=value`` secrets and known values replaced.

        Text that is a JSON document is parsed and redacted field by field, so a secret
        nested under a sensitive key inside a tool's JSON output goes too.
        """
        if not text or not self.scan(text):
            return text
        return self._scrub(text)

    def redact_value(self, obj: Any) -> Any:
        """A redacted copy of JSON-like data (dicts, lists, tuples, strings, numbers).

        Values under sensitive keys are replaced entirely (except booleans and ``None``);
        strings anywhere, keys included, go through :meth:`redact_text`. What needs no
        change is returned as the same object, so a clean input comes back unchanged.
        """
        if isinstance(obj, str):
            return self.redact_text(obj)
        if isinstance(obj, Mapping):
            out: dict[Any, Any] = {}
            changed = not isinstance(obj, dict)
            for key, value in obj.items():
                new_key = key
                if isinstance(key, str):
                    new_key = self.redact_text(key)
                    if (
                        self.is_sensitive_key(key)
                        and value is not None
                        and not isinstance(value, bool)
                    ):
                        out[new_key] = self.replacement
                        changed = changed or new_key != key or value != self.replacement
                        continue
                new_value = self.redact_value(value)
                out[new_key] = new_value
                changed = changed or new_key != key or new_value is not value
            return out if changed else obj
        if isinstance(obj, list | tuple):
            items = [self.redact_value(item) for item in obj]
            if all(new is old for new, old in zip(items, obj, strict=True)):
                return obj
            return items if isinstance(obj, list) else tuple(items)
        return obj

    @overload
    def redact_json(self, data: bytes) -> bytes: ...
    @overload
    def redact_json(self, data: str) -> str: ...
    def redact_json(self, data: bytes | str) -> bytes | str:
        """Redact a JSON document; returns ``data`` itself when nothing needs to change.

        The clean case costs one :meth:`scan`. Otherwise the document is parsed, redacted
        with :meth:`redact_value` and written back compact (key order kept). Data that is
        not valid JSON is redacted as text instead of failing the write.
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
        new = self.redact_value(obj)
        if new is obj:
            return data
        dumped = json.dumps(new, separators=(",", ":"), ensure_ascii=False)
        return dumped.encode() if isinstance(data, bytes) else dumped

    # -- internals -----------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        """Apply every rule to ``text`` (no gate)."""
        values = self._values()
        if values.regex is not None:
            text = values.regex.sub(lambda _: self.replacement, text)
        if text.lstrip()[:1] in ("{", "["):
            try:
                parsed = json.loads(text)
            except ValueError:
                pass
            else:
                if isinstance(parsed, dict | list):
                    redacted = self.redact_value(parsed)
                    if redacted is parsed:
                        return text
                    return json.dumps(redacted, ensure_ascii=False)
        for pattern in self.patterns:
            text = pattern.redact(text, self.replacement)
        for field_pattern in self._field_patterns:
            text = field_pattern.sub(self._replace_field_value, text)
        return text

    def _replace_field_value(self, match: re.Match[str]) -> str:
        value = match.group("value")
        quote = value[0] if len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0] else ""
        start, end = match.span("value")
        whole, offset = match.group(0), match.start()
        new = f"{quote}{self.replacement}{quote}"
        return whole[: start - offset] + new + whole[end - offset :]

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
                prepared = _Values(current, cache.values, cache.needles, cache.regex)
            else:
                needles: dict[bytes, None] = dict.fromkeys(
                    needle for value in values for needle in _value_needles(value)
                )
                regex = re.compile("|".join(map(re.escape, values))) if values else None
                prepared = _Values(current, values, tuple(needles), regex)
            self._values_cache = prepared
        return prepared

    def __repr__(self) -> str:
        return (
            f"Redactor(fields={len(self.field_names)}, "
            f"patterns={[p.name for p in self.patterns]!r})"
        )


def _spellings(field_names: Iterable[str]) -> tuple[str, ...]:
    """Folded spellings of the field names (separators as ``_`` or nothing), minimal by suffix.

    ``api_key`` gives ``api_key`` and ``apikey``; ``access_token`` is dropped because any
    key ending with it also ends with ``token``.
    """
    spelled: set[str] = set()
    for name in field_names:
        if not isinstance(name, str) or not name.strip() or not name.isascii():
            raise ConfigError(f"redaction field name {name!r} must be a non-empty ASCII string")
        parts = [p for p in re.split(r"[-_\s]+", name.strip().lower()) if p]
        variants = [parts[0]]
        for part in parts[1:]:
            variants = [v + sep + part for v in variants for sep in ("_", "")]
        spelled.update(variants)
    minimal = {s for s in spelled if not any(s != other and s.endswith(other) for other in spelled)}
    return tuple(sorted(minimal, key=lambda s: (-len(s), s)))


def _trie_regex(words: Iterable[str]) -> str:
    """A regex matching any of ``words``, factored by common prefix (``a(?:b|c)``)."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        options = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
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


def _searcher(regex: re.Pattern[str]) -> _Check:
    """``regex`` as a predicate: does the text contain a match."""
    return lambda text: regex.search(text) is not None


def _as_pattern(pattern: SecretPattern | re.Pattern[str] | str, index: int) -> SecretPattern:
    if isinstance(pattern, SecretPattern):
        return pattern
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    return SecretPattern(name=f"custom_{index}", regex=regex)
