"""Store URLs as they may be shown: in messages, logs, the CLI and the API."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_SECRET_PARAM = re.compile(r"(?i)(?:pass|secret|token|key)")
"""Query options whose value is masked in :func:`safe_store_url` (libpq's ``password``,
``sslpassword``; ``sslkey`` is a path, masked all the same)."""


def safe_store_url(url: str) -> str:
    """``url`` as it may be shown (messages, logs, the CLI, the API): without the password
    in ``user:password@`` nor the value of a query option such as ``?password=``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL one can take apart: show none of it
        return "<store URL>"
    netloc = parts.netloc
    if password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:***@{host}"
    query = parts.query
    if query:
        pairs = []
        for pair in query.split("&"):
            name, eq, _ = pair.partition("=")
            pairs.append(f"{name}=***" if eq and _SECRET_PARAM.search(name) else pair)
        query = "&".join(pairs)
    if netloc == parts.netloc and query == parts.query:
        return url  # nothing to hide (urlunsplit would also rewrite sqlite:/// as sqlite:/)
    return urlunsplit(parts._replace(netloc=netloc, query=query))
