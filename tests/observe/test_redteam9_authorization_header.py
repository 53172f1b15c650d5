"""Red team 9 (probe leftover): an ``Authorization: Basic ...`` header in text was kept.

A request dump, ``curl -v`` output or a log line in a tool's output holds the header as
text, where only the field rules (``"Authorization": ...``, ``authorization=...``) and the
``Bearer`` shape (20 characters and up) looked: a Basic credential, base64 of
``user:password``, was stored as it was, and so was a short bearer or ``token`` value.
Now the credentials after an ``Authorization:`` header name and a known scheme go,
whatever their length; the scheme stays, and a header without a scheme or with a
placeholder is left alone.
"""

from __future__ import annotations

import base64
import json

import pytest

from tether.observe import Redactor

R = "[REDACTED]"
BASIC = base64.b64encode(b"admin:correct horse").decode()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Authorization: Basic {BASIC} done", f"Authorization: Basic {R} done"),
        (f"curl -H 'authorization: basic {BASIC}' x", f"curl -H 'authorization: basic {R}' x"),
        (
            f"Proxy-Authorization: Basic {BASIC}\r\nHost: a",
            f"Proxy-Authorization: Basic {R}\r\nHost: a",
        ),
        ("Authorization: Bearer abc123 ok", f"Authorization: Bearer {R} ok"),
        ("Authorization:token ghp_short1", f"Authorization:token {R}"),
    ],
)
def test_an_authorization_header_in_text_is_redacted(text: str, expected: str) -> None:
    redactor = Redactor()
    assert redactor.redact_text(text) == expected
    assert redactor.scan(text) and redactor.scan(json.dumps({"note": text}).encode())
    assert redactor.redact_value({"note": text}) == {"note": expected}


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: pending approval from legal",
        "Authorization: Bearer <YOUR_TOKEN>",
        "Authorization: token $GITHUB_TOKEN",
        "basic authorization is simple",
    ],
)
def test_a_header_without_credentials_is_left_alone(text: str) -> None:
    assert Redactor().redact_text(text) == text
