"""A lone UTF-16 surrogate in any text never stops a run: it is persisted as U+FFFD.

``json.loads('"\\ud83d"')`` (half of a cut emoji) and ``surrogateescape`` give Python
strings with no UTF-8 form. Wherever such text comes from (a tool's result, a model's
reply, a cancel's reason, a run's input), the event that holds it is written with
U+FFFD in its place, the run goes on, and its log reads back.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic_core import PydanticSerializationError

from tether import Agent, Runtime, tool
from tether.engine import (
    ModelCompleted,
    PayloadProtection,
    RunCreated,
    RunFinished,
    SignalReceived,
    ToolCompleted,
    decode_event,
    encode_event,
)
from tether.engine._events import encode_event_as_stored
from tether.models import ModelRequest, ModelResponse, ToolCall, Usage
from tether.observe import Redactor
from tether.testing import ScriptedModel, text, tool_call

CUT_EMOJI = '{"title": "Great product \\ud83d", "stars": 5}'  # third-party JSON, cut short


def _clean(data: bytes) -> None:
    """``data`` is strict UTF-8 and decodes to an event."""
    data.decode("utf-8")  # strict: raises on anything that is not valid UTF-8
    decode_event(data)


# -- encode_event -----------------------------------------------------------------------


def test_a_lone_surrogate_is_persisted_as_the_replacement_character() -> None:
    """Values, keys, nested lists and tuples: each lone surrogate becomes U+FFFD."""
    event = SignalReceived(
        name="cancel",
        payload={"reason": "stop \ud800", "k\udc80": ["ok", ("a\udfff",)], "n": 1},
        by="ops \ud83d",
    )
    data = encode_event(event)
    _clean(data)
    back = decode_event(data)
    assert isinstance(back, SignalReceived)
    assert back.payload == {"reason": "stop \ufffd", "k\ufffd": ["ok", ["a\ufffd"]], "n": 1}
    assert back.by == "ops \ufffd"


def test_a_surrogate_pair_held_as_two_code_points_becomes_its_character() -> None:
    """``"\\ud83d\\ude00"`` in a Python string is the emoji it encodes, not two U+FFFD."""
    data = encode_event(SignalReceived(name="input", payload={"message": "hi \ud83d\ude00"}))
    back = decode_event(data)
    assert isinstance(back, SignalReceived)
    assert back.payload == {"message": "hi \U0001f600"}


def test_replacing_keeps_the_fast_paths_fields_exclusions_and_format() -> None:
    """A replaced event is written exactly as the same event with U+FFFD written in."""
    response = ModelResponse(
        text="a\ud800b",
        tool_calls=[ToolCall(id="c1", name="look", arguments={"q": "x\udc80"})],
        usage=Usage(input_tokens=3, output_tokens=4),
    )
    replaced = encode_event(ModelCompleted(call=0, response=response, latency_ms=1.5))
    expected = encode_event(
        ModelCompleted(
            call=0,
            response=ModelResponse(
                text="a\ufffdb",
                tool_calls=[ToolCall(id="c1", name="look", arguments={"q": "x\ufffd"})],
                usage=Usage(input_tokens=3, output_tokens=4),
            ),
            latency_ms=1.5,
        )
    )
    assert replaced == expected
    assert b'"attempt"' not in replaced  # the first attempt's default is still left out


def test_an_event_that_fails_for_another_reason_still_raises() -> None:
    """Only surrogates are replaced: a value pydantic cannot write is still an error."""
    with pytest.raises(PydanticSerializationError):
        encode_event(RunCreated(agent="a", agent_version="1", initial_state="s", input=object()))


def test_encode_event_as_stored_gives_back_the_event_the_log_holds() -> None:
    """The folded event is the replaced one (and a clean event is returned as is)."""
    response = ModelResponse(text="hi", usage=Usage(input_tokens=1, cached_input_tokens=1))
    for clean in (
        SignalReceived(name="cancel", payload={"reason": "stop"}),
        ModelCompleted(call=0, response=response),
        ModelCompleted(call=0, response=response, attempt=2),
        ToolCompleted(call=1, call_id="c", tool="t", result="ok"),
        ToolCompleted(call=1, call_id="c", tool="t", result="ok", attempt=3),
    ):
        assert encode_event_as_stored(clean) == (clean, encode_event(clean))
    dirty = RunFinished(status="completed", output="done \ud800")
    stored, data = encode_event_as_stored(dirty)
    assert isinstance(stored, RunFinished) and stored.output == "done \ufffd"
    assert data == encode_event(dirty) and decode_event(data) == stored
    assert dirty.output == "done \ud800"  # the caller's event is not changed


def test_redaction_sees_the_bytes_that_are_persisted() -> None:
    """A secret next to a lone surrogate is still found and sealed; the log reads back."""
    secret = "sk-live-4f9a8b7c6d5e4f3a2b1c"
    protection = PayloadProtection(redactor=Redactor(values_source=lambda: [secret]))
    event = ToolCompleted(call=1, call_id="c", tool="read", result={"note": f"key {secret} \ud800"})
    _, data = protection.protect(event)
    _clean(data)
    assert secret.encode() not in data
    assert "\ufffd".encode() in data


# -- whole runs -------------------------------------------------------------------------


@tool
def read_reviews(product: str) -> dict[str, Any]:
    """Fetch reviews from the review service."""
    result: dict[str, Any] = json.loads(CUT_EMOJI)
    return result


async def _log(rt: Runtime, run_id: str) -> list[Any]:
    rows = await rt.store.load_events(run_id)
    for row in rows:
        _clean(row.data)
    return [decode_event(row.data) for row in rows]


async def test_a_tool_result_with_a_lone_surrogate_reaches_the_model_as_u_fffd(
    store_url: str,
) -> None:
    """The run completes; the model, the live run and the log all see U+FFFD."""
    shown: list[str] = []

    def script(request: ModelRequest) -> Any:
        if request.messages[-1].role == "tool":
            shown.append(request.messages[-1].content or "")
            return text("The reviews are good.")
        return tool_call("read_reviews", product="p1")

    agent = Agent(name="reviews", model=ScriptedModel(script), tools=[read_reviews])
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "How are the reviews of p1?")
        result = await run.result(timeout=30)
        log = await _log(rt, run.run_id)

    assert result.status == "completed", result.error
    assert json.loads(shown[0]) == {"title": "Great product \ufffd", "stars": 5}
    [completed] = [e for e in log if isinstance(e, ToolCompleted)]
    assert completed.result == {"title": "Great product \ufffd", "stars": 5}


async def test_a_model_reply_with_a_lone_surrogate_completes_and_reads_back(
    store_url: str,
) -> None:
    """A scripted reply (and a run input) holding lone surrogates: completed, log readable."""
    agent = Agent(name="replier", model=ScriptedModel([text("Done \ud83d, see \udc80")]))
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "go \ud800")
        result = await run.result(timeout=30)
        log = await _log(rt, run.run_id)
        state = await rt.load_state(run.run_id)

    assert result.status == "completed", result.error
    assert isinstance(log[0], RunCreated) and log[0].input == "go \ufffd"
    [finished] = [e for e in log if isinstance(e, RunFinished)]
    assert finished.status == "completed"
    assert finished.output == "Done \ufffd, see \ufffd"
    assert state.status == "completed"
    # The run went on from what the log holds, not from text only this process had.
    assert result.output == finished.output


@tool
async def slow_lookup(x: str) -> str:
    """A slow lookup."""
    await asyncio.sleep(30)
    return x


async def test_a_cancel_whose_reason_holds_a_lone_surrogate_cancels_the_run(
    store_url: str,
) -> None:
    """The tool in flight is interrupted, the run ends cancelled, the reason is recorded."""
    started = asyncio.Event()

    def script(request: ModelRequest) -> Any:
        started.set()
        return tool_call("slow_lookup", x="one")

    agent = Agent(name="slow", model=ScriptedModel(script), tools=[slow_lookup])
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "look it up")
        await asyncio.wait_for(started.wait(), 10)
        await asyncio.sleep(0.1)  # the lookup is in flight
        await rt.cancel(run.run_id, reason="stop \ud800", by="ops")
        result = await run.result(timeout=30)
        log = await _log(rt, run.run_id)

    assert result.status == "cancelled"
    [signal] = [e for e in log if isinstance(e, SignalReceived) and e.name == "cancel"]
    assert signal.payload == {"reason": "stop \ufffd"}
    assert isinstance(log[-1], RunFinished) or log[-1].type == "run.status"
    assert [e.status for e in log if isinstance(e, RunFinished)] == ["cancelled"]
    assert not any(isinstance(e, ToolCompleted) for e in log)
