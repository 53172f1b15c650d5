"""Budgets: hard limits checked *before* every call, so a limit is never overshot.

A run's budget is pinned in ``run.created``. Before a model call the engine
over-estimates the call's input tokens (a token per UTF-8 byte outside ASCII, per
digit, capital or punctuation mark, and per three lower-case letters or spaces, plus
framing: see :func:`estimate_input_tokens`), caps the reply's ``max_tokens`` to what
the output budget and the dollars left can pay for, and prices that worst case; if any
limit would be crossed (with a cost budget: if not even a one-token reply is
affordable), the run ends ``failed`` with ``budget_exceeded`` and a summary of
use instead of making the call. Providers honour ``max_tokens``, so actual use
stays inside. A call that may go to one of several models (a
:class:`~tether.models.Router`) is priced at the most expensive of them.
Crossing ``soft_ratio`` of a limit records ``budget.warned`` once per
dimension and may switch the run to a cheaper model or escalate it.
"""

from __future__ import annotations

import string
import weakref
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tether.exceptions import BudgetExceededError, UserError
from tether.models import Message, ModelRequest, ModelResponse, ToolSpec, Usage


@dataclass(frozen=True, kw_only=True, slots=True)
class Budget:
    """Limits of one run. ``None`` means unlimited.

    Args:
        max_model_calls: Model calls, counting retries.
        max_tool_calls: Tool calls in total.
        max_calls_per_tool: Tool calls per tool name.
        max_input_tokens: Prompt tokens summed over calls (cached ones included).
        max_output_tokens: Reply tokens summed over calls.
        max_cost_usd: Dollars, from the runtime's pricing table. A model with no
            known price cannot be checked, so a cost budget refuses to call it. Each
            call's ``max_tokens`` is capped to the reply the dollars left can pay for
            (at most the request's own ``max_tokens``, or :data:`DEFAULT_REPLY_TOKENS`
            when it sets none): set ``ModelSettings.max_tokens`` for longer replies.
        max_wall_seconds: Seconds spent running (time parked waiting for a person
            does not count).
        soft_ratio: Fraction of a limit that triggers ``budget.warned`` (and the
            policy's ``degrade_model``, if it has one).
        escalate_on_soft_limit: Hand the run to a person at the soft threshold.
        on_tool_limit: What a call over ``max_tool_calls`` or ``max_calls_per_tool``
            does: ``"fail"`` ends the run with ``budget_exceeded``; ``"refuse"`` makes
            them a ceiling: the call is not made, the model gets a ``tool_call_limit``
            error and the run goes on, so it can still answer.
    """

    max_model_calls: int | None = None
    max_tool_calls: int | None = None
    max_calls_per_tool: Mapping[str, int] = field(default_factory=dict)
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    max_cost_usd: float | None = None
    max_wall_seconds: float | None = None
    soft_ratio: float = 0.8
    escalate_on_soft_limit: bool = False
    on_tool_limit: Literal["fail", "refuse"] = "fail"

    def __post_init__(self) -> None:
        if self.on_tool_limit not in ("fail", "refuse"):
            raise UserError(
                f"Budget.on_tool_limit must be 'fail' or 'refuse', not {self.on_tool_limit!r}"
            )

    @property
    def limits_model_use(self) -> bool:
        """Whether it limits what model calls use: their number, tokens or dollars."""
        return (
            self.max_model_calls is not None
            or self.max_input_tokens is not None
            or self.max_output_tokens is not None
            or self.max_cost_usd is not None
        )

    @property
    def counts_tokens(self) -> bool:
        """Whether it limits tokens or dollars: what the estimates of a call protect (a
        budget of calls, tool calls or running time alone needs none)."""
        return (
            self.max_input_tokens is not None
            or self.max_output_tokens is not None
            or self.max_cost_usd is not None
        )

    @property
    def limits_tool_use(self) -> bool:
        """Whether it limits tool calls, in all or per tool."""
        return self.max_tool_calls is not None or bool(self.max_calls_per_tool)

    def to_record(self) -> dict[str, Any]:
        """JSON-compatible form, pinned in ``run.created``."""
        record = asdict(self)
        record["max_calls_per_tool"] = dict(self.max_calls_per_tool)
        if self.on_tool_limit == "fail":
            # Left out at its default: budgets from before the option keep their record
            # (and the agents using them their version).
            del record["on_tool_limit"]
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | None) -> Budget | None:
        """Rebuild a pinned budget."""
        return None if record is None else cls(**record)


def estimate_input_tokens(request: ModelRequest) -> int:
    """A deliberate over-estimate of a request's prompt tokens, counted from its text.

    Framing is 8 tokens a message. The text is counted by what byte-level BPE tokenizers
    (GPT, Claude, Llama 3, SmolLM2) do with it: they start from one token per UTF-8 byte
    and merge only the common runs, so

    - outside ASCII, one token per UTF-8 byte, which no such tokenizer exceeds (a
      character is 2-4 bytes and 1-4 tokens: runic text ran at nine times ``chars / 3``);
    - digits, capitals, punctuation and control characters, one each (digits are one
      token each in SmolLM2's tokenizer, and CSV, JSON, log lines and markup, a tool's
      usual results, ran at two to three times ``chars / 3``);
    - lower-case letters and spaces, a token per three (prose and code run at about four
      characters a token).

    Prose and code come out at 1.5-1.7 times what SmolLM2 spends, numbers and markup
    at 1-1.3 times, text outside ASCII at 1-2 times. Only text made to defeat a merge
    table, such as a long run of random lower-case letters, spends more (about 1.8 times).
    Cheap: two or three passes in C over the text, no loop per character. A run's
    conversation only grows, and every call is estimated (the gate, then the charge),
    so what a conversation, an agent's tools and its instructions count is remembered
    while they live (:func:`_conversation_tokens`): a call counts its new messages, not
    the whole conversation again (under a budget, that pass had made a turn's cost grow with
    the conversation: 347 µs of CPU a turn at 100 turns, against 116 without a budget).
    """
    total = _long_text_tokens(request.instructions)
    total += _conversation_tokens(request.messages)
    total += _tools_tokens(request.tools)
    if request.output_schema is not None:  # sent with the prompt, and billed as it
        total += _object_tokens(request.output_schema)
    return total + 8 * (len(request.messages) + 1)


# What a conversation, the tool specs, a long text or a schema counts, remembered while
# it lives (see estimate_input_tokens).


@dataclass(slots=True)
class _Tally:
    """What a conversation's messages after its first counted, and which they were."""

    first: weakref.ref[Message]
    counted: list[Message]
    """``messages[1:]`` as counted: compared with the next request's (in C, each
    element by identity first), so a message replaced by another is counted again."""
    tokens: int


_TALLIES: dict[int, _Tally] = {}
"""By ``id`` of a conversation's first message, for as long as that message lives (it is
held weakly; the rest, strongly, by the tally and by the run's state alike)."""
_TOOLS: dict[int, tuple[list[ToolSpec], list[ToolSpec], int]] = {}
_LONG_TEXTS: dict[str, int] = {}
_OBJECTS: dict[int, tuple[Any, int]] = {}
_MAX_REMEMBERED = 256
"""Tool lists, long texts and schemas remembered (an agent's own: few)."""
_LONG = 256
"""Characters from which a text's count is remembered rather than taken again."""


def _message_tokens(message: Message) -> int:
    """What one message counts: its text, name, call id and tool calls."""
    size = _text_tokens
    return (
        size(message.content or "")
        + size(message.name or "")
        + size(message.tool_call_id or "")
        + sum([size(c.name) + size(str(c.arguments)) for c in message.tool_calls])
    )


def _conversation_tokens(messages: list[Message]) -> int:
    """What ``messages`` count, from the last count of the same conversation when the
    messages it counted are still there (a conversation grows by appending): the cost
    of a call is its new messages, and one comparison in C of the others."""
    if not messages:
        return 0
    first = messages[0]
    key = id(first)
    tally = _TALLIES.get(key)
    if tally is not None and tally.first() is first:
        seen = len(tally.counted)
        if len(messages) > seen and tally.counted == messages[1 : seen + 1]:
            if len(messages) > seen + 1:
                tally.tokens += sum([_message_tokens(m) for m in messages[seen + 1 :]])
                tally.counted = messages[1:]
            return _message_tokens(first) + tally.tokens
    rest = messages[1:]
    tokens = sum([_message_tokens(m) for m in rest])
    try:
        ref = weakref.ref(first, lambda dead: _forget(key, dead))
    except TypeError:  # not weak-referenceable: counted each time
        return _message_tokens(first) + tokens
    _TALLIES[key] = _Tally(first=ref, counted=rest, tokens=tokens)
    return _message_tokens(first) + tokens


def _forget(key: int, dead: weakref.ref[Message]) -> None:
    tally = _TALLIES.get(key)
    if tally is not None and tally.first is dead:
        del _TALLIES[key]


def _tools_tokens(tools: list[ToolSpec]) -> int:
    """What the tool specs count (names, descriptions, parameters), remembered for an
    agent's list while it holds the same specs."""
    known = _TOOLS.get(id(tools))
    if known is not None and known[0] is tools and known[1] == tools:
        return known[2]
    size = _text_tokens
    tokens = sum([size(t.name) + size(t.description) + size(str(t.parameters)) for t in tools])
    if len(_TOOLS) >= _MAX_REMEMBERED:
        _TOOLS.clear()
    _TOOLS[id(tools)] = (tools, list(tools), tokens)
    return tokens


def _long_text_tokens(text: str) -> int:
    """:func:`_text_tokens`, remembered for long texts (instructions: sent every call)."""
    if len(text) < _LONG:
        return _text_tokens(text)
    tokens = _LONG_TEXTS.get(text)
    if tokens is None:
        if len(_LONG_TEXTS) >= _MAX_REMEMBERED:
            _LONG_TEXTS.clear()
        tokens = _LONG_TEXTS[text] = _text_tokens(text)
    return tokens


def _object_tokens(value: Any) -> int:
    """What ``str(value)`` counts, remembered for the object (an agent's output schema:
    the same dict every call, never changed in place)."""
    known = _OBJECTS.get(id(value))
    if known is not None and known[0] is value:
        return known[1]
    tokens = _text_tokens(str(value))
    if len(_OBJECTS) >= _MAX_REMEMBERED:
        _OBJECTS.clear()
    _OBJECTS[id(value)] = (value, tokens)
    return tokens


def estimate_output_tokens(response: ModelResponse) -> int:
    """:func:`estimate_input_tokens`'s count of a reply: its text and its tool calls."""
    size = _text_tokens
    total = size(response.text or "")
    total += sum(size(c.name) + size(str(c.arguments)) for c in response.tool_calls)
    return total


def charged_usage(request: ModelRequest, response: ModelResponse, *, budgeted: bool) -> Usage:
    """The usage a reply is charged: what the provider reported, checked against the text.

    A reply whose usage was not reported (all zero: many OpenAI-compatible servers send
    none, and an unreadable one counts as none) or is negative is charged the estimates
    of its request and of itself. For a run with a budget (``budgeted``), a reported
    count is also never less than a quarter of the estimate: the estimates over-count
    (see :func:`estimate_input_tokens`; digits, which some tokenizers take three at a
    time, by up to three times), so a quarter is below what an honest provider reports,
    and one that under-reports (a 30 MB reply billed as 1 token) cannot carry a run past
    its limits. A reply is never charged more output than the request's ``max_tokens``:
    a provider bills no more than that (the gate caps it to what the budget has left).
    """
    usage = response.usage
    unreported = (usage.input_tokens == 0 and usage.output_tokens == 0) or min(
        usage.input_tokens, usage.output_tokens, usage.cached_input_tokens, usage.cache_write_tokens
    ) < 0
    if not unreported and not budgeted:
        return usage
    prompt, reply = estimate_input_tokens(request), estimate_output_tokens(response)
    cap = request.settings.max_tokens
    if cap is not None:
        reply = min(reply, cap) if unreported else min(reply, 4 * cap)
    if unreported:
        return Usage(input_tokens=prompt, output_tokens=reply)
    prompt, reply = prompt // 4, reply // 4
    if usage.input_tokens >= prompt and usage.output_tokens >= reply:
        return usage
    return usage.model_copy(
        update={
            "input_tokens": max(usage.input_tokens, prompt),
            "output_tokens": max(usage.output_tokens, reply),
        }
    )


_MERGEABLE = (string.ascii_lowercase + " ").encode()
"""The ASCII bytes counted a token per three (every other byte is a token)."""


def _text_tokens(text: str) -> int:
    """Tokens ``text`` is counted as: see :func:`estimate_input_tokens`."""
    if text.isascii():
        ascii_bytes, other = text.encode("ascii"), 0
    else:
        ascii_bytes = text.encode("ascii", "ignore")
        # A lone surrogate (from a JSON "\ud800") is counted as the 3 bytes it would take.
        other = len(text.encode("utf-8", "surrogatepass")) - len(ascii_bytes)
    unmerged = len(ascii_bytes.translate(None, _MERGEABLE))
    return -(-(len(ascii_bytes) - unmerged) // 3) + unmerged + other


DEFAULT_REPLY_TOKENS = 4096
"""The reply cap a cost budget sets on a request that sets none.

A cost budget must bound every reply, and a cap taken from the dollars alone can exceed
what a model accepts (providers refuse a ``max_tokens`` above the model's own limit).
4096 tokens is a long turn for an agent and within the output limit of every current
provider's chat models.
"""

ModelPrice = Callable[[Usage], float | None]
"""Dollars for a usage on one model; ``None`` when the model has no known price."""


@dataclass(frozen=True, slots=True)
class Use:
    """What a run has used so far, by dimension."""

    model_calls: int
    tool_calls: int
    tool_counts: Mapping[str, int]
    input_tokens: int
    output_tokens: int
    cost_usd: float
    wall_seconds: float

    def summary(self, budget: Budget) -> dict[str, dict[str, float]]:
        """Used vs limit for every limited dimension."""
        out: dict[str, dict[str, float]] = {}
        for dimension, used, limit in self.pairs(budget):
            out[dimension] = {"used": used, "limit": limit}
        return out

    def pairs(self, budget: Budget) -> list[tuple[str, float, float]]:
        """``(dimension, used, limit)`` for every limited dimension."""
        rows: list[tuple[str, float, float | None]] = [
            ("model_calls", self.model_calls, budget.max_model_calls),
            ("tool_calls", self.tool_calls, budget.max_tool_calls),
            ("input_tokens", self.input_tokens, budget.max_input_tokens),
            ("output_tokens", self.output_tokens, budget.max_output_tokens),
            ("cost_usd", round(self.cost_usd, 8), budget.max_cost_usd),
            ("wall_seconds", round(self.wall_seconds, 3), budget.max_wall_seconds),
        ]
        rows.extend(
            (f"tool_calls:{name}", self.tool_counts.get(name, 0), limit)
            for name, limit in sorted(budget.max_calls_per_tool.items())
        )
        return [(d, u, lim) for d, u, lim in rows if lim is not None]


def check_model_call(
    budget: Budget,
    use: Use,
    request: ModelRequest,
    price: ModelPrice | Mapping[str, ModelPrice],
) -> int | None:
    """Raise if this model call could cross a hard limit; returns the ``max_tokens`` cap.

    Args:
        budget: The run's pinned budget.
        use: What the run has used so far.
        request: The request about to be sent.
        price: The model's price; or, for a call that may be answered by one of several
            models (a router's candidates), each one's price by model id. The worst case
            is then the most expensive of them.

    Returns:
        The ``max_tokens`` to send: the request's own, lowered to what the output-token
        budget has left and to the longest reply the dollars left can pay for on every
        candidate model; ``None`` when nothing limits it.

    Raises:
        BudgetExceededError: the call is refused.
    """

    def refuse(dimension: str, why: str) -> BudgetExceededError:
        return BudgetExceededError(dimension, f"budget exceeded: {why}", use.summary(budget))

    if budget.max_model_calls is not None and use.model_calls + 1 > budget.max_model_calls:
        raise refuse(
            "model_calls", f"{use.model_calls} of {budget.max_model_calls} model calls used"
        )
    if budget.max_wall_seconds is not None and use.wall_seconds >= budget.max_wall_seconds:
        raise refuse(
            "wall_seconds",
            f"{use.wall_seconds:.1f}s of {budget.max_wall_seconds}s running time used",
        )
    # Estimated only when tokens or dollars are limited: a pass over the new messages.
    estimate = (
        estimate_input_tokens(request)
        if budget.max_input_tokens is not None or budget.max_cost_usd is not None
        else 0
    )
    if (
        budget.max_input_tokens is not None
        and use.input_tokens + estimate > budget.max_input_tokens
    ):
        raise refuse(
            "input_tokens",
            f"the next call needs up to {estimate} input tokens; "
            f"{budget.max_input_tokens - use.input_tokens} of {budget.max_input_tokens} left",
        )
    cap = request.settings.max_tokens
    if budget.max_output_tokens is not None:
        left = budget.max_output_tokens - use.output_tokens
        if left <= 0:
            raise refuse(
                "output_tokens",
                f"{use.output_tokens} of {budget.max_output_tokens} output tokens used",
            )
        cap = min(cap, left) if cap is not None else left
    if budget.max_cost_usd is not None:
        limit = budget.max_cost_usd
        prices = price if isinstance(price, Mapping) else {"": price}
        ceiling = cap if cap is not None else DEFAULT_REPLY_TOKENS
        for model_id, model_price in prices.items():
            smallest = model_price(Usage(input_tokens=estimate, output_tokens=1))
            if smallest is None:
                subject = (
                    "the model has"
                    if model_id == ""
                    else f"model {model_id!r}, which this call may be routed to, has"
                )
                raise refuse(
                    "cost_usd",
                    f"{subject} no known price, so a cost budget cannot be enforced; add it "
                    "to the pricing table",
                )
            if use.cost_usd + smallest > limit:
                raise refuse(
                    "cost_usd",
                    f"the next call could cost up to ${smallest:.6f} even with a one-token "
                    f"reply; ${limit - use.cost_usd:.6f} of ${limit} left",
                )
            ceiling = _affordable_reply(model_price, estimate, use.cost_usd, limit, ceiling)
        cap = ceiling
    return cap


def _affordable_reply(
    price: ModelPrice, input_tokens: int, spent: float, limit: float, ceiling: int
) -> int:
    """The longest reply, at most ``ceiling`` tokens, whose worst-case cost stays in budget.

    A binary search on ``price`` (any price that grows with the reply), so no assumption
    about how a model bills; the caller has checked that one token fits.
    """

    def fits(output_tokens: int) -> bool:
        cost = price(Usage(input_tokens=input_tokens, output_tokens=output_tokens))
        return cost is not None and spent + cost <= limit

    if ceiling < 1 or fits(ceiling):
        return ceiling
    low, high = 1, ceiling  # fits(low), not fits(high)
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


def check_tool_call(budget: Budget, use: Use, tool: str, pending: Mapping[str, int]) -> None:
    """Raise if running one more call of ``tool`` would cross a tool-call limit.

    ``pending`` counts calls of this turn already admitted but not yet run.
    """
    admitted = sum(pending.values())
    if budget.max_tool_calls is not None and use.tool_calls + admitted + 1 > budget.max_tool_calls:
        raise BudgetExceededError(
            "tool_calls",
            f"budget exceeded: {budget.max_tool_calls} tool calls allowed",
            use.summary(budget),
        )
    limit = budget.max_calls_per_tool.get(tool)
    if limit is not None and use.tool_counts.get(tool, 0) + pending.get(tool, 0) + 1 > limit:
        raise BudgetExceededError(
            f"tool_calls:{tool}",
            f"budget exceeded: {limit} calls of {tool!r} allowed",
            use.summary(budget),
        )


def soft_crossings(budget: Budget, use: Use, warned: set[str]) -> list[tuple[str, float, float]]:
    """Dimensions that just crossed the soft threshold (not yet warned)."""
    return [
        (dimension, used, limit)
        for dimension, used, limit in use.pairs(budget)
        if dimension not in warned and limit > 0 and used >= budget.soft_ratio * limit
    ]
