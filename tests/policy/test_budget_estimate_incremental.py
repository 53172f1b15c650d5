"""The input-token estimate of a growing conversation is taken incrementally, and exactly.

Under a budget every model call is estimated (the gate, then the charge), and each
estimate used to count the whole conversation again: a turn's CPU grew with the
conversation (347 µs a turn at 100 turns, against 116 without a budget). The estimate
now remembers what a conversation's messages counted and counts only what was added.
These tests hold both halves: the count is always what a fresh count gives, whatever
happened to the conversation, and a call counts only the new messages.
"""

from __future__ import annotations

import gc
from typing import Any

import pytest

from tether.models import Message, ModelRequest, ToolCall, ToolSpec
from tether.policy import _budget
from tether.policy._budget import estimate_input_tokens


def _fresh(request: ModelRequest) -> int:
    """The estimate with nothing remembered: what every call used to compute."""
    size = _budget._text_tokens
    total = size(request.instructions)
    for m in request.messages:
        total += size(m.content or "") + size(m.name or "") + size(m.tool_call_id or "")
        total += sum(size(c.name) + size(str(c.arguments)) for c in m.tool_calls)
    for t in request.tools:
        total += size(t.name) + size(t.description) + size(str(t.parameters))
    if request.output_schema is not None:
        total += size(str(request.output_schema))
    return total + 8 * (len(request.messages) + 1)


def _request(messages: list[Message], **extra: Any) -> ModelRequest:
    return ModelRequest(instructions="Answer briefly. " * 40, messages=list(messages), **extra)


def _turn(i: int) -> list[Message]:
    call = ToolCall(id=f"c{i}", name="lookup", arguments={"q": f"question {i}"})
    return [
        Message(role="assistant", tool_calls=[call]),
        Message(role="tool", content=f"Result {i}: " + "x" * (10 * i), tool_call_id=f"c{i}"),
    ]


def test_a_growing_conversation_is_estimated_as_a_fresh_count_would() -> None:
    messages = [Message(role="user", content="Find the facts and answer.")]
    tools = [
        ToolSpec(name="lookup", description="Look one fact up.", parameters={"type": "object"})
    ]
    for i in range(30):
        request = _request(messages, tools=tools)
        assert estimate_input_tokens(request) == _fresh(request)
        messages += _turn(i)


@pytest.mark.parametrize("change", ["replaced", "shortened", "reordered", "same_length_new"])
def test_a_conversation_changed_other_than_by_appending_is_counted_again(change: str) -> None:
    messages = [Message(role="user", content="Hi")]
    for i in range(6):
        messages += _turn(i)
    first = _request(messages)
    assert estimate_input_tokens(first) == _fresh(first)
    if change == "replaced":  # a context policy swaps an old tool result for a longer one
        messages[4] = messages[4].model_copy(update={"content": "y" * 5000})
    elif change == "shortened":  # old turns dropped, the first message kept
        messages = messages[:1] + messages[7:]
    elif change == "reordered":
        messages[2], messages[4] = messages[4], messages[2]
    else:  # as many messages, the last ones different
        messages = [
            *messages[:-2],
            Message(role="assistant", content="z" * 3000),
            Message(role="user", content="Z" * 3000),
        ]
    changed = _request(messages)
    assert estimate_input_tokens(changed) == _fresh(changed)
    messages.append(Message(role="user", content="and now?" * 50))
    grown = _request(messages)
    assert estimate_input_tokens(grown) == _fresh(grown)


def test_equal_copies_of_the_counted_messages_give_the_same_count() -> None:
    messages = [Message(role="user", content="Hi"), *_turn(1), *_turn(2)]
    assert estimate_input_tokens(_request(messages)) == _fresh(_request(messages))
    copies = [messages[0]] + [m.model_copy(deep=True) for m in messages[1:]]
    assert estimate_input_tokens(_request(copies)) == _fresh(_request(copies))


def test_a_call_counts_only_the_messages_added_since_the_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counted: list[Message] = []
    real = _budget._message_tokens

    def counting(message: Message) -> int:
        counted.append(message)
        return real(message)

    monkeypatch.setattr(_budget, "_message_tokens", counting)
    messages = [Message(role="user", content="Find the facts and answer.")]
    for i in range(40):
        messages += _turn(i)
    estimate_input_tokens(_request(messages))  # the first call counts them all
    assert len(counted) == len(messages)
    for i in range(40, 45):
        counted.clear()
        new = _turn(i)
        messages += new
        request = _request(messages)
        assert estimate_input_tokens(request) == _fresh(request)
        # The new messages, and the first (held weakly, so counted each time): not the
        # 80-odd before them, as every call did before.
        assert counted == [*new, messages[0]]


def test_a_conversation_s_tally_goes_with_its_first_message() -> None:
    messages = [Message(role="user", content="a conversation that ends"), *_turn(1)]
    estimate_input_tokens(_request(messages))
    key = id(messages[0])
    assert key in _budget._TALLIES
    del messages
    gc.collect()
    assert key not in _budget._TALLIES
