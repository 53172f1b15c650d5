"""Example vectors persist across processes (``_vector_cache``), and only examples do.

A counting embedder with a fingerprint stands in for llama.cpp; the cache is a real
SQLite file in a temporary ``TETHER_CACHE_DIR``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from tether.models._embed import LlamaEmbedder
from tether.models._routing import ExampleRouter
from tether.models._vector_cache import FILE_NAME, VectorCache, cache_dir

ROUTES: dict[str | None, Sequence[str]] = {
    "lookup_order": ["Where is my order?", "Order status"],
    "policies": ["What is your return policy?"],
    None: ["Hello", "Thanks"],
}
EXAMPLES = sum(len(v) for v in ROUTES.values())


class _Counting:
    """A bag-of-words embedder that counts the texts it embeds, with a fingerprint."""

    VOCAB = ("order", "where", "status", "return", "policy", "hello", "thanks")

    def __init__(self, fingerprint: str = "bag-v1") -> None:
        self.embedded: list[str] = []
        self._fingerprint = fingerprint

    def fingerprint(self) -> str:
        return self._fingerprint

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.embedded += texts
        return [[float(w in t.lower()) + 0.1 * i for i, w in enumerate(self.VOCAB)] for t in texts]


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TETHER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_second_process_reads_example_vectors_instead_of_embedding_them(
    cache_home: Path,
) -> None:
    first = _Counting()
    decision = ExampleRouter(first, k=1).route("where's order 12?", ROUTES)
    assert len(first.embedded) == EXAMPLES + 1  # every example, then the message
    assert (cache_home / FILE_NAME).exists()

    again = _Counting()  # a new router and embedder: what a new process has
    same = ExampleRouter(again, k=1).route("where's order 12?", ROUTES)
    assert again.embedded == ["where's order 12?"]  # the message only
    assert same == decision


def test_messages_being_routed_are_never_written_to_the_cache(cache_home: Path) -> None:
    secret = "my card is 4111 1111 1111 1111, where is order 12?"
    ExampleRouter(_Counting(), k=1).route(secret, ROUTES)
    with sqlite3.connect(cache_home / FILE_NAME) as conn:
        texts = {row[0] for row in conn.execute("SELECT text FROM vectors")}
    conn.close()
    assert texts == {t for v in ROUTES.values() for t in v}


def test_another_model_or_template_never_reads_these_vectors(cache_home: Path) -> None:
    ExampleRouter(_Counting("model-a"), k=1).route("hello", ROUTES)
    other = _Counting("model-b")
    ExampleRouter(other, k=1).route("hello", ROUTES)
    assert len(other.embedded) == EXAMPLES + 1


def test_a_corrupt_or_unwritable_cache_is_ignored(cache_home: Path) -> None:
    cache_home.mkdir(parents=True)
    (cache_home / FILE_NAME).write_bytes(b"this is not a database" * 100)
    embedder = _Counting()
    decision = ExampleRouter(embedder, k=1).route("the return policy, please", ROUTES)
    assert decision.route == "policies"
    assert len(embedder.embedded) == EXAMPLES + 1

    blocked = VectorCache(cache_home / "a-file" / FILE_NAME)  # its folder is a file
    (cache_home / "a-file").write_text("x")
    blocked.put_many("f", [("text", [1.0, 2.0])])
    assert blocked.get_many("f", ["text"]) == {}


def test_the_cache_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_CACHE_DIR", "off")
    assert cache_dir() is None
    embedder = _Counting()
    ExampleRouter(embedder, k=1).route("hello", ROUTES)
    again = _Counting()
    ExampleRouter(again, k=1).route("hello", ROUTES)
    assert len(again.embedded) == EXAMPLES + 1
    monkeypatch.delenv("TETHER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "tether"


def test_vectors_come_back_as_computed(cache_home: Path) -> None:
    cache = VectorCache(cache_home / FILE_NAME)
    vector = [0.125, -3.5, 2.0**-10, 42.0]  # values a float32 holds exactly (llama.cpp's)
    cache.put_many("f", [("a text", vector)])
    assert cache.get_many("f", ["a text", "another"]) == {"a text": vector}


def test_an_embedder_without_a_fingerprint_is_not_cached(cache_home: Path) -> None:
    class Plain:
        def embed(self, texts: Sequence[str]) -> list[list[float]]:
            return [[1.0, float(len(t))] for t in texts]

    ExampleRouter(Plain(), k=1).route("hello", ROUTES)
    assert not (cache_home / FILE_NAME).exists()


def test_the_llama_fingerprint_names_what_decides_the_vectors(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"x" * 10)
    base = LlamaEmbedder(model).fingerprint()
    assert LlamaEmbedder(model).fingerprint() == base
    assert LlamaEmbedder(model, pooling="mean").fingerprint() != base
    assert LlamaEmbedder(model, template="{text} in a word:").fingerprint() != base
    model.write_bytes(b"y" * 11)  # another model file
    assert LlamaEmbedder(model).fingerprint() != base
