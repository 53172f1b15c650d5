"""Train the injection scanner's learned stage (``src/tether/policy/_injection_weights.json``).

    python benchmarks/train_injection.py            # fit, print the figures, write the file
    python benchmarks/train_injection.py --check    # fit, and fail if the file differs

Data (since session 12, 2026-11-30): only the rows the project may fit on. The tuning
four fifths of ``tests/policy/injection_corpus`` (``_injection_corpus.tuning()``:
``attacks.jsonl`` and ``benign.jsonl`` rows whose id hashes to the tuning side) and the
five outside authors' sets that are tuning data: ``wild``, ``outsider``, ``third`` (since
session 9), ``fourth`` (since session 10) and ``fifth`` (since session 11)
(``_injection_corpus.wild()`` ... ``fifth()``). The held-out fifth and the sixth set
(blind, session 11) are never read here: they are for measuring, in aggregate
(``benchmarks/redteam.py --corpus``). (Session 8 fitted on the tuning rows and ``wild``;
session 9 added ``outsider`` and ``third``.)

Model: logistic regression (scikit-learn, L2, lbfgs; a training-time tool only: the
scanner scores with pure Python) over binary word unigrams and bigrams of each window
of two segments of the normalised text (its quoted spans and code blanked) and its
decoded views, plus a document feature for writing about attacks
(``_injection_learned``). Rows with ``DISCUSSION_GATE`` or more words of that vocabulary
are ``gated``: the scanner never scores them, so they are neither fitted nor scored here
(185 benign rows, no attack). Benign rows give one negative per window and one for the
whole text; attack rows give their whole text as a positive; the classes weigh the same.
Features seen in fewer than two training rows are dropped before fitting, and weights
smaller than ``PRUNE`` after, which keeps the file small. (Rows under ``MIN_WORDS`` words,
which the scanner does not score either, are scored here; none of the attacks among them
passes the threshold out of fold, so the figures are the scanner's.)

Choices, made on the training rows only, by cross-validation across sources: the folds
are each outside author's set (``wild``, ``outsider``, ``third``, ``fourth``, ``fifth``:
a fold left out is an author the model never read, as the sixth set's are) and the tuning
rows in ``TUNING_FOLDS`` halves by a hash of ``"cv:" + id`` (unseen rows of our own
corpus, as the held-out fifth is; unrelated to the held-out split). Each row gets a score
from the model fitted on the other folds.

* The threshold, per ``C``: the highest such out-of-fold score of a benign row the
  patterns leave unflagged, so that out of fold the stage adds no false positive on any
  source. A text flags when its score is above it.
* ``C`` (inverse regularisation), from ``GRID``: the one whose out-of-fold scores put the
  most attacks the patterns miss above its threshold (ties: the most attacks above it,
  then the smaller ``C``). The patterns miss only 8 training attacks now (they were
  fitted to these sets), so the tie-break, all attacks above the threshold out of fold,
  is what decides in practice. The features (words and pairs, quotations blanked,
  writing about attacks gated) were chosen the same way in session 12 over word
  trigrams and character n-grams; the figures are in ``_injection_learned``'s notes.

The model written is fitted on every training row with that ``C`` and threshold;
``training`` in the weights file holds the figures of each ``C``.

Deterministic: rows in file order, folds by hash, a sorted vocabulary, lbfgs, weights
rounded to four decimals. Takes about five minutes on 2 vCPUs (seven fits per ``C``,
one more at the end); needs scikit-learn, numpy and scipy (``pip install
scikit-learn``), which the scanner itself does not.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression

_ROOT = Path(__file__).resolve().parent.parent
try:
    import tether  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(_ROOT / "src"))
sys.path.insert(0, str(_ROOT / "tests" / "policy"))

import _injection_corpus  # noqa: E402

from tether.policy._injection import InjectionScanner  # noqa: E402
from tether.policy._injection_context import discussion_terms  # noqa: E402
from tether.policy._injection_learned import (  # noqa: E402
    WEIGHTS_PATH,
    LearnedModel,
    clip,
    doc_features,
    features,
    gated,
    instances,
    said,
    segments,
    whole,
)
from tether.policy._injection_normalize import (  # noqa: E402
    decoded_blobs,
    decoded_views,
    has_encoding_hint,
    normalize,
)

SOURCES = ("tuning", "wild", "outsider", "third", "fourth", "fifth")
GRID = (0.3, 1.0, 3.0, 10.0)
TUNING_FOLDS = 2
MIN_DF = 2
PRUNE = 0.002

Feature = str | tuple[str, str]


@dataclass(frozen=True)
class Row:
    """One training row, read as the scanner reads it."""

    id: str
    source: str  # one of SOURCES
    attack: bool
    flagged: bool  # by the patterns alone
    positive: frozenset[Feature]  # the whole text's features (an attack's instance)
    negatives: tuple[frozenset[Feature], ...]  # every scored window (a benign row's)
    doc: tuple[str, ...]
    gated: bool  # writing about attacks the stage leaves to the patterns: not fitted, not scored


def readings(text: str) -> list[str]:
    """The normalised text and its decoded views, as ``InjectionScanner.scan`` makes them."""
    normal = normalize(text)
    texts = [normal]
    if has_encoding_hint(normal):
        texts += decoded_views(normal)
    texts += [normalize(blob) for blob in decoded_blobs(text)]
    return texts


def load_rows() -> list[Row]:
    scanner = InjectionScanner(learned=False)
    rows: list[Row] = []
    for source in SOURCES:
        side = getattr(_injection_corpus, source)()
        for sample in (*side.attacks, *side.benign):
            texts = [clip(t) for t in readings(sample.text)]
            terms = discussion_terms(texts[0])
            read = segments(said(texts))
            rows.append(
                Row(
                    id=sample.id,
                    source=source,
                    attack=sample.attack,
                    flagged=bool(scanner.scan(sample.text)),
                    positive=frozenset(features(whole(read))),
                    negatives=tuple(frozenset(features(w)) for w in instances(read)),
                    doc=tuple(doc_features(terms)),
                    gated=gated(terms),
                )
            )
    return rows


def fold_of(row: Row) -> str:
    """The row's cross-validation fold: its source when an outside author wrote it (the
    fold then stands for an unseen author, like the fourth set), else one of
    ``TUNING_FOLDS`` halves of the tuning rows by a hash of ``"cv:" + id`` (unseen rows of
    our own corpus, like the held-out fifth; unrelated to the held-out split)."""
    if row.source != "tuning":
        return row.source
    digest = hashlib.sha256(f"cv:{row.id}".encode()).digest()
    return f"tuning{int.from_bytes(digest[:4], 'big') % TUNING_FOLDS}"


class Fitted:
    """A model fitted on some rows, with its vocabulary (numpy weights, not pruned)."""

    def __init__(self, rows: Sequence[Row], c: float) -> None:
        rows = [row for row in rows if not row.gated]  # never scored, so never fitted
        counts: Counter[Feature] = Counter()
        for row in rows:
            seen = set(row.positive)
            for window in row.negatives:
                seen |= window
            counts.update(seen)
        kept = sorted((f for f, n in counts.items() if n >= MIN_DF), key=_order)
        docs = sorted({d for row in rows for d in row.doc})
        self.columns: dict[Feature, int] = {f: i for i, f in enumerate(kept)}
        self.doc_columns = {d: len(kept) + i for i, d in enumerate(docs)}
        sets: list[frozenset[Feature]] = []
        docs_of: list[tuple[str, ...]] = []
        labels: list[int] = []
        for row in rows:
            if row.attack:
                sets.append(row.positive)
                docs_of.append(row.doc)
                labels.append(1)
            else:
                for window in row.negatives:
                    sets.append(window)
                    docs_of.append(row.doc)
                    labels.append(0)
        y = np.array(labels)
        weight = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
        model = LogisticRegression(C=c, solver="lbfgs", max_iter=20_000, tol=1e-8)
        model.fit(self.matrix(sets, docs_of), y, sample_weight=weight)
        self.coef = model.coef_[0]
        self.bias = float(model.intercept_[0])

    def matrix(self, sets: Sequence[frozenset[Feature]], docs: Sequence[tuple[str, ...]]) -> Any:
        indices: list[int] = []
        pointers = [0]
        for found, doc in zip(sets, docs, strict=True):
            columns = sorted(
                [self.columns[f] for f in found if f in self.columns]
                + [self.doc_columns[d] for d in doc if d in self.doc_columns]
            )
            indices.extend(columns)
            pointers.append(len(indices))
        shape = (len(sets), len(self.columns) + len(self.doc_columns))
        return csr_matrix((np.ones(len(indices)), indices, pointers), shape=shape)

    def score(self, row: Row) -> float:
        """The row's score as the scanner computes it: the best of its windows."""
        if row.gated or not row.negatives:
            return -math.inf
        values = self.matrix(row.negatives, [row.doc] * len(row.negatives)) @ self.coef
        return float(values.max()) + self.bias

    def model(self, threshold: float, training: dict[str, Any]) -> LearnedModel:
        weights: dict[Feature, float] = {}
        for feature, column in self.columns.items():
            value = round(float(self.coef[column]), 4)
            if abs(value) >= PRUNE:
                weights[feature] = value
        doc = {d: round(float(self.coef[c]), 4) for d, c in self.doc_columns.items()}
        return LearnedModel(
            weights, round(self.bias, 4), round(threshold, 4), doc=doc, training=training
        )


def _order(feature: Feature) -> tuple[str, ...]:
    return (feature,) if isinstance(feature, str) else feature


def out_of_fold(rows: Sequence[Row], c: float) -> list[float]:
    """Each row's score from the model fitted on every fold but its own."""
    scores = [0.0] * len(rows)
    for fold in sorted({fold_of(r) for r in rows}):
        fitted = Fitted([r for r in rows if fold_of(r) != fold], c)
        for i, row in enumerate(rows):
            if fold_of(row) == fold:
                scores[i] = fitted.score(row)
    return scores


def cross_validate(rows: Sequence[Row], c: float) -> dict[str, Any]:
    """Out-of-fold figures for one ``C``: the threshold that flags no benign row the
    patterns leave unflagged (the highest out-of-fold score of one), per fold the highest
    such score, and how many attacks (and attacks the patterns miss) score above it."""
    scores = out_of_fold(rows, c)
    clean = [(r, s) for r, s in zip(rows, scores, strict=True) if not r.attack and not r.flagged]
    threshold = max(s for _, s in clean)
    per_fold: dict[str, float] = {}
    for row, score in clean:
        per_fold[fold_of(row)] = max(per_fold.get(fold_of(row), -math.inf), score)
    above = [(r, s > threshold) for r, s in zip(rows, scores, strict=True) if r.attack]
    return {
        "c": c,
        "threshold": threshold,
        "max_clean_benign_by_fold": dict(sorted(per_fold.items())),
        "attacks_above": sum(a for _, a in above),
        "missed_attacks_above": sum(a for r, a in above if not r.flagged),
        "missed_attacks": sum(not r.flagged for r, _ in above),
        "attacks": len(above),
    }


def train() -> tuple[LearnedModel, dict[str, Any]]:
    rows = load_rows()
    grid = [cross_validate(rows, c) for c in GRID]
    best = max(grid, key=lambda g: (g["missed_attacks_above"], g["attacks_above"], -g["c"]))
    c, threshold = best["c"], best["threshold"]
    fitted = Fitted(rows, c)
    count = Counter((r.source, r.attack) for r in rows)
    training = {
        "data": (
            "tests/policy/injection_corpus: the tuning four fifths of attacks.jsonl and "
            "benign.jsonl (ids hashing to the tuning side), wild_*.jsonl, outsider_*.jsonl, "
            "third_*.jsonl, fourth_*.jsonl and fifth_*.jsonl (session 12, 2026-11-30); "
            "never the held-out fifth nor the sixth set"
        ),
        "session": 12,
        "rows": {
            f"{source}_{'attacks' if attack else 'benign'}": count[(source, attack)]
            for source in SOURCES
            for attack in (True, False)
        },
        "model": (
            "logistic regression, L2, binary word unigrams+bigrams per window, quoted "
            "spans and code blanked; texts with >= 2 discussion terms not scored"
        ),
        "gated_rows": sum(r.gated for r in rows),
        "c": c,
        "min_df": MIN_DF,
        "prune": PRUNE,
        "folds": sorted({fold_of(r) for r in rows}),
        "threshold": "the highest out-of-fold score of a benign row the patterns leave "
        "unflagged, for the C picked",
        "out_of_fold_added_attacks": best["missed_attacks_above"],
        "out_of_fold_added_benign": 0,
        "attacks": sum(r.attack for r in rows),
        "benign": sum(not r.attack for r in rows),
        "grid": [_rounded(g) for g in grid],
    }
    return fitted.model(threshold, training), training


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file would change")
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args()
    model, training = train()
    text = json.dumps(model.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n"
    print(json.dumps(training, indent=2), file=sys.stderr)
    print(f"{len(model.weights)} weights, {len(text.encode())} bytes", file=sys.stderr)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        raise SystemExit(0 if current == text else f"{args.out} differs from a fresh training")
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
