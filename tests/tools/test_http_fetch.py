"""``http_fetch``: SSRF refusals, address pinning, redirects, limits and header hygiene.

Nothing here reaches the network: servers bind 127.0.0.1 (allowlisted where a fetch must
succeed) and every name is answered by an injected resolver, never by real DNS.
"""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import json
import re
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime
from tether.engine import ToolFailed
from tether.exceptions import AgentDefinitionError
from tether.models import ModelRequest, ToolCall
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import (
    ToolCallError,
    ToolContext,
    ToolContract,
    _fetch,
    execute_tool_call,
    http_fetch,
    make_http_fetch,
)
from tether.tools._fetch_address import blocked_reason, parse_ipv4_loose

BIG = 50 * 1024 * 1024
CHUNK = 64 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.big_sent = 0
        self.big_done = threading.Event()
        self.release = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self.sni: list[str | None] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.requests.append(
            {
                "path": self.path,
                "host": self.headers.get("Host"),
                "user_agent": self.headers.get("User-Agent"),
                "cookie": self.headers.get("Cookie"),
                "authorization": self.headers.get("Authorization"),
                "local": self.connection.getsockname()[0],
            }
        )
        path, _, query = self.path.partition("?")
        if path == "/hello":
            self._send(
                200,
                b"hello",
                "text/plain; charset=utf-8",
                Set_Cookie="session=secret; HttpOnly",
                X_Api_Token="t0ken",
                WWW_Authenticate="Basic",
                ETag='"v1"',
            )
        elif path == "/redirect":
            self._send(302, b"", "text/plain", Location=query, Set_Cookie="a=b")
        elif path == "/loop":
            self._send(302, b"", "text/plain", Location="/loop")
        elif path == "/big":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            chunk = b"x" * CHUNK
            try:
                while self.server.big_sent < BIG:
                    self.wfile.write(chunk)
                    self.server.big_sent += CHUNK
            except OSError:
                pass  # the client hung up: exactly what the test wants
            finally:
                self.server.big_done.set()
        elif path == "/gzip-bomb":
            body = gzip.compress(b"\0" * (20 * 1024 * 1024))
            self._send(200, body, "text/plain", Content_Encoding="gzip")
        elif path == "/stall":
            self.server.release.wait(30)
        elif path == "/long":
            self._send(200, ("abcdefghij" * 5000).encode(), "text/html; charset=utf-8")
        elif path == "/charset":
            self._send(200, b"QUJD", f"text/plain; charset={query}")
        elif path == "/latin1":
            self._send(200, "café".encode("latin-1"), "text/plain; charset=iso-8859-1")
        elif path == "/png":
            self._send(200, b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "image/png")
        elif path == "/busy":
            self._send(503, b"busy", "text/plain")
        elif path == "/missing":
            self._send(404, b"no such page", "text/plain")
        else:
            self._send(200, b"ok", "text/plain")


def _serve(server: _Server) -> Iterator[_Server]:
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def server() -> Iterator[_Server]:
    yield from _serve(_Server())


@pytest.fixture
def local() -> ToolContract:
    """A fetch tool that may reach the test server on 127.0.0.1, and nothing else local."""
    return make_http_fetch(allow=["127.0.0.1/32"], resolver=_no_dns)


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    """The connect step replaced by a recorder: where a fetch would connect, and nowhere."""
    sent: list[tuple[str, list[str]]] = []

    async def record(self: Any, client: Any, target: Any) -> Any:
        sent.append((str(target.url), [str(a) for a in target.addresses]))
        raise ToolCallError("not sent", error_code="recorded")

    monkeypatch.setattr(_fetch._Fetcher, "_send", record)
    return sent


def _no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"real DNS asked for {host!r}")


def _url(server: _Server, path: str, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{server.server_address[1]}{path}"


async def _refusal(fetch: ToolContract, url: str) -> ToolCallError:
    with pytest.raises(ToolCallError) as info:
        await fetch(url)
    return info.value


# -- refusals with the default tool ----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://127.0.0.1:8080/admin", "loopback"),
        ("http://localhost/", "loopback"),
        ("http://localhost./", "loopback"),
        ("http://LOCALHOST:80/", "loopback"),
        ("http://api.localhost/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://[::]/", "unspecified"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://0/", "unspecified"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://100.100.100.200/", "metadata"),
        ("http://168.63.129.16/machine?comp=goalstate", "metadata"),
        ("http://[::ffff:168.63.129.16]/", "metadata"),
        ("http://169.254.170.2/v2/credentials", "metadata"),
        ("http://2130706433/", "loopback"),
        ("http://0177.0.0.1/", "loopback"),
        ("http://0x7f000001/", "loopback"),
        ("http://0x7f.1/", "loopback"),
        ("http://127.1/", "loopback"),
        ("http://127.0.0.1./", "loopback"),
        ("http://0251.0376.0251.0376/", "metadata"),
        ("http://[::ffff:127.0.0.1]/", "127.0.0.1, loopback"),
        ("http://[::ffff:7f00:1]/", "127.0.0.1, loopback"),
        ("http://[::ffff:169.254.169.254]/", "metadata"),
        ("http://[64:ff9b::a9fe:a9fe]/", "metadata"),
        ("http://[2002:a00:1::]/", "10.0.0.1, private"),
        ("http://[fe80::1%25eth0]/", "link-local"),
        ("http://[fc00::1]/", "private"),
        ("http://10.0.0.1/", "private"),
        ("http://172.16.5.4/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://169.254.1.1/", "link-local"),
        ("http://224.0.0.1/", "multicast"),
        ("http://192.0.2.10/", "documentation"),
        ("http://[2001:db8::1]/", "documentation"),
        ("http://255.255.255.255/", "reserved"),
        ("http://1.2.3.4.5/", "not a valid one"),
        ("http://0x1g.0.0.1/", "not a valid one"),
        ("http://999.0.0.1/", "not a valid"),
        ("http://%31%32%37.0.0.1/", "not a valid one"),
        ("http://\uff11\uff12\uff17.0.0.1/", "not a valid URL"),
        ("http://exa_mple!.com/", "not a valid host name"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("ftp://example.com/pub", "scheme 'ftp'"),
        ("gopher://example.com:70/_GET", "scheme 'gopher'"),
        ("dict://example.com:11211/stat", "scheme 'dict'"),
        ("javascript:alert(1)", "scheme 'javascript'"),
        ("/relative/path", "scheme '(none)'"),
        ("http://user:pw@example.com/", "credentials"),
        ("http://example.com@127.0.0.1/", "credentials"),
        ("http://93.184.215.14:22/", "port 22 refused"),
        ("http://93.184.215.14:6379/", "port 6379 refused"),
        ("http://93.184.215.14:0/", "port 0 refused"),
    ],
)
async def test_default_tool_refuses_private_and_odd_urls(
    connects: list[tuple[str, list[str]]], url: str, reason: str
) -> None:
    """Every SSRF spelling is refused before any connection, as a structured url_refused."""
    fetch = make_http_fetch(resolver=_resolver({"localhost": ["127.0.0.1", "::1"]}))
    error = await _refusal(fetch, url)
    assert error.error_code == "url_refused"
    assert not error.retryable
    assert reason in error.message
    assert error.hint is not None and "public" in error.hint
    assert connects == []


def test_importing_the_tools_does_not_import_httpx() -> None:
    """httpx loads on the first fetch, not when ``tether.tools`` is imported."""
    probe = "import sys, tether.tools; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_the_ready_tool_refuses_loopback_without_asking_dns() -> None:
    """``http_fetch`` itself (the default instance) refuses 127.0.0.1 and [::1]."""
    for url in ("http://127.0.0.1/", "http://[::1]/", "http://169.254.169.254/"):
        error = await _refusal(http_fetch, url)
        assert error.error_code == "url_refused"
    assert http_fetch.name == "http_fetch"
    assert http_fetch.effect == "read"
    assert http_fetch.parameters["required"] == ["url"]


def test_numeric_host_forms_parse_as_inet_aton_does() -> None:
    """Decimal, octal, hex and short forms become the address the C library makes of them."""
    for form in ("127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.1", "127.1", "0x7F000001"):
        assert parse_ipv4_loose(form) == ipaddress.IPv4Address("127.0.0.1"), form
    assert parse_ipv4_loose("1.65536") == ipaddress.IPv4Address("1.1.0.0")
    for bad in ("1.2.3.4.5", "256.0.0.1", "08.0.0.1", "1_0.0.0.1", "", "1..2", "0x1g", "\uff11.1"):
        assert parse_ipv4_loose(bad) is None, bad


def test_public_addresses_pass_and_embedded_private_ones_do_not() -> None:
    """Public v4/v6 (also IPv4-mapped and NAT64 of a public v4) pass; Teredo never does."""
    for public in ("93.184.215.14", "2606:4700::6810:84e5", "::ffff:8.8.8.8", "64:ff9b::808:808"):
        assert blocked_reason(ipaddress.ip_address(public)) is None, public
    for private in ("::127.0.0.1", "::ffff:0:a00:1", "2001:0:4136:e378:8000:63bf:3fff:fdd2"):
        assert blocked_reason(ipaddress.ip_address(private)) is not None, private


# -- DNS: the resolver's answers are judged, all of them, and the connection is pinned --------


def _resolver(answers: dict[str, list[str]]) -> Callable[[str, int], Any]:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    return resolve


async def test_a_name_that_resolves_to_a_private_address_is_refused() -> None:
    """evil.example -> 10.0.0.5: refused, and the message names what it resolved to."""
    fetch = make_http_fetch(resolver=_resolver({"evil.example": ["10.0.0.5"]}))
    error = await _refusal(fetch, "http://evil.example/")
    assert error.error_code == "url_refused"
    assert "evil.example resolves to 10.0.0.5" in error.message


async def test_one_private_answer_among_public_ones_is_enough_to_refuse() -> None:
    """A public first answer does not launder a private second one."""
    resolve = _resolver({"mixed.example": ["93.184.215.14", "2606:4700::1", "192.168.0.7"]})
    error = await _refusal(make_http_fetch(resolver=resolve), "https://mixed.example/")
    assert "192.168.0.7" in error.message and "private" in error.message


async def test_idna_and_trailing_dot_names_are_resolved_as_their_ascii_form() -> None:
    """A Unicode name is resolved as the IDNA name httpx sends; a trailing dot is the same name."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["10.1.2.3"]

    fetch = make_http_fetch(resolver=resolve)
    await _refusal(fetch, "http://bücher.example./")
    assert asked == ["xn--bcher-kva.example"]


async def test_a_blocking_resolver_runs_off_the_event_loop() -> None:
    """A plain function resolver is called in a worker thread, not on the loop's thread."""
    threads: list[int] = []

    def blocking(host: str, port: int) -> list[str]:
        threads.append(threading.get_ident())
        return ["192.168.7.7"]

    error = await _refusal(make_http_fetch(resolver=blocking), "https://printer.example/")
    assert "192.168.7.7" in error.message
    assert threads and threads[0] != threading.get_ident()


async def test_an_unknown_name_is_a_structured_error() -> None:
    """A name that does not resolve is host_not_found, not an exception."""
    error = await _refusal(make_http_fetch(resolver=_resolver({})), "http://nowhere.example/")
    assert error.error_code == "host_not_found"


async def test_dns_rebinding_cannot_move_the_connection(
    server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name is resolved once; the request goes to that address, never to a later answer.

    The resolver answers the allowlisted 127.0.0.1 at check time and the metadata address
    afterwards. The request still reaches the local server, carries the original name in
    ``Host``, and neither the resolver nor the OS is asked about the name again.
    """
    answers = iter([["127.0.0.1"], ["169.254.169.254"], ["169.254.169.254"]])
    asked: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return next(answers)

    os_asked: list[Any] = []
    real_getaddrinfo = socket.getaddrinfo

    def spy(host: Any, *args: Any, **kwargs: Any) -> Any:
        os_asked.append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", spy)
    fetch = make_http_fetch(allow=["127.0.0.1/32"], resolver=rebinding)
    port = server.server_address[1]
    result = await fetch(f"http://rebind.example:{port}/hello")
    assert result["status"] == 200 and result["text"] == "hello"
    assert result["url"] == f"http://rebind.example:{port}/hello"
    assert asked == ["rebind.example"]
    assert "rebind.example" not in os_asked
    (request,) = server.requests
    assert request["host"] == f"rebind.example:{port}"
    assert request["local"] == "127.0.0.1"
    # The next fetch asks again, gets the metadata address, and is refused.
    error = await _refusal(fetch, f"http://rebind.example:{port}/hello")
    assert "169.254.169.254" in error.message
    assert len(server.requests) == 1


# -- a successful fetch, and what it returns ---------------------------------------------------


async def test_fetch_returns_text_and_only_harmless_headers(
    server: _Server, local: ToolContract
) -> None:
    """Set-Cookie, tokens and auth challenges are stripped; the request sends no credentials."""
    result = await local(_url(server, "/hello"))
    assert result["status"] == 200
    assert result["text"] == "hello"
    assert result["truncated"] is False
    assert result["content_type"] == "text/plain; charset=utf-8"
    headers = result["headers"]
    assert "set-cookie" not in headers
    assert "x-api-token" not in headers
    assert "www-authenticate" not in headers
    assert headers["etag"] == '"v1"'
    assert "secret" not in json.dumps(result) and "t0ken" not in json.dumps(result)
    (request,) = server.requests
    assert request["user_agent"] == "tether-http-fetch/1"
    assert request["cookie"] is None and request["authorization"] is None


async def test_a_redirect_set_cookie_is_not_sent_to_the_next_hop(
    server: _Server, local: ToolContract
) -> None:
    """Cookies set during redirects are never replayed (no cookie jar across hops)."""
    result = await local(_url(server, "/redirect?/hello"))
    assert result["text"] == "hello"
    assert result["redirected_from"] == [_url(server, "/redirect?/hello")]
    assert [r["cookie"] for r in server.requests] == [None, None]


async def test_charset_is_honoured_and_binary_is_described(
    server: _Server, local: ToolContract
) -> None:
    """Text decodes with its declared charset; a binary body is summarised, not dumped."""
    assert (await local(_url(server, "/latin1")))["text"] == "café"
    png = await local(_url(server, "/png"))
    assert "text" not in png
    assert png["bytes"] == 108 and "binary body (image/png, 108 bytes)" in png["note"]


@pytest.mark.parametrize(
    "charset",
    ["base64", "zlib", "hex", "rot13", "idna", "punycode", "undefined", "unicode_escape", "x-nope"],
)
async def test_fetch_a_charset_that_is_no_text_encoding_decodes_as_utf8(
    server: _Server, local: ToolContract, charset: str
) -> None:
    """A hostile or odd charset (codecs.lookup also knows base64 and zlib) is an answer,
    decoded as UTF-8 with a note, not an exception that gets the fetch run again."""
    result = await local(_url(server, f"/charset?{charset}"))
    assert result["text"] == "QUJD"
    assert f"charset {charset!r} is not a text encoding" in result["note"]


async def test_http_errors_are_results_and_overload_is_retryable(
    server: _Server, local: ToolContract
) -> None:
    """A 404 is information for the model; a 503 is a retryable error."""
    missing = await local(_url(server, "/missing"))
    assert (missing["status"], missing["text"]) == (404, "no such page")
    error = await _refusal(local, _url(server, "/busy"))
    assert (error.error_code, error.retryable) == ("upstream_unavailable", True)


# -- redirects ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/iam",
        "http://[::1]:{port}/hello",
        "http://localhost:{port}/hello",
        "file:///etc/passwd",
        "http://internal.example/",
    ],
)
async def test_a_redirect_to_a_private_address_is_refused_at_the_hop(
    server: _Server, location: str
) -> None:
    """The allowlisted server may redirect, but each hop is checked again."""
    port = server.server_address[1]
    resolve = _resolver({"internal.example": ["10.9.9.9"], "localhost": ["127.0.0.1"]})
    fetch = make_http_fetch(allow=["127.0.0.1/32"], resolver=resolve)
    error = await _refusal(fetch, _url(server, "/redirect?" + location.format(port=port)))
    assert error.error_code == "url_refused"
    assert error.message.startswith("redirect to ")
    assert len(server.requests) == 1  # the hop itself was never requested


@pytest.mark.parametrize(
    "location", ["http:127.0.0.2:1/", "http://[::1", "http://127.0.0.1:99999/"]
)
async def test_fetch_a_redirect_httpx_cannot_follow_is_refused_not_retried(
    server: _Server, local: ToolContract, location: str
) -> None:
    """A Location httpx itself cannot make a URL of, or a port beyond 65535, is a url_refused
    at the hop, not a raw InvalidURL/OverflowError or a retryable fetch_failed."""
    error = await _refusal(local, _url(server, "/redirect?" + location))
    assert (error.error_code, error.retryable) == ("url_refused", False)
    assert error.message.startswith("redirect ")
    assert len(server.requests) == 1


async def test_fetch_a_port_beyond_65535_is_refused_even_when_allowlisted(
    local: ToolContract,
) -> None:
    """httpx accepts any port number; the tool refuses one TCP does not have."""
    error = await _refusal(local, "http://127.0.0.1:99999/")
    assert (error.error_code, error.message) == (
        "url_refused",
        "port 99999 refused: not a TCP port",
    )


async def test_a_relative_redirect_is_followed_and_reported(
    server: _Server, local: ToolContract
) -> None:
    """A relative Location resolves against the current URL and is checked like any hop."""
    result = await local(_url(server, "/redirect?../hello"))
    assert (result["url"], result["text"]) == (_url(server, "/hello"), "hello")


async def test_redirects_are_bounded(server: _Server) -> None:
    """A redirect loop stops at max_redirects with its own error code."""
    fetch = make_http_fetch(allow=["127.0.0.1/32"], max_redirects=3)
    error = await _refusal(fetch, _url(server, "/loop"))
    assert error.error_code == "too_many_redirects"
    assert len(server.requests) == 4


# -- limits -----------------------------------------------------------------------------------


async def test_a_huge_body_is_cut_at_max_bytes_without_reading_it_all(server: _Server) -> None:
    """50 MB offered, 100 kB read: the connection closes and the server stops sending."""
    fetch = make_http_fetch(allow=["127.0.0.1/32"], max_bytes=100_000, summary_chars=1_000)
    result = await fetch(_url(server, "/big"))
    assert result["truncated"] is True
    assert result["bytes"] == 100_000
    assert result["text"] == "x" * 1_000
    assert "cut at max_bytes=100000" in result["note"]
    assert "showing the first 1000 of 100000 characters" in result["note"]
    assert server.big_done.wait(20)
    assert server.big_sent < BIG // 2


async def test_a_gzip_bomb_is_cut_at_max_bytes_after_decompression(server: _Server) -> None:
    """20 MB of zeros in a 20 kB gzip: inflated only up to max_bytes."""
    fetch = make_http_fetch(allow=["127.0.0.1/32"], max_bytes=50_000)
    result = await fetch(_url(server, "/gzip-bomb"))
    assert (result["truncated"], result["bytes"]) == (True, 50_000)


async def test_a_stalled_server_is_a_retryable_timeout(server: _Server) -> None:
    """A server that never answers ends in fetch_timeout, which the executor may retry."""
    fetch = make_http_fetch(allow=["127.0.0.1/32"], timeout=0.3)
    error = await _refusal(fetch, _url(server, "/stall"))
    assert (error.error_code, error.retryable) == ("fetch_timeout", True)


async def test_connection_refused_is_a_retryable_network_error() -> None:
    """Nothing listening: fetch_failed, retryable."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fetch = make_http_fetch(allow=["127.0.0.1/32"])
    error = await _refusal(fetch, f"http://127.0.0.1:{port}/")
    assert (error.error_code, error.retryable) == ("fetch_failed", True)


class _Blobs:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    async def put_blob(self, key: str, data: bytes) -> None:
        self.blobs[key] = data


async def test_a_long_body_is_a_summary_plus_an_artifact_handle(server: _Server) -> None:
    """With an artifact store, the whole body is kept and the result names its handle."""
    blobs = _Blobs()
    fetch = make_http_fetch(allow=["127.0.0.1/32"], summary_chars=100, artifacts=blobs)
    result = await fetch(_url(server, "/long"))
    assert result["text"] == ("abcdefghij" * 10)
    assert result["truncated"] is False and result["bytes"] == 50_000
    assert blobs.blobs[result["artifact"]] == b"abcdefghij" * 5000
    assert result["artifact"].startswith("artifact:sha256:")
    without = await make_http_fetch(allow=["127.0.0.1/32"], summary_chars=100)(
        _url(server, "/long")
    )
    assert "artifact" not in without
    assert "no artifact store" in without["note"]


# -- allowlist and ports -------------------------------------------------------------------------


async def test_allowlisted_names_may_be_private_and_use_any_port(server: _Server) -> None:
    """A host name on the list may resolve to a private address; others may not."""
    resolve = _resolver({"api.internal": ["127.0.0.1"], "other.internal": ["127.0.0.1"]})
    fetch = make_http_fetch(allow=["*.internal", "wiki.corp"], resolver=resolve)
    port = server.server_address[1]
    assert (await fetch(f"http://api.internal:{port}/hello"))["text"] == "hello"
    fetch_one = make_http_fetch(allow=["api.internal"], resolver=resolve)
    error = await _refusal(fetch_one, f"http://other.internal:{port}/hello")
    assert "loopback" in error.message


async def test_an_allowlisted_network_does_not_open_its_neighbours(server: _Server) -> None:
    """127.0.0.1/32 is allowed; 127.0.0.2 is still loopback and refused."""
    fetch = make_http_fetch(allow=["127.0.0.1/32"])
    error = await _refusal(fetch, f"http://127.0.0.2:{server.server_address[1]}/")
    assert "loopback" in error.message


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "fd00:ec2::254",
        "100.100.100.200",
        "168.63.129.16",
        "169.254.170.2",
        "fd00:ec2::23",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
    ],
)
async def test_fetch_an_allowlisted_name_never_reaches_a_metadata_address(
    connects: list[tuple[str, list[str]]], address: str
) -> None:
    """*.corp.example opens private networks, but a name under it that resolves to the
    metadata service (or an IPv6 form of it) is refused, on the default port or any other."""
    resolve = _resolver({"build.corp.example": [address]})
    fetch = make_http_fetch(allow=["*.corp.example"], resolver=resolve)
    for url in ("http://build.corp.example/latest/meta-data/", "http://build.corp.example:81/"):
        error = await _refusal(fetch, url)
        assert (error.error_code, error.retryable) == ("url_refused", False)
        assert "metadata" in error.message and "entry naming that address" in error.message
    assert connects == []


async def test_fetch_only_a_network_entry_opens_a_metadata_address(
    connects: list[tuple[str, list[str]]],
) -> None:
    """The allowlist keeps its meaning: a name reaches private addresses, and a network
    entry holding a metadata address opens it, for names and literals alike."""
    resolve = _resolver(
        {"build.corp.example": ["10.1.2.3"], "meta.corp.example": ["169.254.169.254"]}
    )
    names = make_http_fetch(allow=["*.corp.example"], resolver=resolve)
    await _refusal(names, "http://build.corp.example:8080/")
    both = make_http_fetch(allow=["*.corp.example", "169.254.169.254/32"], resolver=resolve)
    await _refusal(both, "http://meta.corp.example/latest/")
    await _refusal(both, "http://169.254.169.254:8080/latest/")
    assert connects == [
        ("http://build.corp.example:8080/", ["10.1.2.3"]),
        ("http://meta.corp.example/latest/", ["169.254.169.254"]),
        ("http://169.254.169.254:8080/latest/", ["169.254.169.254"]),
    ]


@pytest.mark.parametrize(
    ("entry", "url"),
    [
        ("100.64.0.0/10", "http://100.100.100.200/latest/meta-data/"),
        ("169.254.0.0/16", "http://169.254.169.254/latest/meta-data/"),
        ("fc00::/7", "http://[fd00:ec2::254]/latest/meta-data/"),
    ],
)
async def test_fetch_a_range_holding_a_metadata_address_does_not_open_it(
    connects: list[tuple[str, list[str]]], entry: str, url: str
) -> None:
    """A range allowlisted for internal services (a CGNAT or ULA range) is not an entry
    naming the metadata address: it stays refused, and the range's other hosts open."""
    fetch = make_http_fetch(allow=[entry])
    refused = await _refusal(fetch, url)
    assert "metadata" in str(refused)
    assert connects == []


def test_bad_options_fail_when_the_tool_is_built() -> None:
    """A mistyped allowlist or limit is a definition error, not a silent open door."""
    for kwargs in (
        {"allow": "10.0.0.0/8"},
        {"allow": ["not a host!"]},
        {"allow": ["1.2.3"]},
        {"max_bytes": 0},
        {"timeout": 0},
        {"max_redirects": -1},
        {"ports": [0]},
    ):
        with pytest.raises(AgentDefinitionError):
            make_http_fetch(**kwargs)


# -- TLS: connect to the checked IP, verify the certificate against the name -------------------


def _certificates(tmp_path: Path, name: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a leaf certificate for ``name``: (ca.pem, leaf.pem, leaf.key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def build(subject: str, issuer: Any, key: Any, signer: Any, *, ca: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tether test CA")])
    ca = build("tether test CA", ca_name, ca_key, ca_key, ca=True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = build(name, ca_name, leaf_key, ca_key, ca=False)
    paths = (tmp_path / "ca.pem", tmp_path / "leaf.pem", tmp_path / "leaf.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[_Server, ssl.SSLContext]]:
    ca, leaf, key = _certificates(tmp_path, "secure.example")
    server = _Server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(leaf, key)

    def record_sni(sock: Any, name: str | None, ctx: Any) -> None:
        server.sni.append(name)

    context.sni_callback = record_sni
    server.socket = context.wrap_socket(server.socket, server_side=True)
    client = ssl.create_default_context(cafile=str(ca))
    yield from ((s, client) for s in _serve(server))


async def test_https_is_pinned_to_the_ip_but_verified_against_the_name(
    tls_server: tuple[_Server, ssl.SSLContext],
) -> None:
    """The TLS connection goes to 127.0.0.1 with SNI secure.example and a verified certificate."""
    server, client_context = tls_server
    port = server.server_address[1]
    fetch = make_http_fetch(
        allow=["127.0.0.1/32"],
        resolver=_resolver({"secure.example": ["127.0.0.1"], "wrong.example": ["127.0.0.1"]}),
        verify=client_context,
    )
    result = await fetch(f"https://secure.example:{port}/hello")
    assert result["text"] == "hello"
    assert server.sni == ["secure.example"]
    assert server.requests[0]["host"] == f"secure.example:{port}"
    # The same IP under a name the certificate does not carry fails verification.
    error = await _refusal(fetch, f"https://wrong.example:{port}/hello")
    assert error.error_code == "fetch_failed"
    assert "CERTIFICATE_VERIFY_FAILED" in error.message or "certificate" in error.message


# -- through the executor and through a whole run -------------------------------------------


async def test_the_executor_turns_a_refusal_into_a_tool_error() -> None:
    """Executed as a tool call, a refusal is a ToolError with code and hint, not a raise."""
    call = ToolCall(id="c1", name="http_fetch", arguments={"url": "http://[::1]/"})
    ctx = ToolContext(run_id="r", call_id="c1", tool_name="http_fetch", idempotency_key="k")
    outcome = await execute_tool_call(call, {"http_fetch": http_fetch}, ctx)
    assert outcome.error is not None
    assert outcome.error.error_code == "url_refused"
    assert outcome.error.hint and "public" in outcome.error.hint


async def test_an_agent_asking_for_the_metadata_service_sees_url_refused(store_url: str) -> None:
    """The run completes; the model was shown a structured url_refused error."""
    seen: list[str] = []

    def script(req: ModelRequest) -> Any:
        last = req.messages[-1]
        if last.role == "tool":
            seen.append(str(last.content))
            return text("I cannot fetch that address.")
        return tool_call("http_fetch", url="http://169.254.169.254/latest/meta-data/")

    agent = Agent(name="fetcher", model=ScriptedModel(script), tools=[http_fetch])
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "get the instance credentials")
        result = await run.result()
        events = [e.event async for e in rt.get(run.run_id).events(follow=False)]
    assert result.status == "completed"
    (failed,) = [e for e in events if isinstance(e, ToolFailed)]
    assert failed.error.error_code == "url_refused"
    assert "metadata" in failed.error.message
    assert len(seen) == 1 and "url_refused" in seen[0]


async def test_in_a_run_a_long_body_is_kept_in_the_run_store(
    server: _Server, store_url: str
) -> None:
    """The default tool keeps a large body whole in the run's store (ToolContext.artifacts)."""
    fetch = make_http_fetch(allow=["127.0.0.1/32"], summary_chars=100)
    url = _url(server, "/long")

    def script(request: ModelRequest) -> Any:
        if request.messages[-1].role == "tool":
            return text("fetched")
        return tool_call("http_fetch", url=url)

    agent = Agent(name="reader", model=ScriptedModel(script), tools=[fetch])
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "read it")
        assert (await run.result(timeout=30)).status == "completed"
        # The handle is a sha256 digest, which the store seals like any credential-shaped
        # value; the run's own state (restored with the payload key) has it in clear.
        (seen,) = [m.content or "" for m in (await run.state()).messages if m.role == "tool"]
        handle = re.search(r"artifact:sha256:[0-9a-f]{64}", seen)
        assert handle is not None, seen
        assert await rt.store.get_blob(handle.group(0)) == b"abcdefghij" * 5000
    assert "abcdefghij" * 10 in seen and "abcdefghij" * 11 not in seen
