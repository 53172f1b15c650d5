"""A disk cache of example embeddings, so a new process does not embed every example again.

The example router embeds every tool's example messages before it routes the first
message. On the embedded local model that is most of a fresh ``tether run``: about
five seconds of llama.cpp for the support example's ~100 examples, in every process
(each CLI invocation, each worker), for vectors that only change with the model or
the examples.

Vectors are kept in one SQLite file (``example-vectors.sqlite3``) under the cache
directory: ``$TETHER_CACHE_DIR``, else ``$XDG_CACHE_HOME/tether``, else
``~/.cache/tether``; ``TETHER_CACHE_DIR=off`` turns the cache off. A row is keyed by the
embedder's fingerprint (the model file, its size and modification time, the pooling,
the template, llama.cpp's version) and the text, so another model or template never
reads a stale vector. Only example texts from agent definitions are stored, never a
message being routed. The cache is an optimisation: a file that cannot be opened,
read or written (read-only home, a corrupt file, a lock held too long) is ignored and
the vectors are computed as if it were not there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

FILE_NAME = "example-vectors.sqlite3"
_OFF = ("", "0", "off", "none", "false")


def cache_dir() -> Path | None:
    """Where Tether keeps caches (``None``: caching is off)."""
    configured = os.environ.get("TETHER_CACHE_DIR")
    if configured is not None:
        return None if configured.strip().lower() in _OFF else Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "tether"


class VectorCache:
    """Embeddings by (fingerprint, text) in a SQLite file; every failure is a miss."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._broken = False

    @classmethod
    def default(cls) -> VectorCache | None:
        """The cache in :func:`cache_dir`, or ``None`` when caching is off."""
        folder = cache_dir()
        return None if folder is None else cls(folder / FILE_NAME)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=2.0, isolation_level=None)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS vectors (fingerprint TEXT NOT NULL, text TEXT NOT NULL, "
            "vector BLOB NOT NULL, PRIMARY KEY (fingerprint, text)) WITHOUT ROWID"
        )
        return conn

    def get_many(self, fingerprint: str, texts: Sequence[str]) -> dict[str, list[float]]:
        """The cached vectors among ``texts`` (texts not cached are left out)."""
        if self._broken or not texts:
            return {}
        found: dict[str, list[float]] = {}
        try:
            with self._lock, contextlib.closing(self._connect()) as conn:
                for start in range(0, len(texts), 500):
                    chunk = list(texts[start : start + 500])
                    marks = ",".join("?" * len(chunk))
                    rows = conn.execute(
                        f"SELECT text, vector FROM vectors WHERE fingerprint = ? "
                        f"AND text IN ({marks})",
                        [fingerprint, *chunk],
                    ).fetchall()
                    for text, blob in rows:
                        vector = array("f")
                        vector.frombytes(blob)
                        found[text] = vector.tolist()
        except (sqlite3.Error, OSError, ValueError) as exc:
            self._give_up(exc)
            return {}
        return found

    def put_many(self, fingerprint: str, items: Iterable[tuple[str, Sequence[float]]]) -> None:
        """Remember vectors (float32, as llama.cpp computes them)."""
        if self._broken:
            return
        rows = [(fingerprint, text, array("f", vector).tobytes()) for text, vector in items]
        if not rows:
            return
        try:
            with self._lock, contextlib.closing(self._connect()) as conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT OR REPLACE INTO vectors (fingerprint, text, vector) VALUES (?,?,?)",
                    rows,
                )
                conn.execute("COMMIT")
        except (sqlite3.Error, OSError, ValueError, OverflowError) as exc:
            self._give_up(exc)

    def _give_up(self, exc: BaseException) -> None:
        """Stop using a cache that fails (once per process): vectors are computed instead."""
        self._broken = True
        log.debug("example vector cache %s is not usable (%s); computing vectors", self.path, exc)
