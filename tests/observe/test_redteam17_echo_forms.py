"""Red team 17, hole 03: a value the secrets broker handed out, echoed in a common escaped
form, passed the known-value scrub: PHP-style JSON (``\\/``), JSON ``\\uXXXX`` escapes,
every byte percent-encoded (``%41%42...``) and hex with separators (``41:42:43``).

They reached the model (a tool's output is scrubbed of broker values) and the store (the
scan said the event was clean) in clear. Each form is now found by :meth:`Redactor.scan`
(the cheap gate) and replaced by the redaction itself, in either hex case and however
deeply the JSON escapes are nested.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, Runtime, ToolContext, tool
from tether.models import ModelRequest
from tether.observe import Redactor
from tether.policy import MappingSecrets, SecretBroker
from tether.testing import ScriptedModel, text, tool_call

KEY = "Zm9vYmFy/cGFzc3dvcmQ+aGVsbG8/d29ybGQ"  # shaped like many vendor keys
PLAIN = "corp-internal-7f3a9c2e11"
VALUES = frozenset({KEY, PLAIN})


def _known() -> Redactor:
    """The broker-values-only redactor that scrubs what the model reads."""
    return Redactor(field_names=(), patterns=(), values_source=lambda: VALUES)


def _main() -> Redactor:
    """The store's redactor: default rules plus the broker's values."""
    return Redactor(values_source=lambda: VALUES)


def _percent_all(value: str, upper: bool) -> str:
    return "".join((f"%{b:02X}" if upper else f"%{b:02x}") for b in value.encode())


def _unicode_all(value: str, upper: bool) -> str:
    return "".join((f"\\u{ord(c):04X}" if upper else f"\\u{ord(c):04x}") for c in value)


def _forms(value: str) -> dict[str, str]:
    raw = value.encode()
    forms = {
        "php json slash": json.dumps(value).replace("/", "\\/")[1:-1],
        "json \\u dash": json.dumps(value).replace("-", "\\u002d")[1:-1],
        "json \\u slash": value.replace("/", "\\u002F"),
        "json \\u every char": _unicode_all(value, upper=False),
        "json \\u every char upper": _unicode_all(value, upper=True),
        "percent every byte": _percent_all(value, upper=True),
        "percent every byte lower": _percent_all(value, upper=False),
        "hex colons": raw.hex(":"),
        "HEX COLONS": raw.hex(":").upper(),
        "hex dashes": raw.hex("-"),
        "hex spaces": raw.hex(" ").upper(),
    }
    # The escaped text inside a JSON string inside a JSON string (nested tool output).
    forms["php json slash, nested"] = json.dumps(forms["php json slash"])[1:-1]
    forms["json \\u every char, nested"] = json.dumps(forms["json \\u every char"])[1:-1]
    return forms


CASES = [
    pytest.param(value, name, form, id=f"{label}-{name}")
    for label, value in (("vendor", KEY), ("plain", PLAIN))
    for name, form in _forms(value).items()
]


@pytest.mark.parametrize(("value", "name", "form"), CASES)
def test_an_escaped_echo_is_scrubbed_for_the_model(value: str, name: str, form: str) -> None:
    output = {"result": f"upstream said: {form} | retry later"}
    cleaned = _known().redact_value(output)
    assert cleaned != output, name
    shown = cleaned["result"]
    assert shown.startswith("upstream said: ") and shown.endswith(" | retry later")
    assert form not in shown
    # Nothing of the value is left to put back together.
    assert value[-6:].lower() not in shown.lower()
    assert value.encode().hex()[-6:] not in shown.lower().replace(":", "").replace("-", "")


@pytest.mark.parametrize(("value", "name", "form"), CASES)
def test_an_escaped_echo_is_seen_by_the_scan_and_redacted_in_the_store(
    value: str, name: str, form: str
) -> None:
    event = {"v": 1, "type": "tool.completed", "call": 0, "call_id": "c1", "tool": "t"}
    data = json.dumps({**event, "result": f"upstream said: {form} | retry later"}).encode()
    redactor = _main()
    assert redactor.scan(data), name
    redacted = redactor.redact_json(data)
    assert json.loads(redacted)["type"] == "tool.completed"
    assert form.encode() not in redacted and json.dumps(form)[1:-1].encode() not in redacted


def test_clean_data_with_escapes_hex_and_percent_is_still_clean() -> None:
    """Escapes, MAC addresses and percent-encoding of other text do not make data
    suspect: the scan stays a cheap "no" and nothing is replaced."""
    clean = {
        "v": 1,
        "type": "tool.completed",
        "result": json.dumps({"city": "Zürich", "note": "café \u2014 ok/fine"})
        + " mac 00:1a:2b:3c:4d:5e, ids 12-34-56-78 and 10 20 30 40 50 60 70"
        + " q=%E2%9C%93%20done https:\\/\\/example.com\\/path",
    }
    data = json.dumps(clean).encode()
    redactor = _main()
    assert b"\\\\u" in data and b"\\\\/" in data  # the escapes are really there
    assert not redactor.scan(data)
    assert redactor.redact_json(data) is data
    assert _known().redact_value(clean) is clean


@pytest.mark.parametrize(
    "shape",
    [
        "{}",
        "prefix {} suffix",
        "a\\u0020{}\\u0020b",
        "[{}]",
        "%2F{}%2F",
        "x:{}:y",
    ],
)
@pytest.mark.parametrize(("value", "name", "form"), CASES)
def test_the_scan_never_says_clean_when_redaction_would_change_something(
    value: str, name: str, form: str, shape: str
) -> None:
    text_value = shape.format(form)
    data = json.dumps({"type": "tool.completed", "result": text_value}).encode()
    redactor = _main()
    if redactor.redact_json(data) != data or _known().redact_value(text_value) != text_value:
        assert redactor.scan(data), (name, shape)
        assert redactor.scan(text_value), (name, shape)


def _db_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


@tool(credentials=["vendor_key"])
def vendor_echo(ctx: ToolContext) -> str:
    """Call the vendor API; returns its raw body."""
    key = ctx.secrets["vendor_key"]
    body = json.dumps({"error": "bad key", "key": key}).replace("/", "\\/")  # PHP json_encode
    return (
        body
        + " | url="
        + "".join(f"%{b:02X}" for b in key.encode())
        + " | fingerprint="
        + key.encode().hex(":")
    )


async def test_a_tool_echoing_a_broker_value_escaped_reaches_neither_model_nor_store(
    tmp_path: Path,
) -> None:
    seen: list[str] = []

    def script(request: ModelRequest) -> Any:
        seen.extend(str(m.content) for m in request.messages if m.role == "tool")
        if not any(m.role == "tool" for m in request.messages):
            return tool_call("vendor_echo")
        return text("done")

    agent = Agent(name="v", model=ScriptedModel(script), tools=[vendor_echo])
    db = tmp_path / "t.db"
    secrets = SecretBroker([MappingSecrets({"vendor_key": KEY})])
    async with Runtime(f"sqlite:///{db}", agents=[agent], secrets=secrets) as rt:
        result = await (await rt.start(agent, "go")).result()
    assert result.status == "completed"
    (tool_text,) = seen
    assert "bad key" in tool_text and "| url=" in tool_text  # the rest of the output is kept
    escaped = KEY.replace("/", "\\/")
    for leaked in (escaped, _percent_all(KEY, upper=True), KEY.encode().hex(":")):
        assert leaked not in tool_text
    stored = _db_bytes(db)
    for leaked in (escaped, json.dumps(escaped)[1:-1], _percent_all(KEY, upper=True)):
        assert leaked.encode() not in stored
    assert KEY.encode().hex(":").encode() not in stored
