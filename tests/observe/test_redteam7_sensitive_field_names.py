"""Red team 7, hole 07: common secret argument names were not sensitive by default.

``secret_key``, ``aws_secret_access_key``, ``signing_key``, ``credential``, ``pwd``,
``db_pass``, ``passphrase``, ``pin``, ``otp``, ``cvv``, ``jwt``... were stored, streamed and
shown in clear while the same value under ``password`` was sealed. They are sensitive now;
the short ones that end ordinary words (``pass``, ``pin``) only as a word of their own, so
``compass``, ``bypass`` and ``spin`` stay readable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime, tool
from tether.models import ModelRequest
from tether.observe import DEFAULT_FIELDS, Redactor
from tether.testing import ScriptedModel, text, tool_call

R = "[REDACTED]"

SENSITIVE = [
    "secret_key",
    "secretKey",
    "SECRET_KEY",
    "django_secret_key",
    "aws_secret_access_key",
    "AWS_SECRET_ACCESS_KEY",
    "awsSecretAccessKey",
    "signing_key",
    "signingKey",
    "encryption_key",
    "data-encryption-key",
    "credential",
    "db_credential",
    "pwd",
    "db_pwd",
    "dbPwd",
    "pass",
    "PASS",
    "db_pass",
    "dbPass",
    "DB_PASS",
    "db-pass",
    "smtp2pass",
    "passphrase",
    "vault_passphrase",
    "passcode",
    "pin",
    "PIN",
    "card_pin",
    "cardPin",
    "cardPIN",
    "otp",
    "totp",
    "sms_otp",
    "cvv",
    "card_cvv",
    "cvc",
    "jwt",
    "id_jwt",
    "idJwt",
]
"""Keys whose values are secret: sealed in the store, masked in text."""

ORDINARY = [
    "passenger",
    "compass",
    "COMPASS",
    "Compass",
    "bypass",
    "bypass_cache",
    "overpass",
    "pinned",
    "spinner",
    "spin",
    "hairpin",
    "opinion",
    "keyboard",
    "keyword",
    "primary_key",
    "sort_key",
    "key",
    "otp_enabled",  # a flag about OTP, not one (and a boolean is kept even when sensitive)
    "passed",
    "max_tokens",
    "token_count",
    "author",
    "description",
]
"""Keys that only look like one of the names: their values stay as they are."""


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()


def test_hole_07_the_new_names_are_default_fields() -> None:
    assert {"pwd", "passphrase", "secret_key", "credential", "otp", "cvv", "jwt"} <= set(
        DEFAULT_FIELDS
    )
    assert {"_pass", "_pin"} <= set(DEFAULT_FIELDS)


@pytest.mark.parametrize("key", SENSITIVE)
def test_hole_07_sensitive_field_names_missed_are_sensitive(redactor: Redactor, key: str) -> None:
    """Each name is sensitive as a key, as ``name=value`` and as a quoted key in text."""
    assert redactor.is_sensitive_key(key)
    data = {"service": "billing", key: "hunter-22"}
    assert redactor.redact_value(data) == {"service": "billing", key: R}
    sealed = redactor.seal(data)
    assert sealed["service"] == "billing" and sealed[key] == {"$redacted": "field"}
    assert redactor.scan(json.dumps({"type": "tool.started", "arguments": data}))
    assert redactor.redact_text(f"export {key}=hunter-22 now") == f"export {key}={R} now"
    assert redactor.redact_text(f'log {{"{key}": "hunter-22"}}') == f'log {{"{key}": "{R}"}}'


@pytest.mark.parametrize("key", ORDINARY)
def test_hole_07_ordinary_names_are_not_sealed(redactor: Redactor, key: str) -> None:
    """Names that end with, or start with, one of the words are ordinary data."""
    assert not redactor.is_sensitive_key(key)
    data = {key: "north-by-north"}
    assert redactor.redact_value(data) is data
    assert redactor.seal(data) is data
    assert not redactor.scan(f"{key}=north-by-north")
    assert redactor.redact_text(f"export {key}=north-by-north") == f"export {key}=north-by-north"
    quoted = f'log {{"{key}": "north-by-north"}}'
    assert redactor.redact_text(quoted) == quoted


def test_hole_07_a_flag_about_a_secret_stays_readable(redactor: Redactor) -> None:
    data = {"otp_enabled": True, "otp": False, "pin": None, "cvv_checked": "yes"}
    assert redactor.redact_value(data) is data


@pytest.mark.parametrize("key", SENSITIVE + ORDINARY)
def test_hole_07_scan_never_misses_what_redaction_changes(redactor: Redactor, key: str) -> None:
    """The hot-path gate says True whenever redaction would change the text."""
    for text_ in (
        f"{key}=abc123",
        f"{key} = 'abc 123'",
        f'{{"{key}": "abc123"}}',
        json.dumps({"result": json.dumps({key: "abc123"})}),
        f"{{'{key}': 'abc123'}}",
    ):
        if redactor.redact_text(text_) != text_:
            assert redactor.scan(text_), text_


def test_hole_07_words_are_custom_field_names_too() -> None:
    """A leading ``_`` makes any name a word; without field names nothing is sensitive."""
    custom = Redactor(field_names=["_code"])
    assert custom.is_sensitive_key("code") and custom.is_sensitive_key("mfaCode")
    assert custom.is_sensitive_key("mfa_code")
    assert not custom.is_sensitive_key("barcode") and not custom.is_sensitive_key("pin")
    assert custom.redact_text("barcode=123 code=456") == f"barcode=123 code={R}"
    nothing = Redactor(field_names=(), patterns=())
    assert not nothing.is_sensitive_key("pin") and not nothing.scan("pin=1234")


VALUES = {
    "secret_key": "django-insecure-k9#x!q2",
    "aws_secret_access_key": "wJalr/XUtnFEMI+K7MDENG",
    "passphrase": "correct horse battery staple",
    "pwd": "Tr0ub4dor&3-horse",
    "credential": "vault-root-s3cr3t",
    "pin": "482913",
    "db_pass": "p4ss-w0rd-db",
    "cvv": "737",
}
"""The hole's probe: values no shape rule would find, under the newly sensitive names."""


def _raw_store(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


async def test_hole_07_sensitive_field_names_missed_in_a_run_without_a_codec(
    tmp_path: Path,
) -> None:
    """Without a payload key the values are stored as references, and the write still
    runs with the real values (it folds what happened, the store holds the sealed copy).
    """
    received: list[dict[str, Any]] = []

    @tool(effect="write")
    def configure(
        service: str,
        secret_key: str,
        aws_secret_access_key: str,
        passphrase: str,
        pwd: str,
        credential: str,
        pin: str,
        db_pass: str,
        cvv: str,
    ) -> str:
        """Configure a service's credentials."""
        received.append(
            {
                "secret_key": secret_key,
                "aws_secret_access_key": aws_secret_access_key,
                "passphrase": passphrase,
                "pwd": pwd,
                "credential": credential,
                "pin": pin,
                "db_pass": db_pass,
                "cvv": cvv,
            }
        )
        return "configured"

    def script(request: ModelRequest) -> Any:
        if not any(m.role == "tool" for m in request.messages):
            return tool_call("configure", service="billing", **VALUES)
        return text("configured billing")

    db = tmp_path / "t.db"
    agent = Agent(name="ops", model=ScriptedModel(script), tools=[configure])
    async with Runtime(f"sqlite:///{db}", payload_codec=None) as rt:
        run = await rt.start(agent, "set up billing")
        assert (await run.result(timeout=30)).status == "completed"
    assert received == [VALUES]
    raw = _raw_store(db)
    assert [k for k, v in VALUES.items() if v.encode() in raw] == []
    assert b"billing" in raw  # the ordinary argument is stored as it is


async def test_hole_07_an_unrecoverable_argument_parks_instead_of_running(
    tmp_path: Path,
) -> None:
    """The docs' promise for a sealed argument without a key: after the run is loaded
    from the store (here: approved after a restart) the write parks as uncertain; it
    never runs with a placeholder.
    """
    received: list[str] = []

    @tool(effect="write", requires_approval=True)
    def set_card_pin(card: str, pin: str) -> str:
        """Set a card's PIN."""
        received.append(pin)
        return "set"

    def script(request: ModelRequest) -> Any:
        if not any(m.role == "tool" for m in request.messages):
            return tool_call("set_card_pin", card="c-1", pin="482913")
        return text("done")

    db = tmp_path / "t.db"
    agent = Agent(name="cards", model=ScriptedModel(script), tools=[set_card_pin])
    async with Runtime(f"sqlite:///{db}", payload_codec=None) as rt:
        run = await rt.start(agent, "set the pin")
        assert (await run.result(timeout=30)).status == "waiting"
        run_id = run.run_id
    async with Runtime(f"sqlite:///{db}", payload_codec=None, agents=[agent]) as rt:
        await rt.approve(run_id, "0.1", by="ana@example.com")
        handle = rt.get(run_id)
        assert (await handle.result(timeout=30)).status == "waiting"
        events = [e async for e in handle.events(follow=False)]
    assert received == []  # never "[REDACTED]", never the marker
    last = events[-1].event
    assert getattr(last, "reason", None) == "uncertain_write"
    assert b"482913" not in _raw_store(db)
