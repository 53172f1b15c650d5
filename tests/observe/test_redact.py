"""Redaction: secrets go by field name, by shape and by exact value; everything else stays."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from tether.engine._events import (
    RunStatusChanged,
    ToolCompleted,
    ToolStarted,
    decode_event,
    encode_event,
)
from tether.exceptions import ConfigError
from tether.observe import (
    DEFAULT_FIELDS,
    DEFAULT_PATTERNS,
    DEFAULT_STRUCTURAL_KEYS,
    OFFLOAD_BYTES,
    Redactor,
    SecretPattern,
)
from tether.policy._secrets import MappingSecrets, SecretBroker

R = "[REDACTED]"

# Fake credentials, assembled at run time so secret scanners do not flag this file.
OPENAI = "sk-" + "proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
ANTHROPIC = "sk-" + "ant-api03-" + "Zx9_Yw8-Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe"
STRIPE = "sk_" + "live_" + "51HxQpXYZabc123def456"
SLACK = "xox" + "b-" + "1234567890-0987654321-AbCdEfGhIjKl"
GITHUB = "gh" + "p_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
GITHUB_PAT = "github_" + "pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuv"
AWS = "AKIA" + "IOSFODNN7EXAMPLE"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi0Q2mX+4j1YUbJvAFVXX1pPLt8\n"
    "Hc3kA9yqD8sPmZ0wQ1rT2u3v4w5x6y7z8A9B0C1D2E3F4G5H6I7J8K9L0M1N2O3P\n"
    "-----END RSA PRIVATE KEY-----"
)
BASE64_KEY = "dGhpcyBpcyBhIHRlc3Qgb2YgYmFzZTY0IGVuY29kaW5nIDEyMzQ1Njc4OTA="
URLSAFE_KEY = "Xk3_pQ9-vR2mT8nW4yZ1aB6cD0eF5gH7iJ-kL_oN3sU"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.fixture
def redactor() -> Redactor:
    """The default redactor, with no known values."""
    return Redactor()


# -- credential shapes ----------------------------------------------------------------------

POSITIVE = [
    ("openai_anthropic_key", f"use {OPENAI} for calls", f"use {R} for calls"),
    ("openai_anthropic_key", f"key={ANTHROPIC}", None),
    ("openai_anthropic_key", f"OPENAI: {'sk-' + 'A' * 24 + '1' * 24}", f"OPENAI: {R}"),
    ("stripe_key", f"stripe {STRIPE} ok", f"stripe {R} ok"),
    ("slack_token", f"token {SLACK}.", f"token {R}."),
    ("github_token", f"push with {GITHUB}", f"push with {R}"),
    ("github_token", f"pat {GITHUB_PAT}", f"pat {R}"),
    ("aws_access_key_id", f"id {AWS} in config", f"id {R} in config"),
    ("aws_access_key_id", "ASIA" + "Y34FZKBOKMUTVV7A", R),
    ("jwt", f"cookie was {JWT} then", f"cookie was {R} then"),
    ("bearer_token", f"Authorization: Bearer {URLSAFE_KEY[:24]}", f"Authorization: Bearer {R}"),
    ("bearer_token", "Bearer ya29.a0AfH6SMBx3kLqPz9Tn2Vw8Yc5Rd1Ue7", f"Bearer {R}"),
    ("bearer_token", "curl -H 'authorization: bearer Zm9vYmFyYmF6cXV4cXV1eA=='", None),
    ("private_key_block", f"key:\n{PEM}\nrest", f"key:\n{R}\nrest"),
    ("private_key_block", PEM.split("-----END")[0], R),
    ("url_credentials", "postgres://app:s3cr3t@db:5432/x", f"postgres://app:{R}@db:5432/x"),
    ("url_credentials", "redis://:pa55word@cache:6379", f"redis://:{R}@cache:6379"),
    ("long_token", f"blob {BASE64_KEY} end", f"blob {R} end"),
    ("long_token", f"urlsafe {URLSAFE_KEY}", f"urlsafe {R}"),
    ("long_token", f"sha1 {SHA1}", f"sha1 {R}"),
    ("long_token", f"sha256:{SHA256}", f"sha256:{R}"),
    ("long_token", "base32 JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXPJBSWY3DP", f"base32 {R}"),
]


@pytest.mark.parametrize(("pattern", "text", "expected"), POSITIVE)
def test_credential_shapes_are_redacted(
    redactor: Redactor, pattern: str, text: str, expected: str | None
) -> None:
    """Each built-in shape is found, replaced, and seen by ``scan`` (raw and inside JSON)."""
    shape = next(p for p in DEFAULT_PATTERNS if p.name == pattern)
    assert shape.found(text), pattern
    redacted = redactor.redact_text(text)
    assert redacted != text
    if expected is not None:
        assert redacted == expected
    assert redactor.scan(text)
    assert redactor.scan(json.dumps({"note": text}).encode())
    assert redactor.redact_text(redacted) == redacted  # idempotent


NEGATIVE = [
    "The quick brown fox jumps over the lazy dog; nothing to see here.",
    "Order 12345 shipped on 2024-05-01 for $1,234.56 (tracking 1Z999AA10123456784).",
    "uuid 123e4567-e89b-12d3-a456-426614174000 and 550E8400-E29B-41D4-A716-446655440000",
    "run ids run_0192f3a4b5c6d7e8f9a0b1 and call_8f3a2b, toolu_01A09q90qw90lq917835lq9",
    "prefix hash 3fa9c2d1e0b47a65 and agent version 0123456789abcdef",
    "numbers 3.14159265358979323846264338327950288419716939937510 and 10000000000000000000000",
    "a_very_long_snake_case_identifier_for_a_function_2_with_digits",
    "CONSTANT_CASE_SETTING_NAME_FOR_PRODUCTION_ENVIRONMENT_2024",
    "path /Users/Alice/Projects2/tether/src/tether/observe/redaction_module",
    "the bearer of bad news, task-management-2024 and sk-learn are fine",
    "bearer instrument: Bearer short1 (free-text tokens need 20 unbroken characters)",
    "https://example.com:8443/docs/page?id=7 and mail bob@example.com",
    "model openai:gpt-4o-mini said: tokens are cheap; password policies matter",
    "x = 1; y == 2; if token_count >= 3: pass",
    "eyJ is how base64 JSON starts, and so does eyJhbGciOiJub25lIn0",
]


@pytest.mark.parametrize("text", NEGATIVE)
def test_ordinary_text_is_left_alone(redactor: Redactor, text: str) -> None:
    """Prose, UUIDs, short ids, numbers, identifiers, paths and URLs are not secrets."""
    assert redactor.redact_text(text) == text
    assert redactor.redact_text(text) is text


@pytest.mark.parametrize("text", NEGATIVE)
def test_scan_is_clean_on_ordinary_text(redactor: Redactor, text: str) -> None:
    """``scan`` says there is nothing to do for ordinary text and JSON carrying it."""
    assert not redactor.scan(text)
    assert not redactor.scan(json.dumps({"text": text, "n": 1}).encode())


# -- field names ----------------------------------------------------------------------------


def test_values_under_sensitive_keys_are_replaced_at_any_depth(redactor: Redactor) -> None:
    """Nested in lists and dicts, any spelling of a sensitive key loses its value."""
    data = {
        "user": "bob",
        "password": "correct horse battery staple",
        "headers": [
            {"X-Api-Key": "abc", "Accept": "json"},
            {"Authorization": "Bearer short1", "Set-Cookie": "sid=1"},
        ],
        "config": {
            "DB_PASSWORD": "pw",
            "apiKey": "k",
            "client_secret": {"nested": "whole value goes"},
            "oauth": ["a", "b"],
            "session": 12345,
            "github_token": "t",
            "privateKey": "pk",
        },
        "credentials": {"user": "u", "pass": "p"},
    }
    out = redactor.redact_value(data)
    assert out == {
        "user": "bob",
        "password": R,
        "headers": [{"X-Api-Key": R, "Accept": "json"}, {"Authorization": R, "Set-Cookie": R}],
        "config": {
            "DB_PASSWORD": R,
            "apiKey": R,
            "client_secret": R,
            "oauth": R,
            "session": R,
            "github_token": R,
            "privateKey": R,
        },
        "credentials": R,
    }
    assert data["password"] == "correct horse battery staple"  # a copy, not in place


def test_similar_keys_booleans_and_null_are_kept(redactor: Redactor) -> None:
    """Only the key's end counts, and ``true``/``false``/``null`` reveal nothing."""
    data = {
        "max_tokens": 512,
        "input_tokens": 10,
        "token_count": 3,
        "tokenizer": "bpe",
        "author": "ann",
        "passwords_rotated": 2,
        "auth": True,
        "token": None,
        "secret": False,
    }
    assert redactor.redact_value(data) is data


def test_default_fields_are_the_documented_ones() -> None:
    """The default field list is what the docs promise."""
    assert set(DEFAULT_FIELDS) >= {
        "password",
        "passwd",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "api_key",
        "apikey",
        "authorization",
        "auth",
        "cookie",
        "set-cookie",
        "private_key",
        "client_secret",
        "credentials",
        "session",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("export DB_PASSWORD=hunter2 now", f"export DB_PASSWORD={R} now"),
        ("GET /cb?code=1&access_token=abc.def&x=2", f"GET /cb?code=1&access_token={R}&x=2"),
        ("--api-key='k 1' --verbose", f"--api-key='{R}' --verbose"),
        ("cfg = {'password': 'pw', 'port': 5432}", f"cfg = {{'password': '{R}', 'port': 5432}}"),
        ('log: "apiKey": "abc", "n": 1', f'log: "apiKey": "{R}", "n": 1'),
        # A Cookie header is a credential: its value goes from the ':' (session 9).
        ("Cookie: session=abc123; theme=dark", f"Cookie: {R}; theme=dark"),
    ],
)
def test_field_names_in_text_are_recognised(redactor: Redactor, text: str, expected: str) -> None:
    """``name=value`` and quoted ``"name": value`` forms in free text lose the value."""
    assert redactor.scan(text)
    assert redactor.redact_text(text) == expected


def test_json_text_is_redacted_field_by_field(redactor: Redactor) -> None:
    """A tool's JSON output as a string: nested secrets under sensitive keys go too."""
    body = json.dumps({"ok": True, "credentials": {"user": "u", "pin": 1234}, "id": 7})
    out = redactor.redact_value({"result": body})
    assert json.loads(out["result"]) == {"ok": True, "credentials": R, "id": 7}


def test_custom_field_names_and_patterns() -> None:
    """Field names and patterns are configurable; a plain regex redacts its whole match."""
    redactor = Redactor(field_names=["ssn", "card-number"], patterns=[r"\bEMP-\d{6}\b"])
    assert redactor.redact_value({"SSN": "1", "cardNumber": "2", "password": "p"}) == {
        "SSN": R,
        "cardNumber": R,
        "password": "p",
    }
    assert redactor.redact_text("badge EMP-123456 ok") == f"badge {R} ok"
    assert redactor.redact_text(f"key {OPENAI}") == f"key {OPENAI}"
    assert Redactor(replacement="***").redact_text(f"k {STRIPE}") == "k ***"


def test_custom_pattern_with_a_group_and_a_hint() -> None:
    """A ``SecretPattern`` can keep context around the secret and gate ``scan`` on a literal."""
    pattern = SecretPattern(
        name="pin", regex=re.compile(r"PIN (?P<secret>\d{4})"), group="secret", hint="pin"
    )
    redactor = Redactor(patterns=[pattern])
    assert redactor.redact_text("your PIN 1234 today") == f"your PIN {R} today"
    assert not redactor.scan("your code 1234 today")


def test_field_names_must_be_ascii() -> None:
    """Field names are matched case-insensitively in bytes, so they must be ASCII."""
    with pytest.raises(ConfigError):
        Redactor(field_names=["pässword"])
    with pytest.raises(ConfigError):
        Redactor(field_names=[""])


# -- exact values ---------------------------------------------------------------------------


def test_known_values_are_redacted_even_when_not_credential_shaped() -> None:
    """Values from the broker are scrubbed wherever they appear, longest first."""
    broker = SecretBroker(
        [MappingSecrets({"pw": "hunter2hunter2", "long": "hunter2hunter2-extended"})]
    )
    redactor = Redactor(values_source=broker.known_values)
    text = "login hunter2hunter2 failed; retry with hunter2hunter2-extended"
    assert not redactor.scan(text)  # nothing resolved yet
    broker.resolve(["pw", "long"])
    assert redactor.scan(text)
    assert redactor.redact_text(text) == f"login {R} failed; retry with {R}"
    assert redactor.redact_value({"note": ["x", text]}) == {
        "note": ["x", f"login {R} failed; retry with {R}"]
    }


def test_known_values_are_found_json_escaped() -> None:
    """A value with quotes or non-ASCII is found in the persisted JSON form too."""
    value = 'pa"ss\\wörd-42'
    redactor = Redactor(values_source=lambda: [value])
    for data in (
        json.dumps({"m": f"x {value} y"}).encode(),
        json.dumps({"m": f"x {value} y"}, ensure_ascii=False).encode(),
    ):
        assert redactor.scan(data)
        assert json.loads(redactor.redact_json(data)) == {"m": f"x {R} y"}


def test_short_known_values_are_not_scrubbed() -> None:
    """Values shorter than ``min_value_length`` would destroy unrelated text; they are kept."""
    redactor = Redactor(values_source=lambda: ["1234", "abc123"])
    assert redactor.redact_text("pin 1234 code abc123") == f"pin 1234 code {R}"
    assert Redactor(values_source=lambda: ["x1y2"], min_value_length=4).redact_text("pin x1y2") == (
        f"pin {R}"
    )


# -- scan and redact_json -------------------------------------------------------------------

CLEAN_EVENT = (
    b'{"v":1,"type":"model.completed","call":0,"response":{"text":"The weather in Paris is '
    b'sunny with a high of 24 degrees, similar tomorrow.","tool_calls":[{"id":"call_8f3a2b",'
    b'"name":"get_weather","arguments":{"city":"Paris","units":"metric"}}],"usage":{"input_'
    b'tokens":812,"output_tokens":64,"cached_input_tokens":768,"cache_write_tokens":0},'
    b'"finish_reason":"stop","model":"openai:gpt-4o-mini"},"latency_ms":412.5}'
)


def test_redact_json_returns_clean_input_itself(redactor: Redactor) -> None:
    """Clean bytes come back as the very same object: no parse, no copy."""
    assert not redactor.scan(CLEAN_EVENT)
    assert redactor.redact_json(CLEAN_EVENT) is CLEAN_EVENT
    text = CLEAN_EVENT.decode()
    assert redactor.redact_json(text) is text


def test_redact_json_returns_input_when_a_hit_needs_no_change(redactor: Redactor) -> None:
    """A sensitive key holding a boolean trips ``scan`` but changes nothing."""
    data = b'{"auth":true,"token":null}'
    assert redactor.scan(data)
    assert redactor.redact_json(data) is data


def test_redact_json_scrubs_a_persisted_event(redactor: Redactor) -> None:
    """A tool event with a secret argument and a secret in its result round-trips redacted."""
    started = encode_event(
        ToolStarted(
            call=0,
            call_id="call-1",
            tool="charge",
            arguments={"amount": 5, "api_key": STRIPE},
            idempotency_key="run_1:3:0",
        )
    )
    out = redactor.redact_json(started)
    assert STRIPE.encode() not in out
    event = decode_event(out)
    assert isinstance(event, ToolStarted)
    assert event.arguments == {"amount": 5, "api_key": R}
    assert event.idempotency_key == "run_1:3:0"

    completed = encode_event(
        ToolCompleted(call=0, call_id="call-1", tool="whoami", result=f"Bearer {JWT}")
    )
    decoded = decode_event(redactor.redact_json(completed))
    assert isinstance(decoded, ToolCompleted)
    assert decoded.result == f"Bearer {R}"


def test_redact_json_keeps_invalid_json_writable(redactor: Redactor) -> None:
    """Data that is not JSON is redacted as text rather than failing the write."""
    data = f"not json {OPENAI}".encode()
    assert redactor.redact_json(data) == f"not json {R}".encode()


def test_scan_sees_sensitive_keys_in_every_quoting(redactor: Redactor) -> None:
    """Keys in JSON, in JSON embedded in a string, and in Python reprs are all seen."""
    for key in ("password", "X-Api-Key", "apiKey", "PRIVATE_KEY", "oauth", "Set-Cookie"):
        assert redactor.scan(json.dumps({key: "v"}).encode()), key
        assert redactor.scan(json.dumps({"m": json.dumps({key: "v"})}).encode()), key
        assert redactor.scan(repr({key: "v"})), key
    for key in ("passwords", "max_tokens", "author", "tokenizer", "keys"):
        assert not redactor.scan(json.dumps({key: "v"}).encode()), key


def test_scan_never_misses_what_redaction_would_change(redactor: Redactor) -> None:
    """For every sample, ``scan`` is ``True`` whenever ``redact_text`` changes the text."""
    samples: list[Any] = [text for _, text, _ in POSITIVE] + NEGATIVE
    samples += ["password=x", "'token': 'y'", f"{STRIPE[:-1]}", f"{PEM}"]
    for sample in samples:
        changed = redactor._scrub(sample) != sample
        if changed:
            assert redactor.scan(sample), sample


def test_redactor_repr_shows_configuration_only() -> None:
    """The repr names patterns; it holds no values."""
    redactor = Redactor(values_source=lambda: ["hunter2hunter2"])
    assert "hunter2hunter2" not in repr(redactor)
    assert "jwt" in repr(redactor)


# -- linear time ------------------------------------------------------------------------------


def _repeats(node: Any) -> list[tuple[int, Any]]:
    """``(max, body)`` of every repeat in a parsed regex, outermost first."""
    from re import _parser as sre_parse  # type: ignore[attr-defined]  # stdlib internals

    found: list[tuple[int, Any]] = []
    for op, av in node:
        if op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, sre_parse.POSSESSIVE_REPEAT):
            found.append((av[1], av[2]))
            found.extend(_repeats(av[2]))
        elif op in (sre_parse.SUBPATTERN, sre_parse.ATOMIC_GROUP):
            found.extend(_repeats(av[-1]))
        elif op == sre_parse.BRANCH:
            for branch in av[1]:
                found.extend(_repeats(branch))
        elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            found.extend(_repeats(av[1]))
    return found


def _all_regexes(redactor: Redactor) -> list[re.Pattern[str]]:
    regexes = [p.regex for p in redactor.patterns]
    regexes += [redactor._quoted_field, redactor._assigned_key, redactor._assigned_value]  # type: ignore[list-item]
    return regexes


def test_no_regex_nests_unbounded_quantifiers(redactor: Redactor) -> None:
    """No unbounded repeat inside another: the shape of catastrophic backtracking."""
    from re import _parser as sre_parse  # type: ignore[attr-defined]

    for regex in _all_regexes(redactor):
        tree = sre_parse.parse(regex.pattern, regex.flags)
        for limit, body in _repeats(tree):
            if limit == sre_parse.MAXREPEAT:
                inner = [m for m, _ in _repeats(body) if m == sre_parse.MAXREPEAT]
                assert not inner, regex.pattern


PREFIXED = (
    "jwt",
    "openai_anthropic_key",
    "stripe_key",
    "slack_token",
    "github_token",
    "aws_access_key_id",
    "url_credentials",
    "private_key_block",
)


@pytest.mark.parametrize("name", PREFIXED)
def test_shapes_start_with_their_literal(name: str) -> None:
    """A shape begins with a literal or a set, never with a lookbehind or a boundary.

    The regex engine then jumps between occurrences of the prefix instead of starting a
    match at every position; the old ``url_credentials`` began with ``\\b[A-Za-z]`` and a
    scheme of any length, so each letter of ``a.a.a...`` scanned to the end (quadratic).
    """
    from re import _parser as sre_parse  # type: ignore[attr-defined]

    regex = next(p for p in DEFAULT_PATTERNS if p.name == name).regex
    first_op = sre_parse.parse(regex.pattern, regex.flags)[0][0]
    assert first_op in (sre_parse.LITERAL, sre_parse.IN), (name, first_op)


ADVERSARIAL = {
    "dotted": lambda n: "a." * (n // 2) + "@",
    "dashed": lambda n: "a-" * (n // 2) + "@ ://",
    "form": lambda n: "&".join(f"k{i}=v{i}" for i in range(n // 8)) + "&password=x",
    "urls": lambda n: "http://user:pw@host/a:b@c " * (n // 26),
    "scheme_colons": lambda n: "x://" + "a:" * (n // 2) + "@",
    "quotes": lambda n: "'password': \"" * (n // 14),
    "assignments": lambda n: "token = " * (n // 8),
    # A name right after each value: every value read to the end of the text was
    # quadratic (session 9: 8 s for 200 KB of "password=x").
    "chained_assignments": lambda n: "password=x" * (n // 10),
    "chained_colons": lambda n: "password:a1b2c3d4" * (n // 17),
    "open_quotes": lambda n: 'password="a' * (n // 11),
    "bearer": lambda n: "Bearer " + "a." * (n // 2),
    "short_runs": lambda n: "abcdefghij0123456789abcdefghij01234567 " * (n // 39),
    "eyj": lambda n: "eyJ" * (n // 3),
    "pem": lambda n: "-----BEGIN RSA PRIVATE KEY-----\n" + "A" * 30 + " " * n,
}


def _cpu(redactor: Redactor, text: str) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        redactor._scrub(text)
        redactor.scan(text)
        best = min(best, time.process_time() - started)
    return best


@pytest.mark.parametrize("shape", sorted(ADVERSARIAL))
def test_redaction_work_grows_linearly(shape: str) -> None:
    """Four times the input costs about four times the work, not sixteen (generous bound).

    Not a timing claim (see ``benchmarks/redact.py`` for those): a ratio on the same
    machine, with a floor so that clock noise on tiny inputs cannot fail it.
    """
    redactor = Redactor(values_source=lambda: ["hunter2hunter2"])
    make = ADVERSARIAL[shape]
    small, large = _cpu(redactor, make(20_000)), _cpu(redactor, make(80_000))
    assert large <= max(10 * small, 0.05), (shape, small, large)


# -- structure is never rewritten -----------------------------------------------------------


def test_a_secret_equal_to_a_structural_value_leaves_the_event_intact() -> None:
    """A broker value ``"completed"`` no longer rewrites ``type`` or ``status``.

    The whole payload string equal to it is still redacted; prose that merely uses the
    word is not (a weak value is only matched as a whole string).
    """
    redactor = Redactor(values_source=lambda: frozenset({"completed"}))
    data = encode_event(ToolCompleted(call=0, call_id="call-1", tool="deploy", result="completed"))
    out = redactor.redact_json(data)
    event = decode_event(out)
    assert isinstance(event, ToolCompleted)
    assert event.type == "tool.completed"
    assert event.result == R
    status = encode_event(
        RunStatusChanged(previous="running", status="completed", reason="the task completed")
    )
    assert redactor.redact_json(status) == status
    assert redactor.redact_text("the task completed") == "the task completed"


def test_structural_fields_keep_a_strong_secret_and_keys_lose_it() -> None:
    """A secret that equals an id is kept in the id field, redacted elsewhere: in a key of
    the arguments too (red team 14: keys were never scanned, and reached the model)."""
    secret = "call_8f3a2b9c"
    redactor = Redactor(values_source=lambda: [secret])
    data = encode_event(
        ToolStarted(
            call=0,
            call_id=secret,
            tool="lookup",
            arguments={secret: 1, "q": f"id {secret}"},
            idempotency_key="run_1:3:0",
        )
    )
    event = decode_event(redactor.redact_json(data))
    assert isinstance(event, ToolStarted)
    assert event.call_id == secret
    assert event.arguments == {R: 1, "q": f"id {R}"}


def test_structural_keys_are_configurable() -> None:
    """``structural_keys`` names the top-level keys redaction leaves alone."""
    redactor = Redactor(values_source=lambda: ["hunter2hunter2"], structural_keys={"id"})
    doc = json.dumps({"id": "hunter2hunter2", "text": "hunter2hunter2"}).encode()
    assert json.loads(redactor.redact_json(doc)) == {"id": "hunter2hunter2", "text": R}
    assert "type" in DEFAULT_STRUCTURAL_KEYS and "result" not in DEFAULT_STRUCTURAL_KEYS


# -- encoded echoes ---------------------------------------------------------------------------

SECRET = "Tr0ub4dor&3?>~xyz"  # base64 of it holds '+' and '/', so urlsafe differs


def _b64(data: bytes, urlsafe: bool = False) -> str:
    return (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()


ECHOES = {
    "as is": SECRET,
    "upper case": SECRET.upper(),
    "lower case": SECRET.lower(),
    "base64": _b64(SECRET.encode()),
    "base64 unpadded": _b64(SECRET.encode()).rstrip("="),
    "base64 urlsafe": _b64(SECRET.encode(), urlsafe=True),
    "base64 of user:secret": _b64(b"user:" + SECRET.encode()),
    "base64 of u:secret": _b64(b"u:" + SECRET.encode() + b"!"),
    "base64 of xu:secret, urlsafe": _b64(b"xu:" + SECRET.encode() + b"!!", urlsafe=True),
    "hex": SECRET.encode().hex(),
    "hex upper": SECRET.encode().hex().upper(),
    "percent-encoded": quote(SECRET, safe=""),
    "percent-encoded lower": quote(SECRET, safe="").lower(),
    "form-encoded with spaces": quote_plus(f"my {SECRET} x"),
}


def test_urlsafe_base64_of_the_secret_differs_from_standard() -> None:
    """The echo cases below really exercise both base64 alphabets."""
    assert _b64(SECRET.encode()) != _b64(SECRET.encode(), urlsafe=True)


@pytest.mark.parametrize("form", sorted(ECHOES))
def test_encoded_echoes_of_a_known_value_are_redacted(form: str) -> None:
    """A handed-out secret is caught in other case, hex, base64 and percent-encoding."""
    redactor = Redactor(values_source=lambda: frozenset({SECRET}))
    echo = ECHOES[form]
    text = f"tool said [{echo}] done"
    data = encode_event(ToolCompleted(call=0, call_id="c", tool="t", result=text))
    assert redactor.scan(data)
    assert redactor.scan(text)
    out = redactor.redact_text(text)
    assert echo not in out
    assert out.startswith("tool said [") and out.endswith("] done")
    event = decode_event(redactor.redact_json(data))
    assert isinstance(event, ToolCompleted)
    assert event.result == out


def test_base64_echo_redacts_its_whole_run() -> None:
    """The whole base64 word goes, not just the characters that encode the secret."""
    redactor = Redactor(values_source=lambda: [SECRET])
    blob = _b64(b"Authorization: user:" + SECRET.encode())
    assert redactor.redact_text(f"header {blob} end") == f"header {R} end"


def test_weak_values_have_no_encoded_echoes() -> None:
    """A word-like value is not searched for in hex or base64 either."""
    redactor = Redactor(values_source=lambda: ["sunshine"])
    text = f"b64 {_b64(b'sunshine')} hex {b'sunshine'.hex()} and sunshine"
    assert redactor.redact_text(text) == text
    assert redactor.redact_value({"x": "sunshine"}) == {"x": R}


# -- large results ----------------------------------------------------------------------------


def test_a_secret_inside_a_large_result_redacts_only_the_secret() -> None:
    """A 100 KB form-urlencoded result keeps everything but the secrets in it.

    The secrets: a ``password=`` pair, a known value, its base64 echo inside Basic
    credentials and a password in a URL.
    """
    redactor = Redactor(values_source=lambda: ["hunter2hunter2"])
    half = "&".join(f"k{i}=v{i}" for i in range(6000))
    basic = _b64(b"admin:hunter2hunter2")
    result = (
        f"{half}&password=pw-9&note=hunter2hunter2&auth_header=Basic%20{basic}"
        f"&url=https://u:pa55@h/&{half}"
    )
    data = encode_event(ToolCompleted(call=0, call_id="c", tool="t", result=result))
    event = decode_event(redactor.redact_json(data))
    assert isinstance(event, ToolCompleted)
    assert event.result == (
        f"{half}&password={R}&note={R}&auth_header=Basic%20{R}&url=https://u:{R}@h/&{half}"
    )
    text = f"{half} Authorization: Basic {basic} {half}"
    assert redactor.redact_text(text) == f"{half} Authorization: Basic {R} {half}"


def test_offload_threshold_is_exported() -> None:
    """The engine runs ``redact_json`` off the event loop above ``OFFLOAD_BYTES``."""
    assert isinstance(OFFLOAD_BYTES, int) and 4096 <= OFFLOAD_BYTES <= 1 << 20


def test_scan_never_misses_an_echo_or_a_shape_in_big_data() -> None:
    """Above the confirmation limit ``scan`` still says ``True`` for every secret."""
    redactor = Redactor(values_source=lambda: [SECRET])
    filler = "lorem ipsum " * 10_000
    for echo in ECHOES.values():
        assert redactor.scan(f"{filler}{echo}{filler}")
    assert redactor.scan(f"{filler}{STRIPE}{filler}")
    assert not redactor.scan(filler)


def test_known_values_leave_a_clean_event_unparsed() -> None:
    """With broker values and their encoded forms, a clean event is still passed through."""
    values = frozenset({"hunter2-Hunter2-xyz", SECRET})
    redactor = Redactor(values_source=lambda: values)
    assert not redactor.scan(CLEAN_EVENT)
    assert redactor.redact_json(CLEAN_EVENT) is CLEAN_EVENT
