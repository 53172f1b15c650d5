"""``http_fetch``: a ready tool that fetches a URL without becoming an SSRF proxy.

A model that can name any URL can aim the runtime at the machine it runs on, the
private network around it and the cloud metadata service. So the tool decides where it
connects before it connects, and connects only there:

1. The URL is parsed once, as httpx parses it. Only ``http`` and ``https``; no
   credentials in the URL; ports 80 and 443 unless the destination is allowlisted.
2. The host becomes addresses *here*: every numeric spelling the C resolver accepts
   (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``, IPv6 literals) is parsed
   locally the way ``inet_aton`` does, and a name goes to the resolver (injectable;
   ``getaddrinfo`` off the event loop by default). If ANY address is loopback,
   link-local, private, CGNAT, multicast, reserved, documentation, unspecified, a cloud
   metadata address, or an IPv6 form embedding one of those (IPv4-mapped, -compatible,
   -translated, NAT64, 6to4, Teredo), the URL is refused, unless allowlisted. An
   allowlisted name still never reaches a metadata address, nor does a range that
   holds one; only an entry naming that one address opens it.
3. The request goes to the checked IP literal: the OS never resolves the name again, so
   an answer that changes after the check (DNS rebinding) is never used. The original
   name travels in the ``Host`` header and as the TLS SNI name (httpcore's
   ``sni_hostname`` extension), against which the certificate is verified.
4. Redirects are followed by hand, each hop checked and pinned again; the count is
   bounded. Environment proxies, ``.netrc`` and cookies are never used.
5. The body is streamed and cut at ``max_bytes`` (also after decompression), the whole
   fetch has one deadline, and only a short allowlist of response headers comes back.
6. A body kept whole as an artifact (it is too long to show, or binary) goes into the
   store like everything else there: sealed by the payload codec when it holds
   something the redactor finds (a key, a ``password=`` line), or, without a codec,
   with those values redacted (a binary body that may hold one is then not kept).

Every refusal is a :class:`ToolCallError` with code ``url_refused`` and a hint the
model can act on; network failures and timeouts are retryable tool errors.
"""

from __future__ import annotations

import asyncio
import codecs
import contextvars
import hashlib
import inspect
import ipaddress
import os
import socket
import ssl
import zlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from tether.exceptions import AgentDefinitionError
from tether.observe import (
    KEY_ENV,
    OFFLOAD_BYTES,
    AESGCMCodec,
    PayloadCodec,
    Redactor,
    keep_blob,
)
from tether.tools._contract import RetryPolicy, ToolContext, ToolContract, tool
from tether.tools._errors import ToolCallError
from tether.tools._fetch_address import (
    HOST_NAME,
    Allowlist,
    IPAddress,
    blocked_reason,
    literal_address,
    metadata_address,
    parse_ipv4_loose,
)

if TYPE_CHECKING:
    import httpx

Resolver = Callable[[str, int], Awaitable[Sequence[str]] | Sequence[str]]
"""``(host, port) -> addresses``: the text of every address the name resolves to."""

USER_AGENT = "tether-http-fetch/1"
REFUSED = "url_refused"
DEFAULT_PORTS = (80, 443)

_HINT_REFUSED = (
    "Only public http(s) URLs can be fetched. Do not retry this URL or another spelling "
    "of the same address; ask the user for a public URL or tell them it cannot be fetched."
)
# Response headers worth showing the model. Everything else (set-cookie, auth
# challenges, tokens, internal routing headers) is dropped: an allowlist, not a denylist.
_KEPT_HEADERS = frozenset(
    {
        "cache-control",
        "content-disposition",
        "content-language",
        "content-length",
        "content-type",
        "date",
        "etag",
        "expires",
        "last-modified",
        "retry-after",
    }
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_UNAVAILABLE = frozenset({429, 502, 503, 504})
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/xhtml")
_TEXT_SUFFIXES = ("+json", "+xml")
# Text codecs (by ``CodecInfo.name``) no web page is written in, refused as charsets:
# idna and undefined fail whatever the error handler, punycode decodes in quadratic time
# (a 1 MB body would hold the event loop for minutes) and the escape codecs warn on
# ordinary backslashes.
_UNFIT_CHARSETS = frozenset(
    {"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape"}
)


class ArtifactSink(Protocol):
    """Where a large body is kept whole: anything with ``put_blob``, e.g. a Tether store."""

    async def put_blob(self, key: str, data: bytes) -> None: ...


_RUN_SINK: contextvars.ContextVar[ArtifactSink | None] = contextvars.ContextVar(
    "tether_fetch_artifacts", default=None
)
"""The calling run's artifact sink (``ToolContext.artifacts``), for the call in progress."""


def _refused(message: str, hint: str = _HINT_REFUSED) -> ToolCallError:
    return ToolCallError(message, error_code=REFUSED, hint=hint)


async def _system_resolver(host: str, port: int) -> list[str]:
    """``getaddrinfo`` through the event loop (a worker thread): never blocks the loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


# -- the fetcher ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    url: httpx.URL
    sni: str  # the name TLS sends and verifies the certificate against
    port: int
    addresses: tuple[IPAddress, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Fetcher:
    allow: Allowlist
    ports: frozenset[int]
    max_bytes: int
    timeout: float
    max_redirects: int
    summary_chars: int
    resolver: Resolver
    verify: ssl.SSLContext | bool
    artifacts: ArtifactSink | None
    redactor: Redactor | None = None
    codec: PayloadCodec | Literal["auto"] | None = "auto"

    async def fetch(self, url: str) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self.timeout):
                return await self._follow(url)
        except TimeoutError:
            raise ToolCallError(
                f"fetching {url} took longer than {self.timeout:g} s",
                retryable=True,
                error_code="fetch_timeout",
                hint="The site is slow or not answering; try again later or another source.",
            ) from None

    async def _follow(self, url: str) -> dict[str, Any]:
        import httpx  # lazily: importing tether stays fast

        visited: list[str] = []
        current = self._parse(url)
        while True:
            try:
                target = await self._check(current)
            except ToolCallError as exc:
                if visited and exc.error_code == REFUSED:
                    raise _refused(f"redirect to {current} refused: {exc.message}") from None
                raise
            async with self._client(target) as client:
                response = await self._send(client, target)
                try:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECTS and location:
                        if len(visited) >= self.max_redirects:
                            raise ToolCallError(
                                f"more than {self.max_redirects} redirects from {url}",
                                error_code="too_many_redirects",
                                hint="The site redirects in a loop; try its final address.",
                            )
                        visited.append(str(current))
                        try:
                            current = self._parse(location, base=current)
                        except ToolCallError as exc:
                            message = f"redirect to {location!r} refused: {exc.message}"
                            raise _refused(message) from None
                        continue
                    if response.status_code in _UNAVAILABLE:
                        raise ToolCallError(
                            f"{current} answered {response.status_code}",
                            retryable=True,
                            error_code="upstream_unavailable",
                            hint="The site is busy or down; try again later.",
                        )
                    return await self._result(current, response, visited)
                except httpx.HTTPError as exc:
                    raise _network_error(str(current), exc) from None
                finally:
                    await response.aclose()

    def _parse(self, url: str, base: httpx.URL | None = None) -> httpx.URL:
        """The URL as httpx will send it (``url`` relative to ``base``), or a refusal."""
        import httpx

        try:
            parsed = httpx.URL(url) if base is None else base.join(url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise _refused(f"{url!r} is not a valid URL: {exc}{_meaning(url)}") from None
        if parsed.scheme not in ("http", "https"):
            raise _refused(f"scheme {parsed.scheme or '(none)'!r} refused: only http and https")
        if parsed.userinfo:
            raise _refused("URLs with credentials (user:password@) are refused")
        if not parsed.host:
            raise _refused(f"{url!r} has no host")
        return parsed.copy_with(fragment=None)

    async def _check(self, url: httpx.URL) -> _Target:
        """Resolve the host and judge every address; the target is pinned to them."""
        raw = url.raw_host.decode("ascii", "replace").lower()
        # One trailing dot is the absolute form of the same name ("localhost.").
        host = raw[:-1] if raw.endswith(".") and ":" not in raw else raw
        port = url.port if url.port is not None else 443 if url.scheme == "https" else 80
        if not 0 < port < 65536:  # httpx takes any number; connect() would raise OverflowError
            raise _refused(f"port {port} refused: not a TCP port")
        try:
            literal = literal_address(host)
        except ValueError as exc:
            raise _refused(str(exc)) from None
        if literal is None:
            if not HOST_NAME.match(host):
                raise _refused(f"host {host!r} is not a valid host name")
            # RFC 6761: these names are this machine, whatever a resolver says.
            is_local = host == "localhost" or host.endswith(".localhost")
            if is_local and not self.allow.has_name(host):
                raise _refused(f"host {host!r} is this machine (loopback)")
            addresses = await self._resolve(host, port)
        else:
            addresses = (literal,)
        name_allowed = literal is None and self.allow.has_name(host)
        for address in addresses:
            if self.allow.has_address(address):
                continue
            # An allowlisted name may reach private networks but not the metadata service:
            # one stale or hijacked record under "*.corp.example" must not hand out the
            # machine's credentials. Only an entry naming that one address opens it.
            metadata = metadata_address(address) is not None
            if name_allowed and not (metadata or address.is_unspecified or address.is_multicast):
                continue
            reason = blocked_reason(address)
            if reason is not None:
                if literal is None:
                    why = f"{host} resolves to {address}, which is {reason}"
                    if name_allowed and metadata:
                        why += (
                            " (an allowlisted name does not open it, only an entry naming "
                            "that address)"
                        )
                    raise _refused(why)
                spelled = "" if url.host == str(address) else f" ({address})"
                raise _refused(f"{url.host}{spelled} is {reason}")
        allowlisted = name_allowed or all(self.allow.has_address(a) for a in addresses)
        if port not in self.ports and not allowlisted:
            ports = ", ".join(str(p) for p in sorted(self.ports))
            raise _refused(f"port {port} refused: only {ports} for public hosts")
        # TLS names what the URL names; a literal is named by the address it means.
        sni = host if literal is None else str(literal)
        return _Target(url=url, sni=sni, port=port, addresses=addresses)

    async def _resolve(self, host: str, port: int) -> tuple[IPAddress, ...]:
        try:
            if inspect.iscoroutinefunction(self.resolver):
                found = await self.resolver(host, port)
            else:  # a blocking resolver (getaddrinfo-like) never runs on the event loop
                answer = await asyncio.to_thread(self.resolver, host, port)
                found = await answer if inspect.isawaitable(answer) else answer
        except socket.gaierror as exc:
            retry = exc.errno == socket.EAI_AGAIN
            raise ToolCallError(
                f"cannot resolve {host}: {exc.strerror or exc}",
                retryable=retry,
                error_code="host_not_found",
                hint=None if retry else "Check the spelling of the address.",
            ) from None
        except OSError as exc:
            raise ToolCallError(f"cannot resolve {host}: {exc}", retryable=True) from None
        addresses: list[IPAddress] = []
        for text in found:
            try:
                address = ipaddress.ip_address(str(text))
            except ValueError:
                raise _refused(f"{host} resolves to {text!r}, not an address") from None
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise ToolCallError(f"{host} has no addresses", error_code="host_not_found")
        return tuple(addresses)

    def _client(self, target: _Target) -> httpx.AsyncClient:
        import httpx

        return httpx.AsyncClient(
            verify=self.verify,
            trust_env=False,  # no proxy from the environment (it would bypass the pin), no .netrc
            follow_redirects=False,
            timeout=httpx.Timeout(self.timeout),
        )

    async def _send(self, client: httpx.AsyncClient, target: _Target) -> httpx.Response:
        """Send the GET to a checked address, trying the next one when a connect fails."""
        import httpx

        error: httpx.HTTPError | None = None
        netloc = target.url.netloc.decode("ascii")
        for address in target.addresses:
            pinned = target.url.copy_with(host=str(address))
            request = client.build_request(
                "GET",
                pinned,
                headers={
                    "Host": netloc,
                    "User-Agent": USER_AGENT,
                    "Accept": "text/html, text/plain, application/json, */*;q=0.5",
                    "Accept-Encoding": "identity",
                },
                # TLS names the original host: SNI and certificate verification use it.
                extensions={"sni_hostname": target.sni},
            )
            try:
                return await client.send(request, stream=True)
            except httpx.InvalidURL as exc:
                raise _invalid_location(target.url, exc) from None
            except httpx.ConnectError as exc:
                error = exc
            except httpx.RemoteProtocolError as exc:
                # httpx's own wording; if it ever changes, this stays a retryable error.
                if str(exc).startswith("Invalid URL in location header"):
                    raise _invalid_location(target.url, exc) from None
                raise _network_error(str(target.url), exc) from None
            except httpx.HTTPError as exc:
                raise _network_error(str(target.url), exc) from None
        assert error is not None
        raise _network_error(str(target.url), error)

    async def _result(
        self, url: httpx.URL, response: httpx.Response, visited: list[str]
    ) -> dict[str, Any]:
        content_type = response.headers.get("content-type", "")
        body, truncated = await self._read(response)
        result: dict[str, Any] = {"url": str(url), "status": response.status_code}
        if visited:
            result["redirected_from"] = visited
        result["content_type"] = content_type
        result["headers"] = {
            k.lower(): v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS
        }
        result["bytes"] = len(body)
        result["truncated"] = truncated
        notes: list[str] = []
        if truncated:
            notes.append(f"body cut at max_bytes={self.max_bytes}; the rest was not read")
        large = False
        result_text: str | None = None  # the whole text, for the artifact's scan
        if _is_text(content_type) or not content_type:
            text, charset_note = _decode(body, content_type)
            result_text = text
            if charset_note:
                notes.append(charset_note)
            if len(text) > self.summary_chars:
                large = True
                notes.append(f"showing the first {self.summary_chars} of {len(text)} characters")
                text = text[: self.summary_chars]
            result["text"] = text
        else:
            large = bool(body)
            notes.append(f"binary body ({content_type}, {len(body)} bytes) not shown")
        sink = self.artifacts if self.artifacts is not None else _RUN_SINK.get()
        if large and sink is not None:
            # Scanning (and sealing) a large body is linear but not free: off the loop.
            if len(body) > OFFLOAD_BYTES:
                kept, note = await asyncio.to_thread(self._keepable, body, result_text)
            else:
                kept, note = self._keepable(body, result_text)
            if note:
                notes.append(note)
            if kept is not None:
                handle = f"artifact:sha256:{hashlib.sha256(kept).hexdigest()}"
                await sink.put_blob(handle, kept)
                result["artifact"] = handle
        elif large:
            notes.append("no artifact store is configured, so the full body was not kept")
        if notes:
            result["note"] = "; ".join(notes)
        return result

    def _keepable(self, body: bytes, text: str | None) -> tuple[bytes | None, str | None]:
        """What of a large body may go into the store, and a note when it is not the body.

        The store holds what leaves the process, so the artifact gets what the run's
        events get: a body the redactor finds nothing in is kept as fetched; one it does
        (text as its charset reads it, a binary body as UTF-8 text) is kept sealed, the
        JSON marker ``{"$sealed": ..., "kid": ...}`` whose :func:`~tether.observe.unseal`
        is the body in base64, or, without a payload codec, as text with the secrets
        redacted. A binary body that may hold a secret is not kept without a codec:
        redacting bytes would corrupt them. ``text`` is the decoded text (``None``: binary).
        Linear in the body; synchronous (the caller runs a large one in a worker thread).
        """
        redactor = self.redactor if self.redactor is not None else _default_redactor()
        codec = _payload_codec() if self.codec == "auto" else self.codec
        return keep_blob(body, redactor, codec, text=text)

    async def _read(self, response: httpx.Response) -> tuple[bytes, bool]:
        """Stream up to ``max_bytes`` of (decoded) body and stop: the rest is never read."""
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        inflate: Any = None
        if encoding in ("gzip", "x-gzip", "deflate"):
            inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
        elif encoding not in ("identity", ""):
            raise ToolCallError(
                f"the body is {encoding}-encoded, which http_fetch does not decode",
                error_code="unsupported_encoding",
            )
        chunks: list[bytes] = []
        size = 0
        raw_size = 0
        async for raw in response.aiter_raw():
            raw_size += len(raw)
            if inflate is not None:
                try:
                    data = inflate.decompress(raw, self.max_bytes - size + 1)
                except zlib.error:
                    raise ToolCallError("the compressed body is corrupt") from None
            else:
                data = raw
            chunks.append(data)
            size += len(data)
            if size > self.max_bytes or raw_size > self.max_bytes:
                return b"".join(chunks)[: self.max_bytes], True
        return b"".join(chunks), False


_REDACTOR: Redactor | None = None


def _default_redactor() -> Redactor:
    """The redactor for artifacts when the tool was given none: default names and shapes."""
    global _REDACTOR
    if _REDACTOR is None:
        _REDACTOR = Redactor()
    return _REDACTOR


def _payload_codec() -> PayloadCodec | None:
    """``$TETHER_PAYLOAD_KEY`` as a codec, as the runtime reads it; ``None`` when unset."""
    if not os.environ.get(KEY_ENV, "").strip():
        return None
    return AESGCMCodec.from_env(KEY_ENV)


def _invalid_location(url: httpx.URL, exc: Exception) -> ToolCallError:
    """A redirect whose ``Location`` httpx cannot make a URL of, as a refusal.

    httpx works out a redirect's next URL inside ``send()`` even when it does not follow
    it, so a ``Location`` such as ``http:host/`` or ``http://[::1`` fails there (as
    ``InvalidURL`` or ``RemoteProtocolError``), before :meth:`_Fetcher._follow` sees it.
    Fetching again would meet the same answer, so it is not retryable.
    """
    return _refused(f"redirect from {url} refused: its Location is not a valid URL ({exc})")


def _meaning(url: str) -> str:
    """For a URL httpx rejects, what its host would mean to the C resolver, if it is bad."""
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    address = parse_ipv4_loose(host.rstrip("."))
    reason = blocked_reason(address) if address is not None else None
    return f" (its host means {address}, {reason})" if reason else ""


def _is_text(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith(_TEXT_TYPES) or media.endswith(_TEXT_SUFFIXES)


def _decode(body: bytes, content_type: str) -> tuple[str, str | None]:
    """The body as text in its declared charset, or as UTF-8 plus a note saying why not.

    ``codecs.lookup`` knows more than text charsets: ``base64`` or ``zlib`` are
    bytes-to-bytes and ``bytes.decode`` refuses them, so a server could otherwise turn a
    plain answer into an error. Those and the few text codecs no page is written in fall
    back to UTF-8 with replacement characters.
    """
    name = _declared_charset(content_type)
    if name is None:
        return body.decode("utf-8", errors="replace"), None
    try:
        codec: codecs.CodecInfo | None = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        codec = None
    if codec is not None and codec._is_text_encoding and codec.name not in _UNFIT_CHARSETS:
        try:
            return body.decode(codec.name, errors="replace"), None
        except ValueError:  # UnicodeError: a codec that ignores errors="replace"
            pass
    note = f"charset {name[:40]!r} is not a text encoding http_fetch decodes; decoded as utf-8"
    return body.decode("utf-8", errors="replace"), note


def _declared_charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'")
    return None


def _network_error(url: str, exc: httpx.HTTPError) -> ToolCallError:
    """A transport failure as a retryable tool error (timeouts keep their own code)."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return ToolCallError(
            f"fetching {url} timed out ({type(exc).__name__})",
            retryable=True,
            error_code="fetch_timeout",
            hint="The site is slow or not answering; try again later or another source.",
        )
    return ToolCallError(
        f"fetching {url} failed: {type(exc).__name__}: {exc}",
        retryable=True,
        error_code="fetch_failed",
        hint="The site could not be reached; try again later or another source.",
    )


def make_http_fetch(
    *,
    allow: Iterable[str] = (),
    ports: Iterable[int] = DEFAULT_PORTS,
    max_bytes: int = 1_000_000,
    timeout: float = 20.0,
    max_redirects: int = 5,
    summary_chars: int = 20_000,
    resolver: Resolver | None = None,
    verify: ssl.SSLContext | bool = True,
    artifacts: ArtifactSink | None = None,
    redactor: Redactor | None = None,
    codec: PayloadCodec | Literal["auto"] | None = "auto",
    name: str = "http_fetch",
) -> ToolContract:
    """Build an ``http_fetch`` tool with its own allowlist and limits.

    Args:
        allow: Networks (``"10.1.0.0/16"``, ``"127.0.0.1/32"``) or host names
            (``"api.internal"``, ``"*.corp.example"``) that may be fetched although
            private. An allowlisted destination may use any port; a name on the list may
            resolve to any unicast address except a cloud metadata address
            (169.254.169.254, 168.63.129.16, ...), which only an entry naming that one
            address opens (not a range holding it).
        ports: Ports public hosts may use (default 80 and 443).
        max_bytes: Most body bytes read (after decompression); the rest is never read.
        timeout: Seconds for the whole fetch, redirects included.
        max_redirects: Most redirects followed, each checked like the first URL.
        summary_chars: Most characters of text returned; a longer body is summarised.
        resolver: ``(host, port) -> [address, ...]``, sync or async (default:
            ``getaddrinfo`` in a worker thread). Numeric hosts never reach it.
        verify: TLS verification: ``True`` (system CAs), an ``ssl.SSLContext`` (e.g. a
            private CA for an internal API) or ``False``.
        artifacts: Keeps a large body whole (``put_blob``, e.g. a Tether store); the
            result carries its handle. Without one, the summary notes the body is not kept.
            A body holding something ``redactor`` finds is kept sealed with ``codec`` (or
            redacted; see the module docs); the handle is the SHA-256 of what is kept.
        redactor: Finds secrets in a body before it is kept (default: ``Redactor()``;
            pass the runtime's to include the values its secrets broker handed out).
        codec: Seals such a body (``"auto"``: ``$TETHER_PAYLOAD_KEY`` if set, else none,
            and the secrets are redacted instead). What the tool returns is unchanged.
        name: The tool's name.

    Raises:
        AgentDefinitionError: An option is invalid.
    """
    if type(max_bytes) is not int or max_bytes < 1:
        raise AgentDefinitionError(f"max_bytes must be a positive int, not {max_bytes!r}")
    if not timeout > 0:
        raise AgentDefinitionError(f"timeout must be a positive number, not {timeout!r}")
    if type(max_redirects) is not int or max_redirects < 0:
        raise AgentDefinitionError(f"max_redirects must be an int >= 0, not {max_redirects!r}")
    if type(summary_chars) is not int or summary_chars < 1:
        raise AgentDefinitionError(f"summary_chars must be a positive int, not {summary_chars!r}")
    port_set = frozenset(ports)
    if not all(type(p) is int and 0 < p < 65536 for p in port_set):
        raise AgentDefinitionError(f"ports must be TCP ports, not {sorted(port_set)!r}")
    fetcher = _Fetcher(
        allow=Allowlist.parse(allow),
        ports=port_set,
        max_bytes=max_bytes,
        timeout=float(timeout),
        max_redirects=max_redirects,
        summary_chars=summary_chars,
        resolver=resolver if resolver is not None else _system_resolver,
        verify=verify,
        artifacts=artifacts,
        redactor=redactor,
        codec=codec,
    )

    outside = ToolContext(run_id="", call_id="", tool_name=name, idempotency_key="")

    async def http_fetch(url: str, ctx: ToolContext = outside) -> dict[str, Any]:
        """Fetch a public web page or API by URL and return its status, headers and text.

        Local, private and cloud-metadata addresses are refused.

        Args:
            url: Absolute http:// or https:// URL.
        """
        # A large body is kept whole in the run's store unless the tool was built with
        # its own sink (make_http_fetch(artifacts=...)).
        token = _RUN_SINK.set(ctx.artifacts)
        try:
            return await fetcher.fetch(url)
        finally:
            _RUN_SINK.reset(token)

    return tool(
        name=name,
        effect="read",
        # Our own deadline fires first, as a structured fetch_timeout.
        timeout=float(timeout) + 5.0,
        retry=RetryPolicy(max_attempts=2),
        owner="tether",
    )(http_fetch)


http_fetch = make_http_fetch()
"""A ready ``http_fetch`` tool: public http(s) URLs only, 1 MB, 20 s, 5 redirects."""
