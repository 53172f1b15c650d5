"""Train the injection scanner's learned stage (``src/tether/policy/_injection_weights.json``).

    python benchmarks/train_injection.py            # fit, print the figures, write the file
    python benchmarks/train_injection.py --check    # fit, and fail if the file differs

Data: only the rows the project may fit on. The tuning four fifths of
``tests/policy/injection_corpus`` (``_injection_corpus.tuning()``: ``attacks.jsonl`` and
``benign.jsonl`` rows whose id hashes to the tuning side) and the ``wild`` set
(``_injection_corpus.wild()``, an outside author's set kept for fitting). The held-out
fifth, ``outsider`` and ``third`` are never read here: they are for measuring
(``benchmarks/redteam.py --corpus``).

Model: logistic regression (scikit-learn, L2, lbfgs; a training-time tool only: the
scanner scores with pure Python) over binary word unigrams and bigrams of each window
of two segments of the normalised text and its decoded views, plus two document
features for writing about attacks (``_injection_learned``). Benign rows give one
negative per window and one for the whole text; attack rows give their whole text as a
positive; the classes weigh the same. Features seen in fewer than two training rows
are dropped before fitting, and weights smaller than ``PRUNE`` after, which keeps the
file small.

Choices, made on the training rows only:

* ``C`` (inverse regularisation), from ``GRID``: the model is fitted on the tuning rows
  alone and scored on the ``wild`` rows (another author's wording), with its threshold
  set as below from the tuning rows and the wild benign rows; the ``C`` whose model then
  scores the most wild attacks above it wins (ties: the smaller ``C``).
* The threshold: folds of the training rows (5, by a hash of ``"cv:" + id``, unrelated to
  the held-out split) give each row a score from a model that never saw it; the threshold
  is the highest such score of a benign row the patterns leave unflagged, plus a margin:
  how far above its own out-of-fold maximum the tuning-only model had to go to flag none
  of the wild benign rows (so a new author's benign text is allowed for). A text flags
  when its score is above the threshold.

Deterministic: rows in file order, folds by hash, a sorted vocabulary, lbfgs, weights
rounded to four decimals. Takes a minute or two on 2 vCPUs.
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

GRID = (0.1, 0.3, 1.0, 3.0)
FOLDS = 5
MIN_DF = 2
PRUNE = 0.002

Feature = str | tuple[str, str]


@dataclass(frozen=True)
class Row:
    """One training row, read as the scanner reads it."""

    id: str
    source: str  # "tuning" or "wild"
    attack: bool
    flagged: bool  # by the patterns alone
    positive: frozenset[Feature]  # the whole text's features (an attack's instance)
    negatives: tuple[frozenset[Feature], ...]  # every scored window (a benign row's)
    doc: tuple[str, ...]


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
    for source, side in (
        ("tuning", _injection_corpus.tuning()),
        ("wild", _injection_corpus.wild()),
    ):
        for sample in (*side.attacks, *side.benign):
            texts = [clip(t) for t in readings(sample.text)]
            terms = discussion_terms(texts[0])
            read = segments(said(texts, terms))
            rows.append(
                Row(
                    id=sample.id,
                    source=source,
                    attack=sample.attack,
                    flagged=bool(scanner.scan(sample.text)),
                    positive=frozenset(features(whole(read))),
                    negatives=tuple(frozenset(features(w)) for w in instances(read)),
                    doc=tuple(doc_features(terms)),
                )
            )
    return rows


def fold_of(row_id: str) -> int:
    digest = hashlib.sha256(f"cv:{row_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % FOLDS


class Fitted:
    """A model fitted on some rows, with its vocabulary (numpy weights, not pruned)."""

    def __init__(self, rows: Sequence[Row], c: float) -> None:
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
        values = self.matrix(row.negatives, [row.doc] * len(row.negatives)) @ self.coef
        return float(values.max()) + self.bias if len(row.negatives) else -math.inf

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
    scores = [0.0] * len(rows)
    for fold in range(FOLDS):
        inside = [r for r in rows if fold_of(r.id) != fold]
        fitted = Fitted(inside, c)
        for i, row in enumerate(rows):
            if fold_of(row.id) == fold:
                scores[i] = fitted.score(row)
    return scores


def highest_clean(rows: Sequence[Row], scores: Sequence[float]) -> float:
    """The highest score of a benign row the patterns leave unflagged."""
    return max(s for r, s in zip(rows, scores, strict=True) if not r.attack and not r.flagged)


def cross_author(tuning: Sequence[Row], wild: Sequence[Row], c: float) -> dict[str, Any]:
    """Fit on the tuning rows, score the wild rows (another author's): the margin above
    the tuning rows' out-of-fold maximum that flags no unflagged wild benign row, and how
    many wild attacks score above the threshold that margin gives."""
    oof_max = highest_clean(tuning, out_of_fold(tuning, c))
    fitted = Fitted(tuning, c)
    scores = [fitted.score(r) for r in wild]
    margin = max(0.0, highest_clean(wild, scores) - oof_max)
    above = [s > oof_max + margin for s in scores]
    return {
        "c": c,
        "tuning_out_of_fold_max_clean_benign": oof_max,
        "margin": margin,
        "wild_attacks_above": sum(a for r, a in zip(wild, above, strict=True) if r.attack),
        "of_which_the_patterns_missed": sum(
            a for r, a in zip(wild, above, strict=True) if r.attack and not r.flagged
        ),
        "wild_attacks": sum(r.attack for r in wild),
        "wild_attacks_the_patterns_missed": sum(r.attack and not r.flagged for r in wild),
    }


def train() -> tuple[LearnedModel, dict[str, Any]]:
    rows = load_rows()
    tuning = [r for r in rows if r.source == "tuning"]
    wild = [r for r in rows if r.source == "wild"]
    grid = [cross_author(tuning, wild, c) for c in GRID]
    best = max(grid, key=lambda g: (g["wild_attacks_above"], -g["c"]))
    c, margin = best["c"], best["margin"]
    scores = out_of_fold(rows, c)
    oof_max = highest_clean(rows, scores)
    threshold = oof_max + margin
    fitted = Fitted(rows, c)
    benign = [r for r in rows if not r.attack]
    attacks = [r for r in rows if r.attack]
    oof_added = [s > threshold and not r.flagged for r, s in zip(rows, scores, strict=True)]
    training = {
        "data": (
            "tests/policy/injection_corpus: the tuning four fifths of attacks.jsonl and "
            "benign.jsonl (ids hashing to the tuning side) and wild_attacks.jsonl, "
            "wild_benign.jsonl; never the held-out fifth, outsider or third"
        ),
        "rows": {
            "tuning_attacks": sum(r.attack for r in tuning),
            "tuning_benign": sum(not r.attack for r in tuning),
            "wild_attacks": sum(r.attack for r in wild),
            "wild_benign": sum(not r.attack for r in wild),
        },
        "model": "logistic regression, L2, binary word unigrams+bigrams per window",
        "c": c,
        "min_df": MIN_DF,
        "prune": PRUNE,
        "folds": FOLDS,
        "out_of_fold_max_clean_benign": round(oof_max, 4),
        "margin": round(margin, 4),
        "out_of_fold_added_attacks": sum(
            a for r, a in zip(rows, oof_added, strict=True) if r.attack
        ),
        "out_of_fold_added_benign": sum(
            a for r, a in zip(rows, oof_added, strict=True) if not r.attack
        ),
        "attacks": len(attacks),
        "benign": len(benign),
        "grid": [
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in g.items()} for g in grid
        ],
    }
    return fitted.model(threshold, training), training


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
