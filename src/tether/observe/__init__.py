"""Observability: redaction of secrets before anything is persisted or exported.

:class:`Redactor` scrubs events, traces and text by sensitive field name, by credential
shape and by the exact values the secrets broker handed out.
"""

from tether.observe._redact import DEFAULT_FIELDS, DEFAULT_PATTERNS, Redactor, SecretPattern

__all__ = [
    "DEFAULT_FIELDS",
    "DEFAULT_PATTERNS",
    "Redactor",
    "SecretPattern",
]
