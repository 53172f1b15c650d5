"""Red team 11, holes 01, 02, 03, 06 and 07: secrets in common text forms were kept.

- 01: a name padded before its ``:`` (``Password      : ...`` from PowerShell's
  Format-List or ``net user``, ``api_key\\t: ...``): the cheap gate allowed one space.
- 02: a ``name: value`` value holding ``=`` (base64 padding: a Kubernetes Secret's
  ``password: UzNj...NA==``): a rule meant for Cookie pairs turned every such value away.
- 03: YAML block scalars and values on the next line (``password: |`` then the indented
  value, ``password:`` then a line).
- 06: a live stream's guard keeps 4,096 characters before what it showed, while the rules
  let any run of whitespace part a name from its value: ``password=``, 20,000 newlines,
  the value, and watchers saw the value the stored reply masked. The rules now reach at
  most ``_GAP`` (256) whitespace characters, well inside the guard's window.
- 07: code and config forms: a hash rocket (``:password => '...'``, where only ``>`` was
  masked), PHP arrays (``'password' => '...'``), subscripts (``os.environ["API_KEY"] =
  ...``, ``ENV['API_KEY'] = ...``) and XML (``<password>...</password>``).
"""

from __future__ import annotations

import base64
import json

import pytest

from tether.observe import Redactor

R = "[REDACTED]"
SECRET = "Sup3r-S3cret!2024"
PADDED = base64.b64encode(b"s3cr3t-pa55").decode()  # ends with '='


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # 01: a padded name
        (
            f"User name    : alice\nPassword      : {SECRET}\n",
            f"User name    : alice\nPassword      : {R}\n",
        ),
        (f"api_key\t: {SECRET}", f"api_key\t: {R}"),
        # 02: '=' inside the value
        (f"data:\n  password: {PADDED}\n", f"data:\n  password: {R}\n"),
        ("db_password: Tr0ub4dor=3x", f"db_password: {R}"),
        # 03: the value under the name
        (f"password: |\n  {SECRET}\nuser: x", f"password: |\n  {R}\nuser: x"),
        (
            "password: >-\n    correct horse\n    battery staple\nuser: x",
            f"password: >-\n    {R}\nuser: x",
        ),
        (f"password:\n  {SECRET}\n", f"password:\n  {R}\n"),
        # 07: code and config forms
        (f"set :password => '{SECRET}'", f"set :password => '{R}'"),
        (f"'password' => '{SECRET}',", f"'password' => '{R}',"),
        (f'os.environ["API_KEY"] = "{SECRET}"', f'os.environ["API_KEY"] = "{R}"'),
        (f"ENV['API_KEY'] = '{SECRET}'", f"ENV['API_KEY'] = '{R}'"),
        (
            f"<server><id>nexus</id><password>{SECRET}</password></server>",
            f"<server><id>nexus</id><password>{R}</password></server>",
        ),
        (
            f'<db_password type="str">{SECRET}</db_password>',
            f'<db_password type="str">{R}</db_password>',
        ),
    ],
)
def test_the_secret_in_each_form_is_redacted(text: str, expected: str) -> None:
    redactor = Redactor()
    assert redactor.redact_text(text) == expected
    # scan() sees it too, as text and inside a persisted event (where a tab is "\t").
    assert redactor.scan(text) and redactor.scan(json.dumps({"result": text}).encode())
    assert redactor.redact_value({"result": text}) == {"result": expected}


@pytest.mark.parametrize(
    "text",
    [
        "<id>nexus</id><username>ci</username>",
        "<p>Forgot your password? <a href='/reset'>Reset it</a></p>",
        "Reset your password:\nclick the link below",
        "password: Required\nuser: x",
    ],
)
def test_ordinary_markup_and_prose_are_left_alone(text: str) -> None:
    assert Redactor().redact_text(text) == text


def test_a_name_and_its_value_are_at_most_256_whitespace_characters_apart() -> None:
    """What the stored reply masks and what a live watcher sees agree: past the bound,
    neither treats the text as the name's value; within it, both mask it."""
    redactor = Redactor()
    near = "password=" + "\n" * 200 + SECRET
    assert SECRET not in redactor.redact_text(near)
    far = "password=" + "\n" * 20_000 + SECRET
    assert redactor.redact_text(far) == far


def test_a_streamed_xml_value_is_held_until_its_tag_closes() -> None:
    redactor = Redactor()
    partial = "config: <password>correct horse"
    assert redactor.open_span_start(partial) == partial.index("correct")
    assert redactor.open_span_start("<password>correct horse</password> done") is None
