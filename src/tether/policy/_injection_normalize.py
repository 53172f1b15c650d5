"""What the injection patterns see: normalised text, and the text hidden by encodings.

:func:`normalize` undoes the tricks that change how text looks without changing how a
model reads it: Unicode compatibility forms (full-width letters), invisible characters
(zero-width spaces, joiners, soft hyphens, bidi controls), ASCII smuggled in Unicode tag
characters, and Cyrillic or Greek letters standing in for Latin ones. The result is
lower-cased, so patterns are written in lower case.

:func:`decoded_views` yields the readings a model could also take from the text when it
is encoded: base64 runs (whole or split into lines), HTML character references,
percent-encoding, leetspeak (``1gn0r3``), spaced-out letters (``i g n o r e``) and ROT13
when the text announces it. Each is cheap to detect and produced only when detected.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import itertools
import re
import unicodedata
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "decoded_blobs",
    "decoded_views",
    "discusses_attacks",
    "has_encoding_hint",
    "normalize",
    "percent_hides",
    "percent_view",
    "strings",
    "without_quotes",
]

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
_LETTERS = re.compile(r"[^\W\d_]+")
_ASCII_LETTER = re.compile("[A-Za-z]")
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
_HEX_BLOB = re.compile(r"[0-9A-Fa-f]+")
# ASCII bytes of the base64 alphabets as "a", the rest as spaces: a text without 16 "a"s
# in a row holds no run, which bytes.translate and a substring test tell in C.
_BASE64_BYTES = bytes(
    ord("a") if chr(c) in "+/_-" or (chr(c).isascii() and chr(c).isalnum()) else ord(" ")
    for c in range(256)
)
_BASE64_RUN = b"a" * 16
_MAX_BLOBS = 64
# Bytes written as hex pairs with a separator ("42 65 66", "0x42, 0x65", "\\x42\\x65",
# "42:65"): a dozen pairs or more. Each pair parses one way and a failing start gives up
# within a dozen pairs, so the search stays linear.
_SPACED_HEX = re.compile(
    r"(?:\\x|0x)?[0-9A-Fa-f]{2}(?:(?:,? |[,:])(?:0x)?[0-9A-Fa-f]{2}|\\x[0-9A-Fa-f]{2}){11,}"
)
_HEX_PAIR = re.compile(r"(?:\\x|0x)?([0-9A-Fa-f]{2})")
# Hex digits as "h", spaces and colons as spaces, commas dropped, the rest as ".": three
# pairs in a row show as "hh hh hh" (told in C, before any regex runs); "0x" and "\\x"
# forms are told by their prefixes.
_HEX_BYTES = bytes(
    ord("h") if chr(c) in "0123456789abcdefABCDEF" else ord(" ") if chr(c) in " :" else ord(".")
    for c in range(256)
)
_HEX_RUN = b"hh hh hh"

# Leetspeak: a token holding letters and the digits or signs that stand for letters.
_LEET = str.maketrans("0134579@$8", "oieastgasb")
_HEX_TOKEN = re.compile(r"[0-9a-f]+")  # an id or a hash, not leetspeak
_LEET_TOKEN = re.compile(r"(?<![\w@$])(?=[\w@$]*?[a-z])(?=[\w@$]*?[0134579@$])[\w@$]+")
# Spaced-out letters: three or more single letters joined by one repeated separator.
_SPACED = re.compile(r"(?<![^\W_])[^\W_](?P<sep>[ ./_-])[^\W_](?:(?P=sep)[^\W_])+(?![^\W_])")
_SEPARATORS = re.compile(r"[ ./_-]")
# Letters spaced out with wider gaps between the words ("a l s o ,   a s   p a r t"):
# single spaces inside a word, two or more between words. Each space run parses one way.
# Tried only where a run starts (the lookbehinds), so each run is read once: linear.
_WIDE_SPACED = re.compile(
    r"(?<!\S)(?<!\s\S )(?<!^\S )(?:\S ){3,}\S(?: {2,}(?:\S )*\S)+", re.MULTILINE
)
_INNER_SPACE = re.compile(r"(?<=\S) (?=\S)")
_WORD_GAP = re.compile(r" {2,}")
_ENTITY = re.compile(r"&(?:#x?[0-9a-f]{1,6}|[a-z][a-z0-9]{1,31});")
_PERCENT = re.compile(r"%[0-9a-f]{2}")
_UNICODE_ESCAPE = re.compile(r"\\{1,2}u([0-9a-f]{4})")  # escaped once, or twice (JSON in JSON)
_ROT13 = re.compile(r"\brot-?13\b")

# Both hints start with a class of characters that are rare in prose (leet digits, the
# separators), so CPython's search skips ahead in C instead of trying every position;
# the lookbehind then checks what came before. A hint only decides whether to look closer.
_LEET_HINT = re.compile(r"[013457](?<=[a-z][013457])[013457]*[a-z]")
_SPACED_HINT = re.compile(r"[ ./_-](?<=[^\W_][ ./_-])[^\W_][ ./_-][^\W_](?![^\W_])")


# For the spaced-letters hint on ASCII text: letters and digits become "a", its
# separators a space, everything else "#". A match holds a letter, a separator, a
# letter, a separator and a letter, so its translation holds "a a a"; prose seldom does
# (two one-letter words in a row), and bytes.translate plus a substring test run in C,
# where the regex, which starts at a separator (a space!), tries every space.
_SPACED_BYTES = bytes(
    ord("a")
    if chr(c).isascii() and chr(c).isalnum()
    else ord(" ")
    if chr(c) in " ./_-"
    else ord("#")
    for c in range(256)
)


def has_encoding_hint(normal: str) -> bool:
    """Whether :func:`decoded_views` may yield anything for this normalised text."""
    return (
        ("&" in normal and _ENTITY.search(normal) is not None)
        or ("%" in normal and _PERCENT.search(normal) is not None)
        or ("\\u" in normal and _UNICODE_ESCAPE.search(normal) is not None)
        or ("rot" in normal and _ROT13.search(normal) is not None)
        or (
            _HIDDEN_WORDS.search(normal) is not None
            and (_reads_as_rot13(normal) or _reads_reversed(normal))
        )
        or _LEET_HINT.search(normal) is not None
        or (
            (not normal.isascii() or b"a a a" in normal.encode("ascii").translate(_SPACED_BYTES))
            and _SPACED_HINT.search(normal) is not None
        )
    )


# The commonest English words as ROT13 writes them ("the", "and", "you", "is", "to",
# "this"): ROT13 text that does not announce itself still shows them.
_ROT13_WORDS = (" gur ", " naq ", " lbh ", " lbhe ", " guvf ", " sbe ", " jvgu ")


def _reads_as_rot13(normal: str) -> bool:
    """Whether the text holds the commonest English words in ROT13 twice (a few substring
    counts, in C; none of them is an English word)."""
    return sum(normal.count(word) for word in _ROT13_WORDS) >= 2


# The same words written backwards ("eht", "dna", "uoy"): text reversed to hide it.
_REVERSED_WORDS = (" eht ", " dna ", " uoy ", " ruoy ", " siht ", " rof ", " htiw ")


def _reads_reversed(normal: str) -> bool:
    """Whether the text holds the commonest English words written backwards twice."""
    return sum(normal.count(word) for word in _REVERSED_WORDS) >= 2


# One search for any of those words (a fraction of a microsecond on a short text): only a
# text that holds one is counted word by word.
_HIDDEN_WORDS = re.compile(
    " (?:" + "|".join(w.strip() for w in (*_ROT13_WORDS, *_REVERSED_WORDS)) + ") "
)


# Greek and Cyrillic letters; the ones without a Latin twin mark real Greek/Cyrillic text.
_GREEK_CYRILLIC = re.compile("[\u0370-\u03ff\u0400-\u04ff]")


# A line break inside a sentence (hard-wrapped mail, a narrow text box): the next line
# goes on with a lower-case word that is not a "role:" label. Patterns keep to one line,
# so a wrapped sentence is joined back before they see it.
_SOFT_BREAK = re.compile(r"(?<=[^\W_]|[,;])[ \t]*\n[ \t]*(?=[a-z](?![\w'-]*:))")


def normalize(text: str) -> str:
    """What the patterns see: NFKC, look-alikes folded, hidden tag text revealed, wrapped
    sentences joined, lower case."""
    if "\\n" in text:
        # escaped line breaks (an iCalendar DESCRIPTION, a JSON string shown raw) read
        # as the breaks they stand for
        text = text.replace("\\r\\n", "\n").replace("\\n", "\n")
    if "\n" in text:
        text = _SOFT_BREAK.sub(" ", text)
    if text.isascii():
        return text.lower()
    if _TAGS.search(text):
        text = _TAGS.sub(lambda m: " " + "".join(chr(ord(c) - 0xE0000) for c in m.group()), text)
    if _INVISIBLE.search(text):
        text = _INVISIBLE.sub("", text)
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    if _LOOKALIKE.search(text):
        text = _fold_lookalikes(text)
    return text.lower()


def _fold_lookalikes(text: str) -> str:
    """Latin look-alikes made Latin: everywhere, or in real Cyrillic/Greek text only in
    words that also hold Latin letters (so Russian words stay Russian)."""
    if not _is_native_text(text):
        return text.translate(_CONFUSABLES)
    return _LETTERS.sub(
        lambda m: (
            m.group().translate(_CONFUSABLES) if _ASCII_LETTER.search(m.group()) else m.group()
        ),
        text,
    )


def _is_native_text(text: str) -> bool:
    """Whether ``text`` holds Greek or Cyrillic letters that have no Latin twin."""
    return any(not _LOOKALIKE.match(char) for char in _GREEK_CYRILLIC.findall(text))


# Quoted spans: "...", '...' (not an apostrophe inside a word), curly quotes, guillemets.
_QUOTED = re.compile(
    "\"[^\"\n]{1,300}\"|(?<![a-z0-9])'[^'\n]{1,300}'(?![a-z0-9])"
    "|\u201c[^\u201d\n]{1,300}\u201d|\u2018[^\u2019\n]{1,300}\u2019|\u00ab[^\u00bb\n]{1,300}\u00bb"
    # German and Polish low-high quotes, single guillemets, CJK corner brackets
    '|\u201e[^\u201c\u201d"\n]{1,300}[\u201c\u201d"]|\u201a[^\u2018\u2019\n]{1,300}[\u2018\u2019]'
    "|\u2039[^\u203a\n]{1,300}\u203a|\u300c[^\u300d\n]{1,300}\u300d|\u300e[^\u300f\n]{1,300}\u300f"
    # code: a fenced block, an inline span
    "|```[^`]{1,3000}```|`[^`\n]{1,300}`"
)
_DISCUSSION = re.compile(
    r"\b(?:attack(?:s|er|ers)?|injection|jailbreaks?|phishing|malicious|adversarial|"
    r"red[\s-]team\w*|for\s+example|such\s+as|e\.g\.|"
    # the same words in other languages
    r"angriff\w*|angreifer\w*|attaque\w*|attaquant\w*|ataque\w*|atacante\w*|attacc\w*|"
    r"inyecci[óo]n|inje[çc][ãa]o|iniezione|zum\s+beispiel|z\.\s?b\.|par\s+exemple|por\s+ejemplo|"
    r"por\s+exemplo|per\s+esempio|bijvoorbeeld|aanval\w*|атак\w*|злоумышленник\w*|инъекци\w*|"
    r"внедрени\w*|например|"
    # writing about prompt formats: the markers it quotes are its subject
    r"chat[\s-]templates?|special\s+tokens?|prompt\s+(?:format|template)s?|"
    r"jetons?\s+sp[ée]ciaux|mod[èe]les?\s+de\s+(?:chat|conversation)|plantillas?\s+de\s+chat|"
    r"tokens?\s+especiales|chat-?vorlagen?|sondertoken\w*|security\s+awareness)"
    r"|攻击|攻撃|注入|インジェクション|悪意|恶意|例えば|例如|比如|공격|인젝션"
)


def discusses_attacks(normal: str) -> bool:
    """Whether the text talks *about* attacks (security writing, awareness notes, papers)."""
    return _DISCUSSION.search(normal) is not None


def without_quotes(normal: str) -> str:
    """The text with quoted spans blanked: what it says, not what it quotes."""
    return _QUOTED.sub(" ", normal)


# An escaped letter or digit (``%61``): characters a URL carries as they are.
_ESCAPED_PLAIN = re.compile(r"%(?:3[0-9]|4[1-9a-f]|5[0-9a]|6[1-9a-f]|7[0-9a])")


def percent_view(normal: str) -> str:
    """The normalised text with its percent-encoding decoded (one of :func:`decoded_views`)."""
    return normalize(urllib.parse.unquote_plus(normal))


def percent_hides(normal: str) -> bool:
    """Whether the percent-encoding of ``normal`` escapes letters or digits, which need no
    escaping: text hidden from a reader rather than carried in a URL."""
    return _ESCAPED_PLAIN.search(normal) is not None


def decoded_views(normal: str) -> Iterator[str]:
    """Readings of the normalised text hidden by an encoding, each normalised in turn.

    HTML character references, percent-encoding, ROT13 (only when the text names it),
    leetspeak tokens and spaced-out letters. Base64 is separate (:func:`decoded_blobs`):
    it is case-sensitive, so it is read from the text as received.
    """
    if "&" in normal and _ENTITY.search(normal):
        yield normalize(html.unescape(normal))
    if "%" in normal and len(_PERCENT.findall(normal, 0, 4096)) >= 3:
        yield percent_view(normal)
    if ("rot" in normal and _ROT13.search(normal)) or _reads_as_rot13(normal):
        yield codecs.encode(normal, "rot13")
    if _reads_reversed(normal):
        yield normal[::-1]
    if _LEET_HINT.search(normal):
        leet = _LEET_TOKEN.sub(_unleet, normal)
        if leet != normal:
            yield leet
    if _SPACED.search(normal):
        yield _SPACED.sub(lambda m: _SEPARATORS.sub("", m.group()), normal)
        if "  " in normal and _WIDE_SPACED.search(normal):
            yield _WIDE_SPACED.sub(_close_up, normal)
    if "\\u" in normal and len(_UNICODE_ESCAPE.findall(normal, 0, 4096)) >= 3:
        yield normalize(_UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), normal))


def _close_up(match: re.Match[str]) -> str:
    """Spaced-out words closed up: the single spaces go, the wider gaps become spaces."""
    return _WORD_GAP.sub(" ", _INNER_SPACE.sub("", match.group()))


def _unleet(match: re.Match[str]) -> str:
    """A leetspeak token read as letters; hex ids and hashes ("9f3a0c") are left alone."""
    token = match.group()
    return token if _HEX_TOKEN.fullmatch(token) else token.translate(_LEET)


def decoded_blobs(text: str) -> Iterator[str]:
    """Printable text hidden in base64 (standard or URL-safe), whole runs or split ones, or
    in hex pairs written with separators."""
    if _HEX_RUN in text.encode("utf-8", "replace").translate(_HEX_BYTES, b",") or (
        "0x" in text or "\\x" in text
    ):
        yield from _spaced_hex(text)
    if text.isascii() and _BASE64_RUN not in text.encode("ascii").translate(_BASE64_BYTES):
        return
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


def _spaced_hex(text: str) -> Iterator[str]:
    for match in itertools.islice(_SPACED_HEX.finditer(text), _MAX_BLOBS):
        decoded = _decode("".join(_HEX_PAIR.findall(match.group())))
        if decoded is not None:
            yield decoded


def _decode(blob: str) -> str | None:
    """The text a base64 (or hex) blob decodes to, when it is mostly printable text with a
    space."""
    if len(blob) % 2 == 0 and _HEX_BLOB.fullmatch(blob) is not None:
        # Hex digits are base64 digits too; text written as hex reads as hex. A digest or
        # an id decodes to bytes that are not text, and falls through to base64.
        try:
            text = bytes.fromhex(blob).decode("utf-8")
        except ValueError:
            text = ""
        if _is_text(text):
            return text
    if "_" in blob or "-" in blob:
        blob = blob.replace("-", "+").replace("_", "/")
    blob = blob.rstrip("=")
    blob += "=" * (-len(blob) % 4)
    try:
        decoded = base64.b64decode(blob, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    return decoded if _is_text(decoded) else None


def _is_text(decoded: str) -> bool:
    """Whether decoded bytes read as text: mostly printable, with a space."""
    printable = sum(c.isprintable() or c.isspace() for c in decoded)
    return bool(decoded) and printable >= 0.9 * len(decoded) and " " in decoded


def strings(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string in JSON-like data, keys included (bounded depth)."""
    if depth > 32:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                yield key
            yield from strings(item, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from strings(item, depth + 1)
