"""ReAct, the default agent loop: think → act → think … → finalize.

``think`` asks the model; tool calls go to ``act`` *in the same step* (one
commit covers the reply and the tool results, so a turn costs one fsync);
``act`` validates and dispatches the calls and observes their results into
the conversation (the fold appends them), then hands back to ``think``. A
text reply ends the run, after ``finalize`` validates it when the agent has
an ``output_type``.
"""

from __future__ import annotations

import json
import re

from pydantic import ValidationError

from tether.engine._events import ModelCompleted, ModelRejected, OutputRejected
from tether.engine._gate import check_failures, reject_repeated_reply
from tether.engine._machine import Machine
from tether.engine._step import StepContext
from tether.engine._transitions import Done, Escalate, Fail, Goto, Transition

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


async def think(ctx: StepContext) -> Transition:
    """Ask the model for the next move."""
    agent = ctx.agent
    state = ctx.state
    if not _replaying(ctx):
        # Guards on a *new* model call. A step re-executed after a park (an approval) or
        # a crash replays its journaled reply, which the fold has already counted (and
        # whose own tool failures it has folded in): checking again would fail or
        # escalate the run for the very turn it already took.
        if state.model_calls >= agent.max_turns:
            return Fail(
                f"no final answer after max_turns={agent.max_turns} model calls",
                error_code="max_turns_exceeded",
            )
        escalate = check_failures(ctx)
        if escalate is not None:
            return escalate
    reply = await ctx.call_model(ctx.build_request(step_kind="act"))
    if reply.tool_calls:
        repeated = reject_repeated_reply(ctx)
        if isinstance(repeated, Escalate):
            return repeated
        if repeated:
            return Goto("think")
        return Goto("act", commit=False)
    if reply.text is None or not reply.text.strip():
        ctx.record(
            ModelRejected(
                reason="the reply had neither text nor a tool call",
                hint="Call one of the tools, or reply with your final answer as text.",
            )
        )
        return Goto("think")
    if agent.output_type is not None:
        return Goto("finalize", commit=False)
    return Done(reply.text)


def _replaying(ctx: StepContext) -> bool:
    """Whether this step already has its model reply in the journal (a re-execution).

    ``think`` opens every ReAct step, so the step's journal holds a ``model.completed``
    only when the step is being executed again from the log: ``call_model`` will return
    that recorded reply, not ask the model.
    """
    return any(isinstance(event, ModelCompleted) for event in ctx.state.journal.values())


async def act(ctx: StepContext) -> Transition:
    """Dispatch the tool calls of the last reply; their results join the conversation."""
    reply = ctx.state.last_reply
    assert reply is not None
    await ctx.call_tools(reply.tool_calls)
    return Goto("think")


async def finalize(ctx: StepContext) -> Transition:
    """Validate the final answer against ``output_type``; ask for a repair if it fails."""
    agent = ctx.agent
    adapter = agent.output_adapter
    reply = ctx.state.last_reply
    assert adapter is not None and reply is not None and reply.text is not None
    text = reply.text
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        value = adapter.validate_json(text)
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        attempt = ctx.state.output_repairs + 1
        if attempt > agent.max_output_repairs:
            return Fail(
                f"final answer failed the output schema after {agent.max_output_repairs} "
                f"repair turns: {errors}",
                error_code="output_validation_failed",
            )
        schema = json.dumps(agent.output_schema, separators=(",", ":"))
        ctx.record(
            OutputRejected(errors=f"{errors}. Required JSON schema: {schema}", attempt=attempt)
        )
        return Goto("think")
    return Done(adapter.dump_python(value, mode="json"))


def react_machine() -> Machine:
    """Build the ReAct machine (a fresh instance per agent)."""
    machine = Machine("react", initial="think")
    machine.state(next=["act", "finalize", "think"], terminal=True)(think)
    machine.state(next=["think"])(act)
    machine.state(next=["think"], terminal=True)(finalize)
    return machine
