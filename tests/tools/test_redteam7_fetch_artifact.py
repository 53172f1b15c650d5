"""Red team 7, hole 02: ``http_fetch`` kept a large body in the store raw.

A text body over ``summary_chars`` or any binary body went to ``sink.put_blob`` as
fetched, so an API key in a fetched config page sat in clear in the ``blobs`` table while
the run's events were sealed. The artifact now gets what events get: kept as fetched when
the redactor finds nothing, sealed by the payload codec when it does, redacted without a
codec (and a binary body that may hold a secret is then not kept). What the tool returns
is unchanged.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime
from tether.models import ModelRequest
from tether.observe import KEY_ENV, AESGCMCodec, Redactor, unseal
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import make_http_fetch

SK = "sk-proj-" + "Zq9Wx8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe"
PASSWORD = "Tr0ub4dor&3-horse"
SECRET_TEXT = ("x" * 25_000 + f"\nOPENAI_API_KEY={SK}\nDB_PASSWORD={PASSWORD}\n").encode()
CLEAN_TEXT = ("lorem ipsum dolor sit amet " * 1_000).encode()
SECRET_BINARY = (
    b"\x89PNG\r\n\x1a\n\x00\x00" + f"tEXt password={PASSWORD} {SK}".encode() + bytes(range(256))
)
CLEAN_BINARY = b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) * 4
BODIES = {
    "/secret.env": (SECRET_TEXT, "text/plain; charset=utf-8"),
    "/clean.txt": (CLEAN_TEXT, "text/plain; charset=utf-8"),
    "/secret.bin": (SECRET_BINARY, "application/octet-stream"),
    "/clean.bin": (CLEAN_BINARY, "image/png"),
    "/big.env": (b"y" * 200_000 + f"\napi_key={SK}\n".encode(), "text/plain"),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body, ctype = BODIES[self.path]
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Blobs:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    async def put_blob(self, key: str, data: bytes) -> None:
        self.blobs[key] = data


def _handle(data: bytes) -> str:
    return f"artifact:sha256:{hashlib.sha256(data).hexdigest()}"


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


async def test_hole_02_a_secret_in_a_long_text_body_is_sealed_with_a_codec(base_url: str) -> None:
    codec = AESGCMCodec(b"k" * 32)
    blobs = _Blobs()
    fetch = make_http_fetch(allow=["127.0.0.1/32"], artifacts=blobs, codec=codec)
    result = await fetch(f"{base_url}/secret.env")
    kept = blobs.blobs[result["artifact"]]
    assert SK.encode() not in kept and PASSWORD.encode() not in kept
    assert result["artifact"] == _handle(kept)  # named by what is kept, not by the secret
    assert base64.b64decode(unseal(json.loads(kept), codec)) == SECRET_TEXT  # recoverable
    assert result["text"] == SECRET_TEXT.decode()[:20_000]  # what the run gets: unchanged
    assert "sealed" in result["note"]


async def test_hole_02_the_codec_comes_from_the_environment_by_default(
    base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = AESGCMCodec.generate_key()
    monkeypatch.setenv(KEY_ENV, key)
    blobs = _Blobs()
    result = await make_http_fetch(allow=["127.0.0.1/32"], artifacts=blobs)(
        f"{base_url}/secret.env"
    )
    kept = blobs.blobs[result["artifact"]]
    assert base64.b64decode(unseal(json.loads(kept), AESGCMCodec.from_base64(key))) == SECRET_TEXT


async def test_hole_02_fetch_artifact_stores_secrets_raw_without_a_codec(base_url: str) -> None:
    """No codec: the text is kept with the secrets redacted; the rest of it stays."""
    blobs = _Blobs()
    fetch = make_http_fetch(allow=["127.0.0.1/32"], artifacts=blobs)
    result = await fetch(f"{base_url}/secret.env")
    kept = blobs.blobs[result["artifact"]]
    assert SK.encode() not in kept and PASSWORD.encode() not in kept
    assert kept.startswith(b"x" * 25_000) and b"OPENAI_API_KEY=[REDACTED]" in kept
    assert result["artifact"] == _handle(kept)
    assert "redacted" in result["note"]


async def test_hole_02_a_binary_body_with_a_secret_is_sealed_or_not_kept(base_url: str) -> None:
    codec = AESGCMCodec(b"k" * 32)
    sealed = _Blobs()
    result = await make_http_fetch(allow=["127.0.0.1/32"], artifacts=sealed, codec=codec)(
        f"{base_url}/secret.bin"
    )
    kept = sealed.blobs[result["artifact"]]
    assert base64.b64decode(unseal(json.loads(kept), codec)) == SECRET_BINARY
    assert PASSWORD.encode() not in kept
    dropped = _Blobs()
    result = await make_http_fetch(allow=["127.0.0.1/32"], artifacts=dropped)(
        f"{base_url}/secret.bin"
    )
    assert dropped.blobs == {} and "artifact" not in result
    assert "not kept" in result["note"]


@pytest.mark.parametrize("path", ["/clean.txt", "/clean.bin"])
async def test_hole_02_a_clean_body_is_kept_as_fetched(base_url: str, path: str) -> None:
    blobs = _Blobs()
    fetch = make_http_fetch(
        allow=["127.0.0.1/32"], artifacts=blobs, summary_chars=100, codec=AESGCMCodec(b"k" * 32)
    )
    result = await fetch(f"{base_url}{path}")
    assert blobs.blobs == {_handle(BODIES[path][0]): BODIES[path][0]}
    assert result["artifact"] == _handle(BODIES[path][0])


async def test_hole_02_the_tools_redactor_is_used(base_url: str) -> None:
    """The runtime's redactor (with the broker's values) can be handed to the tool."""
    blobs = _Blobs()
    redactor = Redactor(values_source=lambda: frozenset({"lorem ipsum dolor"}))
    result = await make_http_fetch(
        allow=["127.0.0.1/32"], artifacts=blobs, summary_chars=100, redactor=redactor
    )(f"{base_url}/clean.txt")
    assert b"lorem ipsum dolor" not in blobs.blobs[result["artifact"]]


async def test_hole_02_a_large_body_is_scanned_off_the_event_loop(
    base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    offloaded: list[Any] = []
    real = asyncio.to_thread

    async def spy(func: Any, /, *args: Any, **kwargs: Any) -> Any:
        offloaded.append(getattr(func, "__name__", func))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", spy)
    blobs = _Blobs()
    result = await make_http_fetch(allow=["127.0.0.1/32"], artifacts=blobs)(f"{base_url}/big.env")
    assert "_keepable" in offloaded
    assert SK.encode() not in blobs.blobs[result["artifact"]]


async def test_hole_02_fetch_artifact_stores_secrets_raw_in_a_run(
    base_url: str, tmp_path: Path
) -> None:
    """The repro: in a run, the store file never holds the page's secrets."""
    fetch = make_http_fetch(allow=["127.0.0.1/32"])

    def script(request: ModelRequest) -> Any:
        if not any(m.role == "tool" for m in request.messages):
            return tool_call("http_fetch", url=f"{base_url}/secret.env")
        return text("I read the export.")

    db = tmp_path / "t.db"
    agent = Agent(name="reader", model=ScriptedModel(script), tools=[fetch])
    async with Runtime(f"sqlite:///{db}") as rt:
        run = await rt.start(agent, "read the export")
        assert (await run.result(timeout=30)).status == "completed"
    raw = await asyncio.to_thread(lambda: b"".join(p.read_bytes() for p in tmp_path.glob("t.db*")))
    assert SK.encode() not in raw and PASSWORD.encode() not in raw
