"""Control-path correctness: the gate decides on what executes, approvals bind to one call.

Each test here reproduces a bypass found on the old code (issue 7): string amounts
that skipped approval and deny rules, predicates that failed the run, approvals
keyed by a provider id that two calls shared or a later turn reused, edits that
walked around a deny rule, a kill switch that recovery ignored and escalations that
could not be resumed.
"""

from __future__ import annotations

import pickle
from typing import Annotated, Any

import pytest
from pydantic import BeforeValidator, PlainSerializer

from tether import Agent, Runtime, tool
from tether.engine import ApprovalRequested, PolicyDecided, ToolCompleted, ToolFailed
from tether.exceptions import (
    ApprovalError,
    BudgetExceededError,
    RunNotWaitingError,
    TetherError,
)
from tether.models import ModelRequest, ModelResponse, ToolCall
from tether.policy import Policy, PolicyFile
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import ToolCallError

EXECUTED: list[dict[str, Any]] = []

RULES = PolicyFile.loads(
    """
version = 1

[[rules]]
name = "big-refunds"
tool = "refund_order"
when = "amount_cents > 5000"
action = "require_approval"
reason = "Refunds over $50 need a human."

[[rules]]
name = "huge-refunds"
tool = "refund_order"
when = "amount_cents > 100000"
action = "deny"
reason = "Refunds over $1000 are never made by an agent."
""",
    source="control.toml",
)


@tool(effect="write", idempotent=True)
def refund_order(order_id: str, amount_cents: int) -> str:
    """Refund part of an order."""
    EXECUTED.append({"order_id": order_id, "amount_cents": amount_cents})
    return f"refunded {amount_cents} cents on {order_id}"


@pytest.fixture(autouse=True)
def _clear() -> None:
    EXECUTED.clear()


def _agent(
    script: Any, *, tools: list[Any] | None = None, rules: Any = RULES, **policy: Any
) -> Agent:
    return Agent(
        name="control",
        model=ScriptedModel(script),
        tools=tools or [refund_order],
        policy=Policy(rules=rules, **policy),
    )


def _then_answer(first: Any) -> Any:
    """Reply ``first`` to the user's message, then echo the last tool result as text."""

    def script(req: ModelRequest) -> Any:
        last = req.messages[-1]
        if last.role == "user" and len(req.messages) == 1:
            return first
        if last.role == "tool":
            return text(f"done: {last.content}")
        return text("ok")

    return script


async def _events(rt: Runtime, run_id: str) -> list[Any]:
    return [e.event async for e in rt.get(run_id).events(follow=False)]


# -- 1. policy decides on exactly what executes ---------------------------------------------


async def test_string_amount_900000_is_coerced_then_denied(store_url: str) -> None:
    """ "900000" as a string is coerced to 900000 before the gate: the deny rule fires."""
    call = tool_call("refund_order", order_id="1234", amount_cents="900000")
    async with Runtime(store_url) as rt:
        run = await rt.start(_agent(_then_answer(call)), "refund")
        result = await run.result()
        events = await _events(rt, run.run_id)
    assert result.status == "completed"
    assert EXECUTED == []
    (decided,) = [e for e in events if isinstance(e, PolicyDecided)]
    assert (decided.action, decided.rule) == ("deny", "huge-refunds")
    (failed,) = [e for e in events if isinstance(e, ToolFailed)]
    assert failed.error.error_code == "denied"


def _dollars_to_cents(value: object) -> int:
    """A validator that is not idempotent: "$900.00" becomes 90000, and 90000 9000000."""
    return round(float(str(value).strip().lstrip("$")) * 100)


@tool(effect="write")
def refund_dollars(
    order_id: str, amount_cents: Annotated[int, BeforeValidator(_dollars_to_cents)]
) -> str:
    """Refund; the amount may be given in dollars ("$900.00")."""
    EXECUTED.append({"order_id": order_id, "amount_cents": amount_cents})
    return f"refunded {amount_cents} cents on {order_id}"


@tool(effect="write")
def refund_unserializable(
    order_id: str, amount_cents: Annotated[int, PlainSerializer(lambda v: 1 / 0)]
) -> str:
    """Refund; its arguments cannot be written as JSON."""
    EXECUTED.append({"order_id": order_id, "amount_cents": amount_cents})
    return "refunded"


@tool(effect="write")
def refund_trimmed(order_id: Annotated[str, BeforeValidator(lambda v: str(v).strip())]) -> str:
    """Refund; an idempotent validator of the tool's own."""
    EXECUTED.append({"order_id": order_id})
    return f"refunded {order_id}"


@pytest.mark.parametrize(
    ("tool_", "arguments", "says"),
    [
        (refund_dollars, {"order_id": "1", "amount_cents": "$900.00"}, "not idempotent"),
        (refund_unserializable, {"order_id": "1", "amount_cents": 5}, "cannot be used"),
    ],
    ids=["a validator that is not idempotent", "arguments that cannot be normalized"],
)
async def test_a_call_whose_arguments_the_gate_cannot_pin_never_runs(
    store_url: str, tool_: Any, arguments: dict[str, Any], says: str
) -> None:
    """The tool runs only with the values the policy checked, or not at all.

    On the old code the executor validated the normalized arguments again, so a
    dollars-to-cents validator turned the 90000 a deny rule had checked into 9000000;
    and arguments that failed to normalize skipped the gate and ran as they came.
    """
    call = tool_call(tool_.name, **arguments)
    async with Runtime(store_url) as rt:
        agent = _agent(_then_answer(call), tools=[tool_], rules=None)
        run = await rt.start(agent, "refund")
        result = await run.result()
        events = await _events(rt, run.run_id)
    assert result.status == "completed", result.error
    assert EXECUTED == []
    assert not [e for e in events if type(e).__name__ == "ToolStarted"]
    (failed,) = [e for e in events if isinstance(e, ToolFailed)]
    assert failed.error.error_code == "invalid_arguments" and says in failed.error.message


async def test_an_idempotent_validator_of_the_tools_own_runs_as_checked(store_url: str) -> None:
    call = tool_call("refund_trimmed", order_id="  A-1 ")
    async with Runtime(store_url) as rt:
        agent = _agent(_then_answer(call), tools=[refund_trimmed], rules=None)
        run = await rt.start(agent, "refund")
        result = await run.result()
        events = await _events(rt, run.run_id)
    assert result.status == "completed", result.error
    assert EXECUTED == [{"order_id": "A-1"}]
    (done,) = [e for e in events if isinstance(e, ToolCompleted)]
    assert done.result == "refunded A-1"


@pytest.mark.parametrize("amount", ["9000", " 9000 ", "9_000", "9000.0", 9000.0])
async def test_string_amounts_need_approval_and_run_as_validated(
    store_url: str, amount: Any
) -> None:
    """Every spelling of 9000 needs approval; the approver and the tool see the int 9000."""
    call = tool_call("refund_order", order_id="1234", amount_cents=amount)
    async with Runtime(store_url) as rt:
        run = await rt.start(_agent(_then_answer(call)), "refund")
        result = await run.result()
        assert result.status == "waiting"
        (pending,) = await run.pending_approvals()
        assert pending.arguments == {"order_id": "1234", "amount_cents": 9000}
        await rt.approve(run.run_id, pending.approval_id, by="ana")
        result = await rt.get(run.run_id).result()
        events = await _events(rt, run.run_id)
    assert result.status == "completed"
    assert EXECUTED == [{"order_id": "1234", "amount_cents": 9000}]
    (request,) = [e for e in events if isinstance(e, ApprovalRequested)]
    assert request.arguments["amount_cents"] == 9000


async def test_a_predicate_that_raises_requires_approval_instead_of_failing(
    store_url: str,
) -> None:
    """``lambda a: a["amount"] > 5000`` meeting a missing key fails closed, not the run."""

    @tool(effect="write", requires_approval=lambda a: a["amount"] > 5000)
    def pay(order_id: str, amount_cents: int) -> str:
        """Pay out."""
        EXECUTED.append({"order_id": order_id})
        return "paid"

    call = tool_call("pay", order_id="1", amount_cents=10)
    async with Runtime(store_url) as rt:
        run = await rt.start(_agent(_then_answer(call), tools=[pay], rules=None), "pay")
        result = await run.result()
        (pending,) = await run.pending_approvals()
    assert result.status == "waiting"
    assert "KeyError" in pending.reason
    assert EXECUTED == []


async def test_a_hook_that_raises_denies_instead_of_failing(store_url: str) -> None:
    """A before_tool hook that raises denies the call with a reason; the run goes on."""
    from tether.policy import Hooks

    def hook(call: ToolCall, arguments: dict[str, Any]) -> None:
        raise RuntimeError("hook broke")

    call = tool_call("refund_order", order_id="1", amount_cents=10)
    async with Runtime(store_url) as rt:
        agent = _agent(_then_answer(call), hooks=Hooks(before_tool=hook))
        run = await rt.start(agent, "refund")
        result = await run.result()
    assert result.status == "completed"
    assert "hook broke" in result.output
    assert EXECUTED == []


# -- 2. an approval binds to one exact call -------------------------------------------------


def _shared_id_reply() -> ModelResponse:
    return ModelResponse(
        tool_calls=[
            ToolCall(
                id="call_x", name="refund_order", arguments={"order_id": "1", "amount_cents": 6000}
            ),
            ToolCall(
                id="call_x", name="refund_order", arguments={"order_id": "2", "amount_cents": 90000}
            ),
        ],
        finish_reason="tool_calls",
    )


async def test_shared_call_id_raises_two_approvals_and_approving_one_runs_only_it(
    store_url: str,
) -> None:
    """Two calls sharing a provider id get two approvals; approving the 6000 one runs only it."""
    async with Runtime(store_url) as rt:
        run = await rt.start(_agent(_then_answer(_shared_id_reply())), "refund both")
        assert (await run.result()).status == "waiting"
        pending = await run.pending_approvals()
        assert [p.arguments["amount_cents"] for p in pending] == [6000, 90000]
        assert len({p.approval_id for p in pending}) == 2
        with pytest.raises(ApprovalError, match="reused"):
            await rt.approve(run.run_id, "call_x", by="ana")
        small = next(p for p in pending if p.arguments["amount_cents"] == 6000)
        big = next(p for p in pending if p.arguments["amount_cents"] == 90000)
        await rt.approve(run.run_id, small.approval_id, by="ana")
        assert EXECUTED == []  # the other call still waits: nothing ran
        await rt.deny(run.run_id, big.approval_id, by="ana", reason="too much")
        result = await rt.get(run.run_id).result()
    assert result.status == "completed"
    assert EXECUTED == [{"order_id": "1", "amount_cents": 6000}]


async def test_a_call_id_reused_in_a_later_turn_needs_its_own_approval(store_url: str) -> None:
    """An id reused by a later turn does not run on the earlier approval."""
    replies = [
        ToolCall(
            id="call_0", name="refund_order", arguments={"order_id": "1", "amount_cents": 6000}
        ),
        ToolCall(
            id="call_0", name="refund_order", arguments={"order_id": "1", "amount_cents": 90000}
        ),
        text("done"),
    ]
    async with Runtime(store_url) as rt:
        run = await rt.start(_agent(replies), "refund")
        assert (await run.result()).status == "waiting"
        (first,) = await run.pending_approvals()
        await rt.approve(run.run_id, first.approval_id, by="ana")
        result = await rt.get(run.run_id).result()
        assert result.status == "waiting"  # the second call waits for its own decision
        (second,) = await run.pending_approvals()
        assert second.approval_id != first.approval_id
        assert second.arguments["amount_cents"] == 90000
        assert EXECUTED == [{"order_id": "1", "amount_cents": 6000}]
        await rt.deny(run.run_id, second.approval_id, by="ana", reason="no")
        assert (await rt.get(run.run_id).result()).status == "completed"
    assert EXECUTED == [{"order_id": "1", "amount_cents": 6000}]


async def test_edited_arguments_cannot_pass_a_deny_rule(store_url: str) -> None:
    """Approving with amount_cents=900000 (or "900000") is re-checked and denied."""
    call = tool_call("refund_order", order_id="1", amount_cents=6000)
    async with Runtime(store_url) as rt:
        run = await rt.start(_agent(_then_answer(call)), "refund")
        await run.result()
        (pending,) = await run.pending_approvals()
        await rt.approve(
            run.run_id,
            pending.approval_id,
            by="ana",
            arguments={"order_id": "1", "amount_cents": "900000"},
        )
        result = await rt.get(run.run_id).result()
        events = await _events(rt, run.run_id)
    assert result.status == "completed"
    assert EXECUTED == []
    assert any(isinstance(e, PolicyDecided) and e.rule == "huge-refunds" for e in events)


async def test_edited_arguments_from_an_agentless_approve_are_rechecked(store_url: str) -> None:
    """A runtime without the agent records the edit; the gate that runs it still denies."""
    call = tool_call("refund_order", order_id="1", amount_cents=6000)
    agent = _agent(_then_answer(call))
    async with Runtime(store_url, recover=False) as rt:
        run = await rt.start(agent, "refund")
        await run.result()
        (pending,) = await run.pending_approvals()
    async with Runtime(store_url, recover=False) as bare:  # knows no agent
        await bare.approve(
            run.run_id,
            pending.approval_id,
            by="ana",
            arguments={"order_id": "1", "amount_cents": 900000},
        )
    async with Runtime(store_url, agents=[agent]) as rt:
        result = await rt.get(run.run_id).result(timeout=30)
    assert result.status == "completed"
    assert EXECUTED == []


async def test_edited_arguments_that_break_the_schema_are_refused(store_url: str) -> None:
    """An edit that does not validate is an ApprovalError, and nothing changes."""
    call = tool_call("refund_order", order_id="1", amount_cents=6000)
    async with Runtime(store_url) as rt:
        run = await rt.start(_agent(_then_answer(call)), "refund")
        await run.result()
        (pending,) = await run.pending_approvals()
        before = len(await _events(rt, run.run_id))
        with pytest.raises(ApprovalError, match="schema"):
            await rt.approve(
                run.run_id, pending.approval_id, by="ana", arguments={"amount_cents": "lots"}
            )
        assert len(await _events(rt, run.run_id)) == before
    assert EXECUTED == []


# -- 7. escalation can be resumed -----------------------------------------------------------

ESCALATE = PolicyFile.loads(
    """
version = 1

[[rules]]
name = "review-refunds"
tool = "refund_order"
action = "escalate"
reason = "Refunds are reviewed by a person."
""",
    source="escalate.toml",
)


def _escalating_agent() -> Agent:
    call = tool_call("refund_order", order_id="1", amount_cents=100)
    return Agent(
        name="control",
        model=ScriptedModel(_then_answer(call)),
        tools=[refund_order],
        policy=Policy(rules=ESCALATE),
    )


async def test_resume_with_approval_runs_the_escalated_call(store_url: str) -> None:
    async with Runtime(store_url) as rt:
        run = await rt.start(_escalating_agent(), "refund")
        assert (await run.result()).status == "escalated"
        with pytest.raises(RunNotWaitingError, match="approve"):
            await rt.signal(run.run_id, "resume", by="lead")
        await rt.signal(run.run_id, "resume", {"approve": True}, by="lead")
        result = await rt.get(run.run_id).result()
    assert result.status == "completed"
    assert EXECUTED == [{"order_id": "1", "amount_cents": 100}]


async def test_resume_with_denial_tells_the_model(store_url: str) -> None:
    async with Runtime(store_url) as rt:
        run = await rt.start(_escalating_agent(), "refund")
        await run.result()
        await rt.signal(run.run_id, "resume", {"approve": False, "reason": "fraud"}, by="lead")
        result = await rt.get(run.run_id).result()
    assert result.status == "completed"
    assert "denied" in result.output and "fraud" in result.output
    assert EXECUTED == []


async def test_input_after_escalation_is_a_new_user_message(store_url: str) -> None:
    seen: list[list[str]] = []

    def script(req: ModelRequest) -> Any:
        seen.append([m.role for m in req.messages])
        if len(req.messages) == 1:
            return tool_call("refund_order", order_id="1", amount_cents=100)
        return text(f"last: {req.messages[-1].content}")

    agent = Agent(
        name="control",
        model=ScriptedModel(script),
        tools=[refund_order],
        policy=Policy(rules=ESCALATE),
    )
    async with Runtime(store_url) as rt:
        run = await rt.start(agent, "refund")
        assert (await run.result()).status == "escalated"
        await rt.signal(run.run_id, "input", "Please just check the order status", by="lead")
        result = await rt.get(run.run_id).result()
    assert result.status == "completed"
    assert result.output == "last: Please just check the order status"
    # The declined call is answered before the person's message: a valid conversation.
    assert seen[-1] == ["user", "assistant", "tool", "user"]
    assert EXECUTED == []


# -- 10. smaller defects -------------------------------------------------------------------


def test_pickled_transient_tool_error_keeps_its_type() -> None:
    from tether.tools import TransientToolError

    err = TransientToolError("try later", hint="wait a minute")
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is TransientToolError
    assert isinstance(again, ToolCallError)
    assert (again.message, again.hint, again.retryable) == ("try later", "wait a minute", True)


def test_budget_exceeded_error_is_a_tether_error_and_takes_notes() -> None:
    err = BudgetExceededError("tool_calls", "budget exceeded: 3 tool calls", {"tool_calls": {}})
    err.add_note("while deciding refund_order")
    assert isinstance(err, TetherError)
    assert err.__notes__ == ["while deciding refund_order"]
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), again.dimension) == (BudgetExceededError, "tool_calls")


def test_the_policy_is_part_of_the_agent_version() -> None:
    base = _agent([text("x")])
    other_rules = PolicyFile.loads(
        'version = 1\n[[rules]]\nname = "x"\ntool = "refund_order"\naction = "deny"\n',
        source="x.toml",
    )
    from tether.policy import Budget

    variants = [
        Agent(
            name="control", model=base.model, tools=[refund_order], policy=Policy(rules=other_rules)
        ),
        Agent(
            name="control",
            model=base.model,
            tools=[refund_order],
            policy=Policy(rules=RULES, allow_tools=["refund_*"]),
        ),
        Agent(
            name="control",
            model=base.model,
            tools=[refund_order],
            policy=Policy(rules=RULES, budget=Budget(max_tool_calls=3)),
        ),
    ]
    assert len({base.version, *(v.version for v in variants)}) == 4


async def test_timer_pass_with_approvals_still_pending_records_no_status_change(
    store_url: str,
) -> None:
    """Expiring one of two approvals leaves the run waiting without waiting→waiting."""
    from tether.engine import RunStatusChanged
    from tether.policy import ApprovalSettings

    async with Runtime(store_url, recover=False) as rt:
        agent = _agent(
            _then_answer(_shared_id_reply()), approvals=ApprovalSettings(timeout_seconds=60)
        )
        run = await rt.start(agent, "refund both")
        await run.result()
        state = await run.state()
        first = state.pending_approvals[0]
        # Make only the first request due: expire it by moving "now" past it.
        assert first.request.expires_at is not None
        fired = await rt.fire_timers(now=first.request.expires_at + 1)
        events = await _events(rt, run.run_id)
    assert fired == [run.run_id]
    moves = [(e.previous, e.status) for e in events if isinstance(e, RunStatusChanged)]
    assert ("waiting", "waiting") not in moves
    assert EXECUTED == []


async def test_completed_tool_results_are_journaled_once(store_url: str) -> None:
    """Sanity: an approved call completes once and only once."""
    call = tool_call("refund_order", order_id="1", amount_cents=6000)
    async with Runtime(store_url) as rt:
        run = await rt.start(_agent(_then_answer(call)), "refund")
        await run.result()
        (pending,) = await run.pending_approvals()
        await rt.approve(run.run_id, pending.approval_id, by="ana")
        await rt.get(run.run_id).result()
        events = await _events(rt, run.run_id)
    assert len([e for e in events if isinstance(e, ToolCompleted)]) == 1
    assert EXECUTED == [{"order_id": "1", "amount_cents": 6000}]


async def test_a_custom_model_client_sending_600_deep_arguments_does_not_fail_the_run(
    store_url: str,
) -> None:
    """Arguments too deep to store become invalid_arguments the model sees (no crash)."""
    deep: Any = 1
    for _ in range(600):
        deep = {"a": deep}
    reply = ModelResponse(
        tool_calls=[ToolCall(id="c1", name="refund_order", arguments={"order_id": deep})],
        finish_reason="tool_calls",
    )
    async with Runtime(store_url) as rt:
        run = await rt.start(_agent(_then_answer(reply)), "refund")
        result = await run.result()
    assert result.status == "completed"
    assert "deeper than 64" in result.output
    assert EXECUTED == []
