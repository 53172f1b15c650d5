"""Recorded tool I/O: ``tether fixtures export`` and ``ToolSimulator`` replaying it offline.

A real agent runs against tools that count their calls; its fixtures are exported through
the CLI; the same agent then runs against the simulator: same results, the real tools'
counters unchanged, simulated results marked in the log, unmatched calls answered with a
``not_simulated`` tool error and never run.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tether import Agent, Runtime, tool
from tether.cli import EXIT_COMPLETED, EXIT_USAGE, app
from tether.engine import PolicyDecided, ToolCompleted, ToolFailed
from tether.exceptions import UserError
from tether.models import ModelRequest
from tether.policy import Policy, PolicyFile
from tether.testing import ScriptedModel, text, tool_call
from tether.tools import ToolCallError, ToolSimulator, by_fields
from tether.tools._simulator import FIXTURES_VERSION, NOT_SIMULATED

CALLS: list[str] = []


@tool
def lookup_order(order_id: str) -> dict[str, Any]:
    """Look an order up."""
    CALLS.append(f"lookup {order_id}")
    return {"order_id": order_id, "status": "shipped", "n": len(CALLS)}


@tool(effect="write", idempotent=True)
def refund_order(order_id: str, amount_cents: int) -> str:
    """Refund part of an order."""
    CALLS.append(f"refund {order_id} {amount_cents}")
    return f"refunded {amount_cents} on {order_id} (#{len(CALLS)})"


@tool
def flaky_stock(sku: str) -> int:
    """Units in stock."""
    CALLS.append(f"stock {sku}")
    raise ToolCallError(f"warehouse has no sku {sku}", hint="check the sku")


@pytest.fixture(autouse=True)
def _clear() -> None:
    CALLS.clear()


def _script(turns: list[Any]) -> Any:
    """Play ``turns`` by the number of assistant turns so far, then answer with text."""

    def script(req: ModelRequest) -> Any:
        done = sum(m.role == "assistant" for m in req.messages)
        return turns[done] if done < len(turns) else text("done")

    return script


RECORDED_TURNS = [
    tool_call("lookup_order", order_id="A1"),
    [tool_call("lookup_order", order_id="A1"), tool_call("refund_order", order_id="A1",
                                                         amount_cents="900")],
    tool_call("flaky_stock", sku="X9"),
]  # fmt: skip


def _agent(turns: list[Any], **kwargs: Any) -> Agent:
    return Agent(
        name="orders",
        model=ScriptedModel(_script(turns)),
        tools=[lookup_order, refund_order, flaky_stock],
        **kwargs,
    )


async def _run(url: str, agent: Agent) -> tuple[str, list[Any]]:
    async with Runtime(url) as rt:
        run = await rt.start(agent, "refund A1")
        result = await run.result()
        assert result.status == "completed", result
        events = [e.event async for e in rt.get(run.run_id).events(follow=False)]
    return run.run_id, events


def _results(events: list[Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for e in events:
        if isinstance(e, ToolCompleted):
            out.append((e.tool, e.result))
        elif isinstance(e, ToolFailed) and not e.will_retry:
            out.append((e.tool, e.error.error_code + ": " + e.error.message))
    return out


def _export(url: str, run_id: str, tmp_path: Path) -> Path:
    result = CliRunner().invoke(app, ["fixtures", "export", run_id, "--store", url])
    assert result.exit_code == EXIT_COMPLETED, result.output
    path = tmp_path / "f.json"
    path.write_text(result.stdout)
    return path


@pytest.fixture
def recorded(store_url: str, tmp_path: Path) -> tuple[str, list[Any], Path]:
    """A real run of the agent, and its fixtures exported by the CLI."""
    run_id, events = asyncio.run(_run(store_url, _agent(RECORDED_TURNS)))
    assert len(CALLS) == 4
    return run_id, events, _export(store_url, run_id, tmp_path)


def test_export_writes_the_documented_format(recorded: tuple[str, list[Any], Path]) -> None:
    """Every final call: tool, validated arguments (writes as journaled), result or error,
    effect, order, run id and agent version."""
    run_id, _events, path = recorded
    doc = json.loads(path.read_text())
    assert doc["format"] == "tether.fixtures" and doc["version"] == FIXTURES_VERSION
    assert doc["run_id"] == run_id and doc["agent"] == "orders" and doc["agent_version"]
    calls = doc["calls"]
    assert [c["order"] for c in calls] == [1, 2, 3, 4]
    assert [(c["tool"], c["effect"], c["ok"]) for c in calls] == [
        ("lookup_order", "read", True),
        ("lookup_order", "read", True),
        ("refund_order", "write", True),
        ("flaky_stock", "read", False),
    ]
    # The write's arguments are the journaled, coerced ones: "900" became 900.
    assert calls[2]["arguments"] == {"order_id": "A1", "amount_cents": 900}
    # Two identical lookups, two different answers (the counter moved): replay order matters.
    # (The second ran concurrently with the refund, so its n is 2 or 3.)
    assert calls[0]["result"]["n"] == 1 and calls[1]["result"]["n"] in (2, 3)
    assert calls[3]["error"]["error_code"] == "tool_error"
    assert calls[3]["error"]["hint"] == "check the sku"


def test_simulated_run_replays_recorded_results_without_running_tools(
    recorded: tuple[str, list[Any], Path], tmp_path: Path
) -> None:
    """Same results in the same order (identical calls replay in recording order), a
    replayed write never executes, every simulated result is marked in the log."""
    _run_id, real_events, path = recorded
    CALLS.clear()
    agent = _agent(RECORDED_TURNS)
    simulated = ToolSimulator.from_fixtures(path).wrap(agent)
    # Same prompt and policy; a version of its own so the real agent never continues it.
    assert simulated.prefix_hash == agent.prefix_hash
    assert simulated.tool_specs == agent.tool_specs
    assert simulated.version != agent.version
    _, events = asyncio.run(_run(f"sqlite:///{tmp_path}/sim.db", simulated))
    assert CALLS == []
    assert _results(events) == _results(real_events)
    finals = [e for e in events if isinstance(e, ToolCompleted | ToolFailed)]
    assert finals and all(e.simulated is True for e in finals)
    assert not any(getattr(e, "simulated", None) for e in real_events)


def test_unmatched_and_exhausted_calls_are_not_simulated_errors(
    recorded: tuple[str, list[Any], Path], tmp_path: Path
) -> None:
    """New arguments, or a third identical call when two were recorded, get a structured
    ``not_simulated`` error the model sees; the run goes on and completes."""
    _run_id, _events, path = recorded
    CALLS.clear()
    turns = [
        tool_call("lookup_order", order_id="A1"),
        [tool_call("lookup_order", order_id="A1"),
         tool_call("refund_order", order_id="A1", amount_cents=901)],
        [tool_call("lookup_order", order_id="A1"), tool_call("lookup_order", order_id="B2")],
    ]  # fmt: skip
    simulated = ToolSimulator.from_fixtures(path).wrap(_agent(turns))
    _, events = asyncio.run(_run(f"sqlite:///{tmp_path}/sim.db", simulated))
    assert CALLS == []
    failed = [e for e in events if isinstance(e, ToolFailed)]
    assert [e.error.error_code for e in failed] == [NOT_SIMULATED] * 3, _results(events)
    assert "refund_order" in failed[0].error.message and "901" in failed[0].error.message
    assert "2 recorded" in failed[1].error.message and "B2" in failed[2].error.message
    assert failed[0].error.hint and "simulated" in failed[0].error.hint
    assert all(e.simulated for e in failed)


def test_simulator_runs_repeated_runs_independently(
    recorded: tuple[str, list[Any], Path], tmp_path: Path
) -> None:
    """Replay cursors are per run: two runs of one simulated agent get the same answers."""
    _run_id, real_events, path = recorded
    simulated = ToolSimulator.from_fixtures(path).wrap(_agent(RECORDED_TURNS))
    url = f"sqlite:///{tmp_path}/sim.db"
    _, first = asyncio.run(_run(url, simulated))
    _, second = asyncio.run(_run(url, simulated))
    assert _results(first) == _results(second) == _results(real_events)


def test_policy_still_applies_to_simulated_tools(
    recorded: tuple[str, list[Any], Path], tmp_path: Path
) -> None:
    """A deny rule refuses the call before the simulator; the refusal is not marked simulated."""
    _run_id, _events, path = recorded
    CALLS.clear()
    rules = PolicyFile.loads(
        """
version = 1
[[rules]]
name = "no-refunds"
tool = "refund_order"
action = "deny"
reason = "no refunds today"
""",
        source="sim.toml",
    )
    agent = _agent(RECORDED_TURNS, policy=Policy(rules=rules))
    simulated = ToolSimulator.from_fixtures(path).wrap(agent)
    _, events = asyncio.run(_run(f"sqlite:///{tmp_path}/sim.db", simulated))
    (decided,) = [e for e in events if isinstance(e, PolicyDecided)]
    assert decided.action == "deny"
    (denied,) = [e for e in events if isinstance(e, ToolFailed) and e.tool == "refund_order"]
    assert denied.error.error_code == "denied" and denied.simulated is None
    assert CALLS == []


def _fixtures(*calls: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": "tether.fixtures",
        "version": 1,
        "run_id": "r",
        "calls": [{"order": i + 1, "call_id": f"c{i}", "ok": True, **c} for i, c in
                  enumerate(calls)],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "asked", "expected"),
    [
        ("exact", "A1", "first"),
        ("exact", "Z9", NOT_SIMULATED),
        ("any", "Z9", "first"),
        (by_fields("order_id"), "A1", "first"),
        (lambda args: args["order_id"][0], "A7", "first"),
    ],
)
def test_match_rules(store_url: str, rule: Any, asked: str, expected: str) -> None:
    """Exact canonical arguments by default; "any", by_fields or a key function per tool."""
    doc = _fixtures(
        {"tool": "lookup_order", "arguments": {"order_id": "A1"}, "result": "first"},
        {"tool": "lookup_order", "arguments": {"order_id": "B1"}, "result": "second"},
    )
    simulator = ToolSimulator.from_fixtures(doc, rules={"lookup_order": rule})
    agent = simulator.wrap(_agent([tool_call("lookup_order", order_id=asked)]))
    _, events = asyncio.run(_run(store_url, agent))
    ((_tool, got),) = _results(events)
    assert got == expected or got.startswith(expected)


def test_sealed_recorded_argument_matches_any_value(store_url: str) -> None:
    """A value exported sealed (``{"$sealed": true}``) matches whatever the live call sends."""
    doc = _fixtures(
        {"tool": "refund_order", "effect": "write", "result": "ok",
         "arguments": {"order_id": {"$sealed": True}, "amount_cents": 5}},
    )  # fmt: skip
    agent = ToolSimulator.from_fixtures(doc).wrap(
        _agent([tool_call("refund_order", order_id="secret-7", amount_cents=5)])
    )
    _, events = asyncio.run(_run(store_url, agent))
    assert _results(events) == [("refund_order", "ok")]
    assert CALLS == []


def test_calls_that_never_ran_are_not_replayed(store_url: str) -> None:
    """A recorded refusal (attempts 0) is left to the simulated run's own gate."""
    doc = _fixtures(
        {"tool": "lookup_order", "arguments": {"order_id": "A1"}, "ok": False, "attempts": 0,
         "error": {"error_code": "denied", "message": "no"}},
    )  # fmt: skip
    agent = ToolSimulator.from_fixtures(doc).wrap(
        _agent([tool_call("lookup_order", order_id="A1")])
    )
    _, events = asyncio.run(_run(store_url, agent))
    ((_tool, got),) = _results(events)
    assert got.startswith(NOT_SIMULATED)


def test_bad_fixtures_say_what_to_do(tmp_path: Path) -> None:
    """Unknown versions, other JSON and missing files fail fast with the next step."""
    with pytest.raises(UserError, match="upgrade tether-runtime"):
        ToolSimulator.from_fixtures({"format": "tether.fixtures", "version": 99, "run_id": "r"})
    with pytest.raises(UserError, match="not a Tether fixtures file"):
        ToolSimulator.from_fixtures({"calls": []})
    with pytest.raises(UserError, match="tether fixtures export"):
        ToolSimulator.from_fixtures(tmp_path / "missing.json")
    with pytest.raises(UserError, match="'exact', 'any'"):
        ToolSimulator.from_fixtures(_fixtures(), rules={"lookup_order": "fuzzy"})  # type: ignore[dict-item]


def test_export_of_a_missing_run_is_one_error_line(store_url: str) -> None:
    """An unknown run id exits 2 with one line that says how to list runs."""
    asyncio.run(_run(store_url, _agent([text("hi")])))
    result = CliRunner().invoke(app, ["fixtures", "export", "nope", "--store", store_url])
    assert result.exit_code == EXIT_USAGE
    assert "Traceback" not in result.output
    assert "tether runs" in result.stderr


def test_export_keeps_sealed_values_sealed() -> None:
    """A sealed argument or result is exported as its marker; its ciphertext never is."""
    from types import SimpleNamespace

    from tether._cli._fixtures import export_fixtures
    from tether.engine import ModelCompleted, RunCreated, ToolCompleted, ToolStarted
    from tether.models import ModelResponse, ToolCall

    sealed = {"$sealed": "Q0lQSEVSVEVYVA==", "kid": "k1"}
    call = ToolCall(id="c1", name="refund_order", arguments={"order_id": "A1"})
    events = [
        RunCreated(agent="orders", agent_version="v1", initial_state="think"),
        ModelCompleted(call=0, response=ModelResponse(tool_calls=[call])),
        ToolStarted(call=1, call_id="c1", tool="refund_order", idempotency_key="k",
                    arguments={"order_id": "A1", "card": sealed}),
        ToolCompleted(call=1, call_id="c1", tool="refund_order", result={"token": sealed}),
    ]  # fmt: skip
    log = [SimpleNamespace(event=e, seq=i + 1, step=1) for i, e in enumerate(events)]
    doc = export_fixtures("r1", log)
    text = json.dumps(doc)
    assert "Q0lQSEVSVEVYVA" not in text and '"k1"' not in text
    (entry,) = doc["calls"]
    assert entry["arguments"] == {"order_id": "A1", "card": {"$sealed": True}}
    assert entry["result"] == {"token": {"$sealed": True}}
    assert (entry["effect"], doc["agent_version"]) == ("write", "v1")
