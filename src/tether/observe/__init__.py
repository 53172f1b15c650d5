"""Observability: redaction and sealing of secrets before anything leaves the process.

:class:`Redactor` scrubs events, traces and text by sensitive field name, by credential
shape and by the exact values the secrets broker handed out (also hex-, base64- and
percent-encoded). :meth:`Redactor.seal` stores what must stay executable as
``$sealed`` markers encrypted by a :class:`PayloadCodec` (:class:`AESGCMCodec`), which
:func:`unseal` turns back into the exact original values.
"""

from tether.observe._codec import (
    KEY_ENV,
    AESGCMCodec,
    PayloadCodec,
    UnrecoverableValueError,
    has_unrecoverable,
    unseal,
)
from tether.observe._redact import (
    DEFAULT_FIELDS,
    DEFAULT_PATTERNS,
    DEFAULT_STRUCTURAL_KEYS,
    OFFLOAD_BYTES,
    Redactor,
    SecretPattern,
)

__all__ = [
    "DEFAULT_FIELDS",
    "DEFAULT_PATTERNS",
    "DEFAULT_STRUCTURAL_KEYS",
    "KEY_ENV",
    "OFFLOAD_BYTES",
    "AESGCMCodec",
    "PayloadCodec",
    "Redactor",
    "SecretPattern",
    "UnrecoverableValueError",
    "has_unrecoverable",
    "unseal",
]
