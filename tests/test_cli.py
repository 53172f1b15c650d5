"""The ``tether`` command line against a real SQLite store in a temporary directory.

Each test pins one behaviour people rely on: what a streamed run prints, which exit
code each outcome gives, and that every expected error is one line saying what to do.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tether import Runtime
from tether._cli._load import load_agent
from tether.cli import EXIT_COMPLETED, EXIT_FAILED, EXIT_USAGE, EXIT_WAITING, app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "support_scripted.py"
SUPPORT = f"{EXAMPLE}:agent"

# A write tool that can be made to hang, so a test can stop the runtime mid-call and
# leave the run the way a crashed process leaves it.
BILLER = '''
import asyncio, os
from pathlib import Path
from tether import Agent, tool
from tether.testing import ScriptedModel, text, tool_call

@tool(effect="write")
async def charge(amount_cents: int) -> dict:
    """Charge the customer."""
    if os.environ.get("BILLER_HANG_DIR"):
        Path(os.environ["BILLER_HANG_DIR"], "entered").touch()
        await asyncio.sleep(3600)
    return {"charged": amount_cents}

def script(request):
    if request.messages[-1].role == "tool":
        return text("charged: " + (request.messages[-1].content or ""))
    return tool_call("charge", amount_cents=500)

agent = Agent(name="biller", instructions=INSTRUCTIONS, model=ScriptedModel(script),
              tools=[charge])
'''

# A machine that parks the run until someone sends ``approve``.
APPROVER = """
from tether import Agent, Done, Machine, Wait
from tether.testing import ScriptedModel

machine = Machine("approval", initial="ask")

@machine.state(next=["decide"])
async def ask(ctx):
    return Wait(signal="approve", reason="needs_approval", then="decide",
                details={"message": "a person must approve this refund"})

@machine.state(terminal=True)
async def decide(ctx):
    payload = ctx.state.signals[-1].payload or {}
    return Done({"approved": bool(payload.get("ok"))})

agent = Agent(name="approver", model=ScriptedModel([]), machine=machine)
"""

# A refund that needs a person's approval; the answer repeats what the tool said.
REFUNDER = """
from tether import Agent, tool
from tether.testing import ScriptedModel, text, tool_call

def say(args):
    return f"refund ${args['amount_cents'] / 100:.2f} on order {args['order_id']}"

@tool(effect="write", idempotent=True, requires_approval=True, preview=say)
async def refund(order_id: str, amount_cents: int) -> dict:
    \"\"\"Refund an order.\"\"\"
    return {"refunded": amount_cents}

def script(request):
    last = request.messages[-1]
    if last.role == "tool":
        return text("tool said: " + (last.content or ""))
    return tool_call("refund", order_id="5678", amount_cents=12900)

agent = Agent(name="refunder", model=ScriptedModel(script), tools=[refund])
"""

# Repeats the same call until a person tells it to stop: loop detection escalates it.
STUCK = """
from tether import Agent
from tether.testing import ScriptedModel, text, tool_call

async def ping() -> str:
    \"\"\"Ping.\"\"\"
    return "pong"

def script(request):
    if any(m.role == "user" and m.content == "stop" for m in request.messages[1:]):
        return text("stopped as asked")
    return tool_call("ping")

agent = Agent(name="stuck", model=ScriptedModel(script), tools=[ping])
"""

# Calls a tool forever, so the run fails on its turn limit.
LOOPER = """
from tether import Agent
from tether.testing import ScriptedModel, tool_call

async def ping() -> str:
    \"\"\"Ping.\"\"\"
    return "pong"

agent = Agent(name="looper", model=ScriptedModel(lambda request: tool_call("ping")),
              tools=[ping], max_turns=2)

def make_agent() -> Agent:
    return agent
"""


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A fresh SQLite store URL in the test's temporary directory."""
    return f"sqlite:///{tmp_path}/t.db"


def tether(*args: str) -> Result:
    """Invoke the CLI in process, as a person would type it."""
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def write_agent(tmp_path: Path, name: str, source: str, **names: str) -> str:
    """Write an agent module into the temporary directory and return its reference."""
    path = tmp_path / f"{name}.py"
    header = "".join(f"{key} = {value!r}\n" for key, value in names.items())
    path.write_text(header + textwrap.dedent(source))
    return f"{path}:agent"


def run_id_of(result: Result) -> str:
    """The run id a streamed run printed in its header."""
    for word in result.output.split():
        if word.startswith("run_"):
            return word
    raise AssertionError(f"no run id in output:\n{result.output}")


def leave_running(ref: str, store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Start a run whose write tool hangs, then stop the runtime: the run is left running."""
    monkeypatch.setenv("BILLER_HANG_DIR", str(tmp_path))
    marker = tmp_path / "entered"

    async def main() -> str:
        async with Runtime(store, recover=False) as rt:
            run = await rt.start(load_agent(ref), "bill me")
            for _ in range(500):
                if marker.exists():
                    break
                await asyncio.sleep(0.01)
            assert marker.exists(), "the tool was never called"
            return run.run_id

    try:
        return asyncio.run(main())
    finally:
        monkeypatch.delenv("BILLER_HANG_DIR")


# -- run --------------------------------------------------------------------------------------


def test_run_streams_tool_call_result_and_answer(store: str) -> None:
    """`run` prints the model's tool call with arguments, the result, the answer and totals."""
    result = tether("run", SUPPORT, "Where is order 1234?", "--store", store)
    assert result.exit_code == EXIT_COMPLETED, result.output
    out = result.output
    assert 'lookup_order(order_id="1234")' in out
    assert "✓ lookup_order" in out and '"status": "shipped"' in out
    assert "answer" in out and "Order 1234 has shipped with DHL" in out
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("✔ completed")
    for part in ("2 steps", "2 model calls", "1 tool call", "tokens", "cached", "cost $"):
        assert part in summary


def test_run_shows_tool_errors_with_code_and_hint(store: str) -> None:
    """A tool error is printed with its error code and hint; the run still completes."""
    result = tether("run", SUPPORT, "Where is order 9999?", "--store", store)
    assert result.exit_code == EXIT_COMPLETED, result.output
    assert "[order_not_found]" in result.output
    assert "hint: ask the customer to check the order number" in result.output


def test_run_write_tool_shows_started_then_result(store: str) -> None:
    """A refund over $50 waits for approval; approved, its `started` line precedes its result."""
    waiting = tether("run", SUPPORT, "Please refund order 5678", "--store", store)
    assert waiting.exit_code == EXIT_WAITING, waiting.output
    run_id = run_id_of(waiting)
    call_id = re.search(r"tether approve \S+ (\S+)", waiting.output).group(1)  # type: ignore[union-attr]
    recorded = tether("approve", run_id, call_id, "--by", "ana", "--store", store)
    assert recorded.exit_code == EXIT_COMPLETED, recorded.output
    assert f"{call_id} approved by ana → run {run_id} is running" in recorded.output
    result = tether("resume", run_id, SUPPORT, "--store", store)
    assert result.exit_code == EXIT_COMPLETED, result.output
    out = result.output
    started = out.index('refund_order(order_id="5678", amount_cents=12900) started')
    assert "idempotency key" in out
    assert started < out.index("✓ refund_order") < out.index("I refunded $129.00")


def test_run_json_streams_events_and_live_deltas(store: str) -> None:
    """`run --json` prints JSON lines: stored events with seq, live deltas without."""
    result = tether("run", SUPPORT, "Where is order 1234?", "--store", store, "--json")
    assert result.exit_code == EXIT_COMPLETED, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    types = [line["type"] for line in lines]
    assert types[0] == "run.created" and "run.finished" in types
    deltas = [line for line in lines if line["type"] == "model.delta"]
    assert deltas and all("seq" not in d for d in deltas)
    assert any(d["kind"] == "text" and "Order 1234" in d["text"] for d in deltas)
    seqs = [line["seq"] for line in lines if "seq" in line]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))


def test_run_failed_exits_1_with_error(store: str, tmp_path: Path) -> None:
    """A failed run prints its error code and exits 1; a zero-arg factory works as a ref."""
    ref = write_agent(tmp_path, "looper", LOOPER).replace(":agent", ":make_agent")
    result = tether("run", ref, "go", "--store", store)
    assert result.exit_code == EXIT_FAILED, result.output
    assert "max_turns_exceeded" in result.output
    assert result.output.strip().splitlines()[-1].startswith("✘ failed")


def test_run_waiting_exits_3_and_signal_continues(store: str, tmp_path: Path) -> None:
    """A waiting run exits 3 printing the `tether signal` command; sending it completes it."""
    ref = write_agent(tmp_path, "approver", APPROVER)
    waiting = tether("run", ref, "refund 5678", "--store", store)
    assert waiting.exit_code == EXIT_WAITING, waiting.output
    run_id = run_id_of(waiting)
    assert "waiting for signal 'approve' (needs_approval)" in waiting.output
    assert f"tether signal {run_id} approve --store {store} {ref}" in waiting.output

    done = tether(
        "signal",
        run_id,
        "approve",
        "--payload",
        '{"ok": true}',
        "--by",
        "ana",
        ref,
        "--store",
        store,
    )
    assert done.exit_code == EXIT_COMPLETED, done.output
    assert "⚑ approve by ana" in done.output
    assert '"approved": true' in done.output


def test_bad_agent_ref_exits_2_listing_agents(store: str) -> None:
    """A wrong attribute name exits 2 and lists the agents the file defines."""
    result = tether("run", f"{EXAMPLE}:agnt", "hi", "--store", store)
    assert result.exit_code == EXIT_USAGE
    assert "has no attribute 'agnt'" in result.output
    assert "agents found: agent (Agent 'support')" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("missing/agents.py:agent", "no file 'missing/agents.py'"),
        ("no_such_module_xyz:agent", "cannot import module 'no_such_module_xyz'"),
        (f"{EXAMPLE}:ORDERS", "is dict, not an Agent"),
        (f"{EXAMPLE}:support_script", "needs arguments"),
    ],
)
def test_unusable_agent_refs_exit_2_with_reason(store: str, ref: str, message: str) -> None:
    """Every way an agent reference can be wrong is one line naming the problem."""
    result = tether("run", ref, "hi", "--store", store)
    assert result.exit_code == EXIT_USAGE
    assert message in result.output


def test_run_without_attribute_uses_the_only_agent(store: str) -> None:
    """`file.py` alone is enough when the file defines exactly one agent."""
    result = tether("run", str(EXAMPLE), "Where is order 1234?", "--store", store)
    assert result.exit_code == EXIT_COMPLETED, result.output


@pytest.mark.parametrize("delay", [0.0, 0.3], ids=["at-once", "mid-run"])
def test_run_whose_driver_dies_exits_1_instead_of_hanging(
    store: str, monkeypatch: pytest.MonkeyPatch, delay: float
) -> None:
    """If the run's driver crashes (store failure), `run` says so and exits; it never hangs."""
    from tether.engine._driver import RunDriver
    from tether.exceptions import StoreError

    async def broken_drive(self: RunDriver) -> None:
        await asyncio.sleep(delay)
        raise StoreError("disk I/O error")

    monkeypatch.setattr(RunDriver, "drive", broken_drive)
    result = tether("run", SUPPORT, "Where is order 1234?", "--store", store)
    assert result.exit_code == EXIT_FAILED, result.output
    assert f"run {run_id_of(result)} stopped being driven" in result.output
    if delay:  # the driver died while awaited: its own error is shown
        assert "disk I/O error" in result.output
    assert "tether resume run_" in result.output


# -- runs and show ----------------------------------------------------------------------------


def test_runs_lists_runs_with_filters(store: str) -> None:
    """`runs` shows id, agent and status; a status filter with no match says so."""
    run_id = run_id_of(tether("run", SUPPORT, "Where is order 1234?", "--store", store))
    listed = tether("runs", "--store", store)
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if run_id in line)
    assert "support" in row and "completed" in row
    for column in ("run id", "agent", "status", "reason", "created", "updated", "last seq"):
        assert column in listed.output
    empty = tether("runs", "--store", store, "--status", "failed")
    assert empty.exit_code == 0 and "no runs matching these filters" in empty.output
    assert tether("runs", "--store", store, "--status", "bogus").exit_code == EXIT_USAGE


def test_runs_on_missing_store_does_not_create_it(tmp_path: Path) -> None:
    """Reading a store that does not exist says so instead of creating an empty database."""
    result = tether("runs", "--store", f"sqlite:///{tmp_path}/nowhere/t.db")
    assert result.exit_code == 0 and "no store at" in result.output
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("command", ["runs", "show"])
def test_unknown_store_url_exits_2_naming_the_form(command: str) -> None:
    """A store URL no backend understands is one line showing the form that works."""
    args = [command, "run_x"] if command == "show" else [command]
    result = tether(*args, "--store", "mysql://db/x")
    assert result.exit_code == EXIT_USAGE
    assert "unknown store URL 'mysql://db/x'" in result.output
    assert "sqlite:///path/to/tether.db" in result.output


def test_show_prints_the_timeline(store: str) -> None:
    """`show` groups events by step with model-call numbers and tool arguments and results."""
    run_id = run_id_of(tether("run", SUPPORT, "Where is order 1234?", "--store", store))
    result = tether("show", run_id, "--store", store)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "── step 0" in out and "── step 1" in out
    assert "attempt 1" in out and "prefix " in out and "in / 0 cached /" in out
    assert 'args   {"order_id": "1234"}' in out
    assert 'result {"order_id": "1234", "status": "shipped"' in out
    assert "running → completed" in out
    assert "totals ✔ completed" in out


def test_show_json_is_the_event_log(store: str) -> None:
    """`show --json` prints every stored event as one JSON object per line, in order."""
    run_id = run_id_of(tether("run", SUPPORT, "Where is order 1234?", "--store", store))
    result = tether("show", run_id, "--store", store, "--json")
    assert result.exit_code == 0
    events = [json.loads(line) for line in result.output.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "run.created" and events[0]["input"] == "Where is order 1234?"
    tool = next(e for e in events if e["type"] == "tool.completed")
    assert tool["tool"] == "lookup_order" and tool["result"]["status"] == "shipped"


def test_show_unknown_run_exits_2_saying_what_to_do(store: str) -> None:
    """An unknown run id is one red line pointing at `tether runs`, exit 2."""
    tether("run", SUPPORT, "Where is order 1234?", "--store", store)
    result = tether("show", "run_nope", "--store", store)
    assert result.exit_code == EXIT_USAGE
    assert "no run 'run_nope'" in result.output and "tether runs" in result.output
    assert "Traceback" not in result.output


# -- resume and signal ------------------------------------------------------------------------


def test_resume_unknown_run_exits_2(store: str) -> None:
    """Resuming a run that does not exist is a usage error naming the fix."""
    result = tether("resume", "run_nope", SUPPORT, "--store", store)
    assert result.exit_code == EXIT_USAGE and "no run 'run_nope'" in result.output


def test_resume_after_crash_waits_on_uncertain_write_then_signal_resolves(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write cut off mid-call resumes into a wait; `signal resolve_write` finishes the run."""
    ref = write_agent(tmp_path, "biller", BILLER, INSTRUCTIONS="bill")
    run_id = leave_running(ref, store, tmp_path, monkeypatch)

    resumed = tether("resume", run_id, ref, "--store", store)
    assert resumed.exit_code == EXIT_WAITING, resumed.output
    assert "waiting for signal 'resolve_write' (uncertain_write)" in resumed.output
    assert "call call_0_0: charge(amount_cents=500)" in resumed.output

    again = tether("resume", run_id, ref, "--store", store)
    assert again.exit_code == EXIT_USAGE
    assert "nothing to resume" in again.output and "tether signal" in again.output

    payload = '{"call_id": "call_0_0", "action": "completed", "result": {"charged": 500}}'
    done = tether("signal", run_id, "resolve_write", ref, "--payload", payload, "--store", store)
    assert done.exit_code == EXIT_COMPLETED, done.output
    assert 'charged: {"charged": 500}' in done.output

    late = tether("signal", run_id, "resolve_write", ref, "--payload", payload, "--store", store)
    assert late.exit_code == EXIT_USAGE and "already completed" in late.output


def test_resume_under_changed_code_needs_accept_new_version(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Changed agent code is refused (exit 2) until --accept-new-version, which records it."""
    ref = write_agent(tmp_path, "biller", BILLER, INSTRUCTIONS="bill")
    run_id = leave_running(ref, store, tmp_path, monkeypatch)
    write_agent(tmp_path, "biller", BILLER, INSTRUCTIONS="bill politely")

    refused = tether("resume", run_id, ref, "--store", store)
    assert refused.exit_code == EXIT_USAGE
    assert "--accept-new-version" in refused.output

    accepted = tether("resume", run_id, ref, "--store", store, "--accept-new-version")
    assert accepted.exit_code == EXIT_WAITING, accepted.output
    assert "agent_version_accepted" in accepted.output


def test_approval_wait_prints_commands_and_deny_continues(store: str, tmp_path: Path) -> None:
    """A call needing approval parks the run (exit 3); `deny` tells the model and continues."""
    ref = write_agent(tmp_path, "refunder", REFUNDER)
    waiting = tether("run", ref, "refund 5678", "--store", store)
    assert waiting.exit_code == EXIT_WAITING, waiting.output
    run_id = run_id_of(waiting)
    # The id a person approves is Tether's "step.index"; the provider's call id is a label.
    approval = re.search(r"waiting for approval of (\d+\.\d+)", waiting.output)
    assert approval is not None, waiting.output
    key = approval.group(1)
    # The tool's preview says what the call will do, beside the arguments.
    assert (
        f"needs approval: refund requires approval — refund $129.00 on order 5678  [{key}]"
        in waiting.output
    )
    assert f"tether approve {run_id} {key} --store {store} {ref}" in waiting.output

    refused = tether("resume", run_id, ref, "--store", store)
    assert refused.exit_code == EXIT_USAGE and "tether approve" in refused.output

    denied = tether(
        "deny", run_id, key, ref, "--reason", "too large", "--by", "ana", "--store", store
    )
    assert denied.exit_code == EXIT_COMPLETED, denied.output
    assert f"{key} denied by ana: too large" in denied.output
    assert "tool said:" in denied.output and "too large" in denied.output


def test_approve_with_changed_arguments_runs_the_changed_call(store: str, tmp_path: Path) -> None:
    """`approve --arguments` runs the tool with the person's arguments, not the model's."""
    ref = write_agent(tmp_path, "refunder", REFUNDER)
    run_id = run_id_of(tether("run", ref, "refund 5678", "--store", store))
    changed = '{"order_id": "5678", "amount_cents": 100}'
    result = tether("approve", run_id, "call_0_0", ref, "--arguments", changed, "--store", store)
    assert result.exit_code == EXIT_COMPLETED, result.output
    assert 'tool said: {"refunded": 100}' in result.output
    unknown = tether("approve", run_id, "call_9", ref, "--store", store)
    assert unknown.exit_code == EXIT_USAGE


def test_escalated_run_exits_3_and_input_signal_hands_it_back(store: str, tmp_path: Path) -> None:
    """A run stuck in a loop is escalated (exit 3); signal `input` gives the agent a way out."""
    ref = write_agent(tmp_path, "stuck", STUCK)
    escalated = tether("run", ref, "go", "--store", store)
    assert escalated.exit_code == EXIT_WAITING, escalated.output
    run_id = run_id_of(escalated)
    assert "escalated to a person" in escalated.output
    assert f"tether signal {run_id} resume --store {store} {ref}" in escalated.output
    listed = tether("runs", "--store", store, "--status", "escalated")
    assert run_id in listed.output

    done = tether("signal", run_id, "input", ref, "--payload", '"stop"', "--store", store)
    assert done.exit_code == EXIT_COMPLETED, done.output
    assert "stopped as asked" in done.output


def test_signal_with_invalid_json_payload_exits_2(store: str) -> None:
    """A payload that is not JSON is refused before anything is sent."""
    result = tether("signal", "run_x", "approve", SUPPORT, "--payload", "{oops", "--store", store)
    assert result.exit_code == EXIT_USAGE and "--payload is not valid JSON" in result.output


def test_signal_for_another_agent_exits_2(store: str, tmp_path: Path) -> None:
    """Signalling a run with a different agent's reference names the right agent."""
    ref = write_agent(tmp_path, "approver", APPROVER)
    run_id = run_id_of(tether("run", ref, "refund", "--store", store))
    result = tether("signal", run_id, "approve", SUPPORT, "--store", store)
    assert result.exit_code == EXIT_USAGE
    assert "belongs to agent 'approver'" in result.output


# -- the installed command --------------------------------------------------------------------


def test_python_dash_m_runs_the_example_end_to_end(store: str, tmp_path: Path) -> None:
    """`python -m tether.cli run examples/support_scripted.py:agent ...` in a real process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("TETHER_STORE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "tether.cli", "run", SUPPORT, "Where is order 1234?"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Order 1234 has shipped with DHL" in proc.stdout
    assert (tmp_path / ".tether" / "tether.db").exists(), "default store is .tether/ in the cwd"


def test_version() -> None:
    """`tether --version` prints the package version."""
    result = tether("--version")
    assert result.exit_code == 0 and result.output.startswith("tether ")


def test_killswitch_on_off_status(store: str) -> None:
    """`killswitch on` is visible to every process using the store until `off`."""
    assert "kill switch off" in tether("killswitch", "status", "--store", store).output
    on = tether("killswitch", "on", "--by", "oncall", "--store", store)
    assert on.exit_code == 0 and "kill switch ON" in on.output
    assert "kill switch ON" in tether("killswitch", "--store", store).output
    assert "kill switch off" in tether("killswitch", "off", "--store", store).output
    assert tether("killswitch", "maybe", "--store", store).exit_code == EXIT_USAGE
