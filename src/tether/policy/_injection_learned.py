"""A learned second stage for the injection scanner: a linear model over words.

The patterns (``_injection``) name cues; this stage scores a text with a logistic
regression over binary word unigrams and bigrams, so wording no pattern was written for
can still add up. ``InjectionScanner()`` (``learned=True``, the default since session 12)
asks it only about texts the patterns do not flag, and reports :data:`LEARNED_NAME` when
the score passes the threshold stored with the weights. It never removes a pattern's
flag; ``learned=False`` leaves the patterns alone.

**On by default since session 12.** Retrained in session 12 (2026-11-30) on the tuning
rows and all five outside sets fitted to since then (below), it was measured once, in
aggregate (patterns alone -> with the stage): held-out fifth 0.890 -> 0.918 (65 -> 67 of
73; 0 of 92 false positives either way), the blind sixth set 0.77 -> 0.805 (154 -> 161
of 200; false positives 11 of 400 either way, the same rows: the stage only adds flags).
That passes the rule for turning it on (it improves the held-out fifth and adds no false
positive on its benign rows; with it the held-out fifth reaches the 0.90 and 1% target,
and the sixth set's false positives do not rise). On the sets it was fitted to (in
sample, so fitted figures): tuning 822 and 822 of 822, wild 250 -> 251 of 253, outsider
127 -> 128 of 129, third 189 -> 190 of 191, fourth 248 and 248, fifth 199 and 199; no
false positive added on any. (Session 9's stage, fitted on tuning, wild, outsider and
third with quotations read, added none of the held-out fifth and 4 of the then blind
fourth set; it stayed off.)

What it reads: the normalised text and decoded views the patterns see
(``_injection_normalize``: NFKC, look-alikes folded, lower case, base64/HTML/percent/
leetspeak/spaced-letter readings), so an encoding hides nothing from it either. Quoted
spans and code (``_QUOTED``) are blanked from the normalised text before it is read, in
every text (until session 12 only in writing about attacks): a document that reports or
shows a line is not saying it, and security writing, quizzes and tweet threads that quote
payloads were the benign texts that set session 9's threshold. A text with
:data:`DISCUSSION_GATE` or more words of the vocabulary of writing about attacks
(``discussion_terms``) is not scored at all (:func:`gated`): none of the 1,843 training
attacks has two, and an evaluation's appendix listing payloads unquoted was the highest
benign score left once quotations were blanked. Each text is cut into segments (lines,
sentences) and scored in windows of :data:`SPAN` adjacent segments, plus all of it when it
is short; the score is the best window's. An injection is a sentence or two inside a
longer document, and a window sees them without the carrier's words around. Words are
runs of letters and digits (runs of a script written without spaces, CJK or Thai, are
read as character pairs); pairs are taken within a segment. A document feature carries
one word of that vocabulary.

Training (``benchmarks/train_injection.py``, deterministic: re-running it rewrites this
file byte for byte), session 12 (2026-11-30): fitted only on the tuning four fifths of
``tests/policy/injection_corpus`` (822 attacks and 970 benign rows of ``attacks.jsonl``
and ``benign.jsonl`` whose id hashes to the tuning side) and the five outside authors'
sets that are tuning data: ``wild`` (253 and 312 rows), ``outsider`` (129 and 224),
``third`` (191 and 361), ``fourth`` (248 and 469) and ``fifth`` (200 and 400); the 185 of
them that are :func:`gated` are neither fitted nor scored. The held-out fifth and the
sixth set were never used to fit, to choose features or to pick ``C`` or the threshold:
they were measured once, in aggregate (figures above). Benign rows give each window as a
negative, attack rows their whole text as a positive. ``C`` and the threshold come from
cross-validation across sources (each outside author's set is a fold, so a fold left out
is an unseen author; the tuning rows are two folds by a hash of ``"cv:" + id``, unrelated
to the held-out split): the threshold is the highest out-of-fold score of a training
benign row the patterns leave unflagged, so out of fold the stage adds no false positive
on any source, and ``C`` (3, of 0.3, 1, 3, 10) puts the most attacks the patterns miss
above it, then the most attacks. The patterns now miss only 8 of the 1,843 training
attacks (they were fitted to all of these sets), so that count says little (0 or 1 of 8
out of fold, whatever the choice); the number of all training attacks scoring above the
threshold out of fold is what tells choices apart (it is what the stage can add on
wording the patterns have not seen). Tried the same way in session 12 (7 folds; attacks
above the zero-false-positive threshold out of fold, of 1,843, at C 0.3 / 1 / 3 / 10):
words and pairs as in session 9 (quotations blanked only in writing about attacks), 206 /
188 / 169 / 148; with word trigrams, 202 / 170 / 155 / 131; with character 5-grams of each
segment across word boundaries, 202 at 0.3 (220 at 0.1); quotations always blanked, 432
/ 441 at 0.3 / 1 (450 at 0.1); blanked and gated, 509 / 614 / 689 / 578 (487 at 30); and
on top of that word trigrams, 628 / 632 at 1 / 3, or character 5-grams, 241 at 3. So the
features stay words and word pairs, read without quotations and with writing about attacks
left to the patterns. (A hashing trick would shrink the file, not change what is learned:
not tried.) No training attack under :data:`MIN_WORDS` words scores above the threshold
out of fold. ``training`` in the weights file holds the figures of each ``C``.

Speed: the weights are read once per process, by the scanner's ``prepare`` (its first
scan; the runtime calls it at start-up, in a worker thread), into dictionaries and sets:
~40-70 ms for the 542 KB file. A text under :data:`MIN_WORDS` words is not scored;
bounds settle most others from one or two set intersections (the positive weights its
words could bring, then the positive weights of every unigram and in-segment bigram of
the whole text); only a text that passes both is cut into windows and searched for the
vocabulary of writing about attacks. CPU per scan, patterns alone / with the stage
(session 12 weights, 2 vCPUs shared with other work, best of 7, ``timeit``): a clean
200-byte JSON tool result 21.5 / 25.1 us, the clean 184-character order email of
``benchmarks/redteam.py`` 28.4 / 33.5 us (the session 9 weights on the same machine:
21.1 / 25.0 and 28.5 / 33.9). Texts longer than :data:`MAX_CHARS` are scored on their
first and last ``MAX_CHARS // 2`` characters, so the work is bounded whatever the input.

A missing or malformed weights file raises :class:`LearnedModelError`, a
``ConfigError``, from ``prepare`` (at start-up in the runtime); ``learned=False`` never
reads it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any

from tether.exceptions import ConfigError
from tether.policy._injection_normalize import _QUOTED

__all__ = [
    "DISCUSSION_GATE",
    "LEARNED_NAME",
    "MAX_CHARS",
    "MIN_WORDS",
    "WEIGHTS_PATH",
    "LearnedModel",
    "LearnedModelError",
    "default_model",
    "doc_features",
    "gated",
    "instances",
    "load_model",
    "said",
    "segments",
    "tokens",
    "weights_digest",
    "whole",
]

LEARNED_NAME = "learned_injection"
"""The name reported when the learned stage flags a text the patterns did not."""

WEIGHTS_PATH = Path(__file__).with_name("_injection_weights.json")
FORMAT = "tether-injection-linear/1"

MAX_CHARS = 65_536
"""Longer texts are scored on their first and last half of this many characters."""

MIN_WORDS = 10
"""Texts with fewer words than this (the normalised text and its decoded views) are not
scored (the patterns alone judge them). Out of fold, no training attack under 10 words
scores above the threshold (in sample one does, the model having read it): a short text
gives a linear model over words too little to go on, and it is where the patterns are
surest."""

SPAN = 2
"""Segments per window."""

DISCUSSION_GATE = 2
"""Texts with at least this many words of writing about attacks (``discussion_terms``)
are not scored: no training attack has two, and security writing that lists payloads
unquoted (an evaluation's appendix, a quiz) is where a word model cannot tell."""

WHOLE_MAX_WORDS = 256
"""The whole text is scored as one more window when it has at most this many words."""

# The per-word bound settles about a quarter of the benign corpus's texts under 16 words
# and a tenth of longer ones, for ~1 us: tried on short texts only.
_LOOSE_BOUND_WORDS = 24

_TOKEN = re.compile(r"[^\W_]+")
# ASCII letters and digits kept (lower-cased), everything else a space: the words of
# ASCII text are then a bytes.translate and a split, in C ([^\W_]+ on ASCII text).
_ASCII_WORDS = bytes(
    ord(chr(c).lower()) if chr(c).isascii() and chr(c).isalnum() else ord(" ") for c in range(256)
)
# Where segments end: a line break, or sentence punctuation before a space. Starts with
# a class of characters, so a split skips ahead in C.
_SEGMENT = re.compile(r"[.!?;:\u3002\uff01\uff1f]\s|\n")
# Scripts written without spaces between words: read as character pairs.
_DENSE = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")


class LearnedModelError(ConfigError):
    """The weights file of the learned stage is missing or malformed."""


def tokens(text: str) -> list[str]:
    """The words of normalised text: runs of letters and digits; runs of a script written
    without spaces become their character pairs."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_WORDS).decode("ascii").split()
    found = _TOKEN.findall(text)
    out: list[str] = []
    for word in found:
        if len(word) > 1 and _DENSE.search(word) is not None:
            out.extend(word[i : i + 2] for i in range(len(word) - 1))
        else:
            out.append(word)
    return out


def segments(texts: Iterable[str]) -> list[list[list[str]]]:
    """Per text (the normalised text, then its decoded views), the words of each of its
    segments (lines, and sentences within them) that has any."""
    return [[words for words in map(tokens, _SEGMENT.split(text)) if words] for text in texts]


def instances(read: list[list[list[str]]]) -> list[list[list[str]]]:
    """The windows scored for texts cut by :func:`segments`: per text, each run of
    :data:`SPAN` adjacent segments (the whole text when it has no more segments than
    that), and every segment at once when they hold at most :data:`WHOLE_MAX_WORDS` words
    and make more than one window."""
    found: list[list[list[str]]] = []
    for segs in read:
        if len(segs) <= SPAN:
            if segs:
                found.append(segs)
            continue
        found.extend(segs[i : i + SPAN] for i in range(len(segs) - SPAN + 1))
    if len(found) > 1:
        every = whole(read)
        if sum(map(len, every)) <= WHOLE_MAX_WORDS:
            found.append(every)
    return found


def whole(read: list[list[list[str]]]) -> list[list[str]]:
    """Every segment of texts cut by :func:`segments` (an attack's training instance)."""
    return [words for segs in read for words in segs]


def doc_features(discussion: int) -> list[str]:
    """Features of the whole document, added to each of its windows."""
    return [
        name
        for name, needed in (("doc:discussion1", 1), ("doc:discussion2", 2))
        if discussion >= needed
    ]


def said(texts: list[str]) -> list[str]:
    """What the model reads of ``texts``: the normalised text without its quoted spans and
    code (``_QUOTED``: what a text reports or shows rather than says; its decoded views
    stay whole). Each span becomes a line break, so the words around it stay apart."""
    if not texts:
        return texts
    return [_QUOTED.sub("\n", texts[0]), *texts[1:]]


def gated(discussion: int) -> bool:
    """Whether a text with ``discussion`` words of writing about attacks is left to the
    patterns (:data:`DISCUSSION_GATE`)."""
    return discussion >= DISCUSSION_GATE


def features(window: list[list[str]]) -> set[str | tuple[str, str]]:
    """The binary features of a window (its segments' words): the words, and the pairs of
    adjacent words within a segment (never across a segment's end, so a blanked quotation
    joins no words)."""
    found: set[str | tuple[str, str]] = set()
    for words in window:
        found.update(words)
        found.update(pairwise(words))
    return found


def clip(text: str) -> str:
    """``text``, or its first and last ``MAX_CHARS // 2`` characters when longer."""
    if len(text) <= MAX_CHARS:
        return text
    half = MAX_CHARS // 2
    return f"{text[:half]}\n{text[-half:]}"


class LearnedModel:
    """A linear model over window features (see the module notes)."""

    __slots__ = (
        "_bound",
        "_bound_keys",
        "_doc_ceiling",
        "_keys",
        "_positive",
        "bias",
        "doc",
        "threshold",
        "training",
        "weights",
    )

    def __init__(
        self,
        weights: Mapping[str | tuple[str, str], float],
        bias: float,
        threshold: float,
        doc: Mapping[str, float] | None = None,
        training: Mapping[str, Any] | None = None,
    ) -> None:
        self.weights: dict[str | tuple[str, str], float] = dict(weights)
        self.bias = float(bias)
        self.threshold = float(threshold)
        self.doc: dict[str, float] = dict(doc or {})
        self.training: dict[str, Any] = dict(training or {})
        # Per word, the most it can add to a window: its own weight and those of the pairs
        # it starts, when positive. A text whose words cannot pass the threshold this way
        # is settled without building its windows.
        bound: dict[str, float] = {}
        for key, value in self.weights.items():
            if value > 0:
                word = key if isinstance(key, str) else key[0]
                bound[word] = bound.get(word, 0.0) + value
        self._bound = bound
        self._bound_keys = frozenset(bound)
        self._keys = frozenset(self.weights)
        self._positive = frozenset(k for k, v in self.weights.items() if v > 0)
        self._doc_ceiling = sum(v for v in self.doc.values() if v > 0)

    def score(self, texts: list[str], *, discussion: int = 0) -> float:
        """The highest window score of ``texts`` (normalised text and decoded views), as a
        logit; ``-inf`` when there is nothing to score or the text is :func:`gated`."""
        if gated(discussion):
            return -math.inf
        return self._score(segments(said([clip(t) for t in texts])), discussion)

    def _score(self, read: list[list[list[str]]], discussion: int) -> float:
        extra = self.bias + sum(self.doc.get(name, 0.0) for name in doc_features(discussion))
        weight = self.weights.__getitem__
        keys = self._keys
        best = -math.inf
        for window in instances(read):
            best = max(best, extra + sum(map(weight, keys.intersection(features(window)))))
        return best

    def flags(self, texts: list[str], discussion: Callable[[], int] | None = None) -> bool:
        """Whether ``texts`` (normalised text and decoded views) score above the threshold.

        ``discussion`` gives :func:`discussion_terms` of the text; it is called only when
        the words could pass the threshold (it costs a regex search). A text is scored
        without its quotations and code (:func:`said`); one that talks about attacks
        enough is not scored (:func:`gated`).

        Cheap bounds settle most texts before any window is built: too few words; for a
        short text, the positive weights every word of it could bring (its own and those
        of the pairs it starts); the positive weights of the unigrams and bigrams of the whole
        text (every window's features are among them: pairs are never taken across a
        segment's end, and a blanked quotation becomes one, so blanking only removes
        features).
        """
        if len(texts) == 1:  # the common case: no decoded views
            clipped = [clip(texts[0])]
            words = tokens(clipped[0])
        else:
            clipped = [clip(text) for text in texts]
            words = [w for text in clipped for w in tokens(text)]
        if len(words) < MIN_WORDS:
            return False
        threshold = self.threshold
        base = self.bias + self._doc_ceiling
        if len(words) < _LOOSE_BOUND_WORDS:
            reach = sum(map(self._bound.__getitem__, self._bound_keys.intersection(words)))
            if base + reach <= threshold:
                return False  # every positive weight its words could bring would not pass
        present = self._positive.intersection(features([words]))
        if base + sum(map(self.weights.__getitem__, present)) <= threshold:
            return False  # every positive feature of the whole text would not pass
        terms = discussion() if discussion is not None else 0
        if gated(terms):
            return False  # writing about attacks: left to the patterns
        return self._score(segments(said(clipped)), terms) > threshold

    def to_json(self) -> dict[str, Any]:
        """The weights file's content (see :func:`load_model`)."""
        unigrams = {k: v for k, v in sorted(self.weights.items(), key=_key) if isinstance(k, str)}
        bigrams = {
            f"{k[0]} {k[1]}": v
            for k, v in sorted(self.weights.items(), key=_key)
            if isinstance(k, tuple)
        }
        return {
            "format": FORMAT,
            "bias": self.bias,
            "threshold": self.threshold,
            "doc": dict(sorted(self.doc.items())),
            "unigrams": unigrams,
            "bigrams": bigrams,
            "training": self.training,
        }


def _key(item: tuple[str | tuple[str, str], float]) -> tuple[str, ...]:
    key = item[0]
    return (key,) if isinstance(key, str) else key


def load_model(path: Path = WEIGHTS_PATH) -> LearnedModel:
    """Read a weights file.

    Raises:
        LearnedModelError: The file is missing, is not JSON, or does not hold the fields
            of :data:`FORMAT` with numbers for weights.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LearnedModelError(
            f"the injection scanner's learned weights cannot be read from {path}: {exc}; "
            "reinstall tether, or pass InjectionScanner(learned=False)"
        ) from None
    except ValueError as exc:
        raise LearnedModelError(f"the learned weights file {path} is not JSON: {exc}") from None
    try:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"format is not {FORMAT!r}")
        weights: dict[str | tuple[str, str], float] = {}
        for word, value in _numbers(data["unigrams"]).items():
            weights[word] = value
        for pair, value in _numbers(data["bigrams"]).items():
            first, second = pair.split(" ")
            weights[(first, second)] = value
        return LearnedModel(
            weights,
            bias=_number(data["bias"]),
            threshold=_number(data["threshold"]),
            doc=_numbers(data.get("doc", {})),
            training=data.get("training") if isinstance(data.get("training"), dict) else {},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LearnedModelError(f"the learned weights file {path} is malformed: {exc!r}") from None


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return float(value)


def _numbers(value: object) -> dict[str, float]:
    if not isinstance(value, dict):
        raise TypeError("weights must be an object of numbers")
    return {str(k): _number(v) for k, v in value.items()}


_LOADED: dict[Path, LearnedModel] = {}
_LOADING = threading.Lock()


def default_model(path: Path = WEIGHTS_PATH) -> LearnedModel:
    """The model of a weights file, read once per process (on first use)."""
    model = _LOADED.get(path)
    if model is None:
        with _LOADING:
            model = _LOADED.get(path)
            if model is None:
                model = _LOADED[path] = load_model(path)
    return model


_DIGESTS: dict[Path, str] = {}


def weights_digest(path: Path = WEIGHTS_PATH) -> str:
    """A short hash of a weights file's bytes (``"unreadable"`` if it cannot be read), for
    the scanner's fingerprint; read once per process."""
    digest = _DIGESTS.get(path)
    if digest is None:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        except OSError:
            digest = "unreadable"
        _DIGESTS[path] = digest
    return digest
