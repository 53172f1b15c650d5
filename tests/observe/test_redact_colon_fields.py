"""Session 9 (a leftover of red team 9): ``name: value`` with an unquoted name was kept.

A YAML config, a ``.env``-style dump written with colons, a log line or a header in a
tool's output holds ``api_key: "..."`` or ``password: hunter2secret``: only the quoted
field rule (``"api_key": ...``) and ``name=value`` looked, so the value was stored as it
was. Now the value after an unquoted sensitive name and a ``:`` goes too: a quoted value
always, an unquoted one when it looks like a credential (six characters or more with a
digit or a symbol: not a word, nor a type annotation; not itself a ``name=value``
pair). Prose that names a field ("password: see below") is left alone.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime, tool
from tether.models import ModelRequest
from tether.observe import Redactor
from tether.testing import ScriptedModel, text, tool_call

R = "[REDACTED]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('api_key: "abc123def456ghi"', f'api_key: "{R}"'),
        ("password: hunter2secret", f"password: {R}"),
        ("token: 'xyzzy12345678'", f"token: '{R}'"),
        (
            "db:\n  host: db.internal\n  password: s3cr3t!x\n",
            f"db:\n  host: db.internal\n  password: {R}\n",
        ),
        ("DB_PASSWORD : Tr0ub4dor&3 rest", f"DB_PASSWORD : {R} rest"),
        ("X-Api-Key:k9k9k9k9k9", f"X-Api-Key:{R}"),
        (
            "2024-05-01 INFO login ok, session: 8f3a2b9c1d",
            f"2024-05-01 INFO login ok, session: {R}",
        ),
        ("dbPassword: 'correct horse'", f"dbPassword: '{R}'"),
        ("client_secret:\t'x'", f"client_secret:\t'{R}'"),
    ],
)
def test_a_value_after_an_unquoted_sensitive_name_is_redacted(text: str, expected: str) -> None:
    redactor = Redactor()
    assert redactor.redact_text(text) == expected
    # scan() never misses what redaction would change, as text or inside a JSON event.
    assert redactor.scan(text) and redactor.scan(json.dumps({"result": text}).encode())
    assert redactor.redact_value({"result": text}) == {"result": expected}
    assert redactor.redact_text(expected) == expected  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        "Password: see below",
        "password: Required",
        "auth: required",
        "session: 45 minutes",
        "Authorization: pending approval from legal",
        "Note: the token: 12 chars",
        "model openai:gpt-4o-mini said: tokens are cheap; password policies matter",
        "max_tokens: 4096000",
        "passwords: 3 rotated",
        "def connect(api_key: Optional[str] = None, secret: SecretStr | None = None)",
        "password: PasswordField",
    ],
)
def test_prose_that_names_a_field_is_left_alone(text: str) -> None:
    assert Redactor().redact_text(text) == text


def test_a_cookie_header_value_is_masked() -> None:
    """A cookie is a credential: a Cookie or Set-Cookie header's first pair goes whole, and
    each sensitive pair after it by the name=value rule."""
    redactor = Redactor()
    assert redactor.redact_text("Cookie: session=abc123; theme=dark") == f"Cookie: {R}; theme=dark"
    assert redactor.redact_text("Cookie: theme=dark; session=abc123") == f"Cookie: {R}; session={R}"
    assert (
        redactor.redact_text("Set-Cookie: sid=9f8e7d; Path=/; HttpOnly")
        == f"Set-Cookie: {R}; Path=/; HttpOnly"
    )


def test_a_streamed_value_after_a_colon_is_held_back_until_it_closes() -> None:
    """A reply still arriving shows nothing of a quoted value whose quote is open."""
    redactor = Redactor()
    partial = 'the config says api_key: "abc def'
    start = redactor.open_span_start(partial)
    assert start == partial.index('"')
    assert redactor.open_span_start('api_key: "abc def" and more') is None


def test_json_events_stay_clean_for_the_fast_path() -> None:
    """JSON's own keys are quoted: the colon rule adds no hit on a clean event."""
    redactor = Redactor()
    event = {"type": "tool.completed", "result": "Order 1234: shipped, tracking 1Z999"}
    assert not redactor.scan(json.dumps(event).encode())


async def test_a_yaml_config_read_by_a_tool_is_stored_without_its_secrets(tmp_path: Path) -> None:
    """End to end: the tool's output reaches the model whole; the log holds no secret."""
    secret, password = "k-9f8e7d6c5b4a3f2e1d", "Hunter2-Hunter2!"
    config = f"service:\n  name: billing\n  api_key: {secret}\n  db_password: '{password}'\n"

    @tool
    def read_config(path: str) -> str:
        """Read a configuration file."""
        return config

    seen: list[str] = []

    def script(request: ModelRequest) -> Any:
        tools = [m for m in request.messages if m.role == "tool"]
        if not tools:
            return tool_call("read_config", path="billing.yaml")
        seen.append(tools[-1].content or "")
        return text("The billing service is configured.")

    agent = Agent(name="ops", model=ScriptedModel(script), tools=[read_config])
    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
        run = await rt.start(agent, "check the billing config")
        assert (await run.result()).status == "completed"
    with sqlite3.connect(tmp_path / "t.db") as conn:
        stored = b"".join(bytes(row[0]) for row in conn.execute("SELECT data FROM events"))
    assert secret.encode() not in stored and password.encode() not in stored
    assert b"billing" in stored  # the rest of the output is kept
    assert secret in seen[0] and password in seen[0]  # what executes is unchanged
