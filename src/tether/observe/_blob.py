"""What of a large blob (a tool's artifact) may go into the store: kept, sealed or redacted.

The store holds what leaves the process, so a blob a tool keeps there gets what the run's
events get: one the redactor finds nothing in is kept as it is; one it does (text as
given, a binary blob read as UTF-8 text) is kept sealed, the JSON marker
``{"$sealed": ..., "kid": ...}`` whose :func:`~tether.observe.unseal` is the blob in
base64, or, without a payload codec, as text with the secrets redacted. A binary blob
that may hold a secret is not kept without a codec: redacting bytes would corrupt them.
"""

from __future__ import annotations

import base64
import json

from tether.observe._codec import PayloadCodec, sealed_marker
from tether.observe._redact import Redactor


def keep_blob(
    body: bytes, redactor: Redactor, codec: PayloadCodec | None, *, text: str | None = None
) -> tuple[bytes | None, str | None]:
    """What of ``body`` may be stored, and a note when it is not ``body`` itself.

    ``text`` is the body decoded by its own charset (``None``: read it as UTF-8). Returns
    ``(None, note)`` for a binary body that may hold a secret and no codec to seal it.
    Linear in the body and synchronous: run a large one in a worker thread.
    """
    shown = text if text is not None else body.decode("utf-8", "replace")
    redacted = redactor.redact_text(shown)
    if redacted is shown or redacted == shown:
        return body, None
    if codec is not None:
        marker = sealed_marker(base64.b64encode(body).decode("ascii"), codec, "artifact")
        kept = json.dumps(marker, separators=(",", ":")).encode()
        return kept, "the full body may hold credentials, so it was kept sealed"
    if text is not None:
        return redacted.encode("utf-8", "surrogatepass"), (
            "the full body may hold credentials: it was kept with them redacted, as UTF-8"
        )
    return None, (
        "the full body was not kept: it may hold credentials and no payload key is "
        "configured to seal it"
    )
