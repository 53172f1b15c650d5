"""Red team 9, hole 03: a quoted secret with spaces streamed out word by word.

``DeltaGuard`` released text up to the last whitespace once what came before it scanned
clean. The redactor masks a sensitive field's *quoted* value (``password="..."``,
``"password": "..."``, ``db_password = '...'``) only once the closing quote has arrived,
so while a passphrase such as ``correct horse battery staple`` streamed a word at a time
(as every provider streams), each prefix scanned clean and ``password="correct horse
battery `` reached live watchers, although the stored reply masks it.

Now nothing is released past the start of a span the redactor could still match once
more text arrives (:meth:`Redactor.open_span_start`: an unclosed quoted value after a
sensitive key, a private key block before its end line, the start of a known value with
spaces in it); a reply that may be a JSON document waits for its end once it has
something sensitive (it is redacted whole, by its parsed keys); and the guard stays
linear in the reply (a masked reply was redacted whole at every release: quadratic).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tether import Agent, LiveDelta, Runtime, tool
from tether.engine._protect import DeltaGuard
from tether.models import ModelRequest, ModelResponse, StreamDelta
from tether.observe import Redactor
from tether.testing import ScriptedModel, text, tool_call

PASSPHRASE = "correct horse battery staple"
WORDS = PASSPHRASE.split()
SK = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"
PEM = "\n".join(
    [
        "-----BEGIN PRIVATE KEY-----",
        *("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" + str(i) for i in range(6)),
        "-----END PRIVATE KEY-----",
    ]
)

QUOTED = [
    f'Sure, log in with password="{PASSPHRASE}" and you are set.',
    f'config: {{"password": "{PASSPHRASE}", "user": "ana"}} as asked',
    f"db_password = '{PASSPHRASE}'\nthat is all",
    f"""settings {{'api_key': "{PASSPHRASE}"}} and "token":\n'{PASSPHRASE}' done""",
    f'password = "{PASSPHRASE}" and secret="{PASSPHRASE}" twice',
    f'escaped "client_secret": "a \\" {PASSPHRASE}" here',
]


def _pieces(reply: str, how: str) -> list[str]:
    if how == "words":
        words = reply.split(" ")
        return [w + " " for w in words[:-1]] + [words[-1]]
    if how == "chars":
        return list(reply)
    return [reply[i : i + 3] for i in range(0, len(reply), 3)]


def _stream(guard: DeltaGuard, pieces: list[str]) -> tuple[str, str]:
    """(what went out before the reply was complete, everything that went out)."""
    out = []
    for piece in pieces:
        shown = guard.admit(StreamDelta(kind="text", text=piece))
        if shown is not None:
            out.append(shown.text)
    live = "".join(out)
    rest = guard.finish()
    return live, live + (rest.text if rest is not None else "")


@pytest.mark.parametrize("reply", QUOTED)
@pytest.mark.parametrize("how", ["words", "chars", "threes"])
def test_a_quoted_passphrase_never_streams_before_it_is_masked(reply: str, how: str) -> None:
    redactor = Redactor()
    stored = redactor.redact_text(reply)
    assert not any(word in stored for word in WORDS), "the store masks it (the premise)"
    live, shown = _stream(DeltaGuard(redactor), _pieces(reply, how))
    assert not any(word in shown for word in WORDS), shown
    assert shown == stored  # the watcher ends up with exactly the stored reply
    assert live.startswith(reply[:8])  # and the text before the secret streamed live


def test_the_reply_of_the_red_team_script_streams_masked() -> None:
    reply = f'Sure, log in with password="{PASSPHRASE}" and you are set.'
    live, shown = _stream(DeltaGuard(Redactor()), _pieces(reply, "words"))
    assert live == 'Sure, log in with password="[REDACTED]" and you are '
    assert shown == 'Sure, log in with password="[REDACTED]" and you are set.'


def test_a_known_passphrase_is_held_until_it_is_whole() -> None:
    redactor = Redactor(values_source=lambda: [PASSPHRASE.title()])
    reply = f"the vault says {PASSPHRASE} for the wifi"
    live, shown = _stream(DeltaGuard(redactor), _pieces(reply, "words"))
    assert shown == "the vault says [REDACTED] for the wifi"
    assert live.startswith("the vault says ")


def test_a_private_key_streamed_line_by_line_is_masked_and_the_stream_goes_on() -> None:
    reply = f"Here it is:\n{PEM}\nKeep it safe, please."
    redactor = Redactor()
    live, shown = _stream(DeltaGuard(redactor), re.findall(r"\S+\s*|\s+", reply))
    assert "MIIE" not in shown and "BEGIN" not in shown
    assert shown == redactor.redact_text(reply)
    assert "Keep it safe," in live  # the text after the block kept streaming


@pytest.mark.parametrize(
    "reply",
    [
        '{"answer": "ok", "credentials": {"user": "ana", "id": 7}}',
        '{"answer": "ok", "auth": ["correct horse", "battery"]}',
        f'{{"answer": "ok", "password"  : "{PASSPHRASE}", "k": "{SK}"}}',
        f'{{"answer": "ok", "pass\\u0077ord": "{PASSPHRASE}", "k": "{SK}"}}',
    ],
)
def test_a_json_reply_redacted_by_its_keys_shows_nothing_the_store_masks(reply: str) -> None:
    redactor = Redactor()
    stored = redactor.redact_text(reply)
    _, shown = _stream(DeltaGuard(redactor), _pieces(reply, "words"))
    for secret in ("ana", "correct", "horse", "battery", "staple", SK[:12]):
        if secret not in stored:
            assert secret not in shown, (secret, shown)


class _CountingRedactor(Redactor):
    """Counts the characters the guard hands the redactor."""

    seen = 0

    def scan(self, data: bytes | str) -> bool:
        self.seen += len(data)
        return super().scan(data)

    def redact_text(self, text: str) -> str:
        self.seen += len(text)
        return super().redact_text(text)

    def open_span_start(self, text: str) -> int | None:
        self.seen += len(text)
        return super().open_span_start(text)


def _work(reply: str) -> int:
    redactor = _CountingRedactor()
    _stream(DeltaGuard(redactor), _pieces(reply, "threes"))
    return redactor.seen


@pytest.mark.parametrize(
    "head", [f"the key {SK} is masked, ", 'password="never closed ', "plain words, "]
)
def test_the_guard_is_linear_in_the_reply(head: str) -> None:
    prose = "the quick brown fox jumps over the lazy dog. "
    short, long = (head + prose * n for n in (600, 1200))
    # Twice the reply, twice the work (a masked reply was redacted whole per release).
    assert _work(long) < 2.3 * _work(short)


class _WordStreaming(ScriptedModel):
    """ScriptedModel streaming one delta per word, as providers do."""

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamDelta | ModelResponse]:
        response = await self.complete(request)
        words = (response.text or "").split(" ")
        for i, word in enumerate(words):
            yield StreamDelta(kind="text", text=word + (" " if i < len(words) - 1 else ""))
        for i, call in enumerate(response.tool_calls):
            yield StreamDelta(kind="tool_call", tool_call_index=i, tool_name=call.name)
        yield response


async def test_a_live_watcher_never_sees_the_passphrase_the_store_masks(tmp_path: Path) -> None:
    watching = asyncio.Event()

    @tool
    async def vault_entry(name: str) -> dict[str, Any]:
        """Look up a shared vault entry."""
        await asyncio.wait_for(watching.wait(), 10)
        return {"name": name, "password": PASSPHRASE}

    def script(request: ModelRequest) -> Any:
        if not any(m.role == "assistant" for m in request.messages):
            return tool_call("vault_entry", name="wifi")
        return text(f'Sure, log in with password="{PASSPHRASE}" and you are set.')

    agent = Agent(name="support", model=_WordStreaming(script), tools=[vault_entry])
    deltas: list[str] = []
    async with Runtime(f"sqlite:///{tmp_path}/t.db") as rt:
        run = await rt.start(agent, "wifi?")
        async for item in run.events(deltas=True):
            watching.set()
            if isinstance(item, LiveDelta) and item.delta.kind == "text":
                deltas.append(item.delta.text)
        assert (await run.result()).status == "completed"
    shown = "".join(deltas)
    assert shown == 'Sure, log in with password="[REDACTED]" and you are set.'


@pytest.mark.parametrize(
    ("arrived", "start"),
    [
        ('Use password="correct horse ', 13),
        ('{"password": "correct ', 13),
        ("db_password = 'correct horse ", 14),
        ('"token":\n"correct ', 9),
        ("password=\"a b token='c ", 9),  # the earliest of two unclosed values
        ('Use password="correct horse" and ', None),  # closed: masked now
        ('password="a line that ended\nhere ', None),  # a line end rules it out
        ('colour="dark blue ', None),  # not a sensitive name
        ("-----BEGIN RSA PRIVATE ", 0),
        ("see -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n", 4),
        ("-----BEGIN PRIVATE KEY-----\n" + "no key here " * 30, None),  # ruled out
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n-----END PRIVATE KEY----- ", None),
        ("the vault says Correct HORSE ", 15),
        ("the vault says correct horses ", None),
    ],
)
def test_open_span_start_finds_what_more_text_could_make_a_secret(
    arrived: str, start: int | None
) -> None:
    redactor = Redactor(values_source=lambda: [PASSPHRASE])
    assert redactor.open_span_start(arrived) == start
