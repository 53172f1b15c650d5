"""The scripted test model: replies from a script, usage estimated, nothing pinned in memory."""

from __future__ import annotations

import gc

from tether.models import Message, ModelRequest
from tether.testing import ScriptedModel, text, tool_call


async def test_turns_are_counted_per_conversation_as_it_grows() -> None:
    """A list script is played by assistant turns so far, each conversation on its own."""
    model = ScriptedModel([tool_call("look", q="a"), text("done")], keep_requests=False)
    first = [Message(role="user", content="one")]
    other = [Message(role="user", content="two")]
    reply = await model.complete(ModelRequest(messages=first))
    assert reply.tool_calls[0].name == "look"
    grown = [*first, Message(role="assistant", content=None, tool_calls=reply.tool_calls)]
    grown.append(Message(role="tool", content="found", tool_call_id=reply.tool_calls[0].id))
    assert (await model.complete(ModelRequest(messages=grown))).text == "done"
    assert (await model.complete(ModelRequest(messages=other))).tool_calls[0].name == "look"


async def test_a_finished_conversation_is_not_kept_alive() -> None:
    """The model tallies each conversation by its first message without holding it: when a
    run parks or ends and lets its messages go, the tally goes too (10,000 parked runs
    otherwise kept 10,000 user messages alive through their test model)."""
    model = ScriptedModel(lambda request: text("ok"), keep_requests=False)
    for i in range(50):
        await model.complete(ModelRequest(messages=[Message(role="user", content=f"run {i}")]))
    gc.collect()
    assert model._tally == {}
    kept = [Message(role="user", content="still here")]
    await model.complete(ModelRequest(messages=kept))
    gc.collect()
    assert len(model._tally) == 1
