"""Endpoint URLs as they may be shown: in a model id, and so in events, metrics and traces.

A model id (``openai:<model>@<base_url>``) is a structural value: the store keeps it in
clear (``model.failed``'s ``model``), it becomes a Prometheus label and a span attribute.
So it is built from :func:`safe_endpoint_url`, never from the URL as given; the URL as
given is still the one requests go to.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["safe_endpoint_url", "safe_model_spec"]

_SECRET_PARAM = re.compile(r"(?i)(?:pass|pwd|secret|token|key|sig|auth|credential|session)")
"""Query options whose value is masked (``api_key``, ``key``, ``token``, ``access_token``,
``secret``, ``password``, ``sig``, ``signature``, ``auth``...)."""

_MASK = "***"
_UNSHOWN = "<endpoint URL>"


def safe_endpoint_url(url: str) -> str:
    """``url`` as it may be shown: without its userinfo (``user:password@``, or a token
    given as the user) and with the value of a secret-looking query option masked
    (``?api_key=***``). A URL that cannot be taken apart shows as ``<endpoint URL>``;
    one with an ``@`` outside its userinfo (a password holding ``/``, ``?`` or ``#``)
    shows only its scheme, host and port."""
    try:
        parts = urlsplit(url)
        port = parts.port  # a password holding "/" leaves "user:pa" as the netloc
    except ValueError:
        return _UNSHOWN
    if not parts.netloc:
        return _UNSHOWN if "@" in url else url  # no host to show ("user:pw@host/v1")
    host = parts.netloc.rpartition("@")[2]
    if "@" in parts.path or "@" in parts.query or "@" in parts.fragment:
        # An "@" left after the host: part of a password may be in the path or query.
        shown = parts.hostname or ""
        if ":" in shown:
            shown = f"[{shown}]"
        if port is not None:
            shown = f"{shown}:{port}"
        return f"{parts.scheme}://{shown}/..." if parts.scheme else _UNSHOWN
    query = parts.query
    if query:
        pairs = []
        for pair in query.split("&"):
            name, eq, _ = pair.partition("=")
            secret = eq and _SECRET_PARAM.search(unquote(name))
            pairs.append(f"{name}={_MASK}" if secret else pair)
        query = "&".join(pairs)
    if host == parts.netloc and query == parts.query:
        return url  # nothing to hide (and the URL keeps its exact spelling)
    return urlunsplit(parts._replace(netloc=host, query=query))


def safe_model_spec(spec: str) -> str:
    """A model id string (``openai:<model>@<base_url>``) as it may be shown: its base
    URL through :func:`safe_endpoint_url`."""
    head, at, base_url = spec.partition("@")
    return f"{head}@{safe_endpoint_url(base_url)}" if at and base_url else spec
