"""Red team 8, hole 02: the input-token "over-estimate" undercounted most text.

``estimate_input_tokens`` was ``chars / 3`` plus framing. Byte-level BPE tokenizers spend
1-4 tokens on a character outside ASCII (SmolLM2 spent 3 a runic character, 9 times the
estimate) and one on each digit, so ``max_input_tokens`` and ``max_cost_usd`` (which
prices the same estimate) were crossed several times over by one call. Outside ASCII
the estimate now counts a token per UTF-8 byte, the most a byte-level BPE tokenizer can
spend (it starts from one token per byte and merges only lower the count); digits,
capitals and punctuation a token each; lower-case letters and spaces a token per three.
No tokenizer or model file is needed here: the counts below were measured once with
SmolLM2's tokenizer (``llama_cpp.Llama(..., vocab_only=True).tokenize``).
"""

from __future__ import annotations

import pytest

from tether import Agent, Runtime
from tether.models import (
    Message,
    ModelRequest,
    ModelResponse,
    Price,
    PricingTable,
    ToolCall,
    ToolSpec,
)
from tether.policy import Budget, Policy
from tether.policy._budget import estimate_input_tokens
from tether.testing import ScriptedModel, text

RUNIC = "ᚠᛇᚻ᛫ᛒᛦᚦ" * 143  # 1001 characters, 3003 bytes
DIGITS = "".join(str(n % 10) for n in range(2000))
TEXTS = {  # kind: (text, tokens SmolLM2 spends on it)
    "runic": (RUNIC, 3003),
    "cjk": ("日本語のテキストです。中文文本测试。" * 50, 1400),
    "emoji": ("😀🎉🚀" * 300, 2700),
    "latin1": ("é" * 1000, 1000),
    "digits": (DIGITS, 2000),
    "csv": (
        "\n".join(",".join(str(n * 37 % 1000) for n in range(r, r + 10)) for r in range(90)),
        3532,
    ),
    "markup": ('<a href="/p/123">Product 123</a><span>$19.99</span>\n' * 40, 1240),
    "json": ('{"id": 1234, "amount": 99999, "created": 1700012345, "tags": []}' * 30, 1170),
}


def _utf8(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize("kind", list(TEXTS))
def test_redteam8_hole_02_the_estimate_covers_what_a_tokenizer_spends(kind: str) -> None:
    """Wherever the text sits in the request (instructions, a message, a tool result, a
    tool call's arguments, a tool's description or schema, the output schema), it is
    counted at least at what SmolLM2 spends on it; text outside ASCII at least a token
    per UTF-8 byte, the most any byte-level BPE tokenizer can spend. The old estimate
    was a third to a ninth of that."""
    body, spent = TEXTS[kind]
    floor = max(spent, 0 if body.isascii() else _utf8(body))
    requests = {
        "instructions": ModelRequest(instructions=body),
        "user": ModelRequest(messages=[Message(role="user", content=body)]),
        "tool result": ModelRequest(
            messages=[Message(role="tool", content=body, tool_call_id="c1")]
        ),
        "arguments": ModelRequest(
            messages=[
                Message(
                    role="assistant",
                    tool_calls=[ToolCall(id="c1", name="f", arguments={"x": body})],
                )
            ]
        ),
        "description": ModelRequest(tools=[ToolSpec(name="f", description=body)]),
        "schema": ModelRequest(tools=[ToolSpec(name="f", parameters={"description": body})]),
        "output": ModelRequest(output_schema={"description": body}),
    }
    counted = {where: estimate_input_tokens(r) for where, r in requests.items()}
    assert all(n >= floor for n in counted.values()), (floor, counted)


def test_redteam8_hole_02_a_lone_surrogate_is_counted_not_a_crash() -> None:
    """Text from a JSON ``"\\ud800"`` escape is not valid UTF-8; it must not break the gate."""
    request = ModelRequest(messages=[Message(role="user", content="\ud800" * 10)])
    assert estimate_input_tokens(request) >= 30


LIMIT = 1_500


def _agent(budget: Budget, called: list[str]) -> Agent:
    def answer(request: ModelRequest) -> ModelResponse:
        called.append("called")
        return text("ok")

    return Agent(
        name="budgeted",
        instructions="Answer briefly.",
        model=ScriptedModel(answer),
        policy=Policy(budget=budget),
    )


@pytest.mark.parametrize("task", [RUNIC, DIGITS], ids=["runic", "digits"])
async def test_redteam8_hole_02_input_tokens_refuses_a_prompt_the_estimate_undercounted(
    store_url: str, task: str
) -> None:
    """``max_input_tokens=1500`` and a task a byte-level tokenizer spends 2,000-3,000 tokens
    on (the old estimate: 350-680): the call is refused before it is made."""
    called: list[str] = []
    async with Runtime(store_url, recover=False) as rt:
        result = await (
            await rt.start(_agent(Budget(max_input_tokens=LIMIT), called), task)
        ).result(timeout=30)
    assert result.status == "failed", result
    assert result.error is not None and result.error.error_code == "budget_exceeded"
    assert result.error.details["dimension"] == "input_tokens"
    assert called == [] and result.usage.model_calls == 0


async def test_redteam8_hole_02_cost_budget_prices_the_bytes(store_url: str) -> None:
    """``max_cost_usd`` prices the same estimate: at $1 a million input tokens, $0.002 pays
    for the old estimate of the runic task (~350 tokens) but not for its 3,003 bytes."""
    pricing = PricingTable(
        {"scripted": Price(input_per_mtok=1.0, cached_input_per_mtok=0.1, output_per_mtok=1.0)}
    )
    called: list[str] = []
    async with Runtime(store_url, recover=False, pricing=pricing) as rt:
        result = await (await rt.start(_agent(Budget(max_cost_usd=0.002), called), RUNIC)).result(
            timeout=30
        )
    assert result.status == "failed", result
    assert result.error is not None and result.error.details["dimension"] == "cost_usd"
    assert called == []
