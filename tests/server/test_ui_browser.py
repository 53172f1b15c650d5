"""The browser UI end to end, in a real headless Chromium driven by Playwright.

A real uvicorn serves ``create_app`` over a SQLite file store on 127.0.0.1. One run
of an agent whose write tool needs approval is started through the API; in the
browser a person enters a key, finds the run, opens its timeline (the call waits),
approves it from the inbox in a second tab, and watches the first tab's timeline
reach ``completed`` live over SSE, without a reload. Tool output carrying an
``<img onerror>`` payload must appear as text and never run.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

import tether.server
from tether import Agent, Runtime, tool
from tether.models import ModelRequest, ModelResponse, Usage
from tether.store import new_api_key
from tether.testing import ScriptedModel, text, tool_call

ARTIFACTS = Path(__file__).parent / "artifacts"
XSS = '<img src=x onerror="window.__pwned = 1">'
TIMEOUT_MS = 20_000  # generous bound for a loaded CI machine, not a timing claim


def _say_email(arguments: dict[str, Any]) -> str:
    return f"email {arguments['to']} about {arguments['subject']!r} {XSS}"


@tool(effect="write", requires_approval=True, preview=_say_email)
def send_email(to: str, subject: str, body: str) -> str:
    """Send an email to a customer."""
    return f"queued {XSS} for {to}: {subject}"


def _support_script(request: ModelRequest) -> Any:
    """Propose the email (with a thought), then answer with the tool's result."""
    last = request.messages[-1]
    if last.role == "tool":
        return ModelResponse(
            text=f"Done: {last.content}",
            usage=Usage(input_tokens=1480, cached_input_tokens=1152, output_tokens=31),
        )
    call = tool_call("send_email", to="ana@example.com", subject="Your refund", body="Refunded.")
    return ModelResponse(
        text="The customer asked for a refund receipt, so I will email it to them.",
        tool_calls=[call],
        usage=Usage(input_tokens=1210, output_tokens=42),
        finish_reason="tool_calls",
    )


SUPPORT = Agent(name="support", model=ScriptedModel(_support_script), tools=[send_email])
HELPER = Agent(name="helper", model=ScriptedModel([text("looked it up")]))
AGENTS = {"support": SUPPORT, "helper": HELPER}


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Debian chromium is missing: apt-get install chromium (.ci/run does)")
    return path


@dataclass
class Served:
    """A live server: its base URL, a key for tenant acme, and a way into its loop."""

    url: str
    key: str
    loop: asyncio.AbstractEventLoop
    runtime: Runtime

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` on the server's loop (where the runtime lives) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)


async def _create_key(runtime: Runtime, tenant: str, scopes: list[str]) -> str:
    record, key = new_api_key(tenant, scopes, label="ui test")
    await runtime.store.create_api_key(record)
    return key


class _Uvicorn(uvicorn.Server):
    """uvicorn that says when it listens (instead of being polled for it)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self.up.set()


@pytest.fixture
def served(store_url: str) -> Iterator[Served]:
    """uvicorn on a free 127.0.0.1 port, in a thread with its own loop and runtime."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    ready: Future[Served] = Future()
    holder: dict[str, _Uvicorn] = {}

    async def main() -> None:
        try:
            async with Runtime(store_url) as runtime:
                app = tether.server.create_app(runtime, AGENTS)
                config = uvicorn.Config(app, log_level="warning", lifespan="on")
                server = _Uvicorn(config)
                holder["server"] = server
                key = await _create_key(
                    runtime, "acme", ["runs:read", "runs:write", "approvals:write"]
                )
                serving = asyncio.create_task(server.serve(sockets=[sock]))
                up = asyncio.create_task(server.up.wait())
                await asyncio.wait([serving, up], return_when=asyncio.FIRST_COMPLETED)
                if not server.up.is_set():
                    up.cancel()
                    await serving  # raises what stopped it
                    raise RuntimeError("uvicorn stopped before it started serving")
                loop = asyncio.get_running_loop()
                ready.set_result(Served(f"http://127.0.0.1:{port}", key, loop, runtime))
                await serving
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="ui-server")
    thread.start()
    try:
        yield ready.result(timeout=60)
    finally:
        if "server" in holder:
            holder["server"].should_exit = True
        thread.join(timeout=60)
        sock.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def _start_run(served: Served, input: str, agent: str = "support") -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {served.key}"}
    with httpx.Client(base_url=served.url, headers=headers, timeout=30) as client:
        response = client.post("/v1/runs", json={"agent": agent, "input": input})
        assert response.status_code == 201, response.text
        run: dict[str, Any] = response.json()
        # Wait on the run itself (it parks for the approval), not on a clock.
        for _ in range(600):
            run = client.get(f"/v1/runs/{run['run_id']}").json()
            if run["status"] == "waiting":
                return run
            time.sleep(0.05)
    pytest.fail(f"the run never parked for its approval: {run}")


def _enter_key(page: Page, served: Served) -> None:
    page.goto(f"{served.url}/ui")
    expect(page.locator("#view-key")).to_be_visible()
    page.fill("#key-input", served.key)
    page.click("#key-form button[type=submit]")
    expect(page.locator("#view-key")).to_be_hidden()


def test_runs_timeline_inbox_approve_and_live_completion(served: Served, browser: Browser) -> None:
    """Key → runs list → timeline (waiting) → approve with edits from the inbox → the open
    timeline shows the run completed over SSE, and hostile tool output stays text."""
    run = _start_run(served, f"Email Ana her refund receipt {XSS}")
    run_id = run["run_id"]
    child = served.call(
        served.runtime.start(HELPER, "find the receipt", tenant="acme", parent_run_id=run_id)
    )
    served.call(child.result(timeout=30))

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # The page asks for a key first and keeps it for the session (this tab).
    _enter_key(page, served)
    assert page.evaluate("sessionStorage.getItem('tether.apiKey')") == served.key

    # Runs list: the run, waiting; the status filter narrows it.
    row = page.locator(f"#runs-body tr[data-run-id='{run_id}']")
    expect(row).to_contain_text("waiting")
    expect(row).to_contain_text("support")
    page.select_option("#filter-status", "completed")
    page.click("#run-filters button[type=submit]")
    expect(row).to_have_count(0)
    expect(page.locator(f"#runs-body tr[data-run-id='{child.run_id}']")).to_be_visible()
    page.select_option("#filter-status", "waiting")
    page.click("#run-filters button[type=submit]")
    expect(row).to_be_visible()

    # Run page: the call waits for approval; the child run hangs under it.
    row.locator("a").click()
    expect(page.locator("#run-status-badge")).to_have_text("waiting")
    request = page.locator(".ev[data-type='approval.requested']")
    expect(request).to_contain_text("send_email")
    expect(request).to_contain_text("waiting for a decision")
    expect(page.locator(".ev[data-type='model.completed']").first).to_contain_text("1,210 in")
    expect(page.locator(f"#child-tree li[data-run-id='{child.run_id}']")).to_contain_text("helper")
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads this tab

    # The inbox, in a second tab (a new tab asks for the key again).
    inbox = context.new_page()
    inbox.on("pageerror", lambda exc: errors.append(str(exc)))
    _enter_key(inbox, served)
    inbox.click("#nav-approvals")
    card = inbox.locator(f"article.approval[data-run-id='{run_id}']")
    expect(card).to_contain_text(f"Email Ana her refund receipt {XSS}")  # the task, as text
    expect(card).to_contain_text("so I will email it to them")  # the model's last reasoning
    expect(card).to_contain_text("Needs approval:")
    # The tool's preview, as text like everything else (its markup never runs).
    expect(card.locator("pre.preview")).to_have_text(
        f"email ana@example.com about 'Your refund' {XSS}"
    )
    arguments = card.locator("textarea.args")
    assert json.loads(arguments.input_value()) == {
        "to": "ana@example.com",
        "subject": "Your refund",
        "body": "Refunded.",
    }

    # Edits that are not JSON, or that the tool's schema refuses, are errors shown inline.
    arguments.fill("{not json")
    card.locator("button.approve-edits").click()
    expect(card.locator(".error")).to_contain_text("not valid JSON")
    arguments.fill(json.dumps({"to": "ana@example.com", "subject": "x", "body": "y", "cc": 1}))
    card.locator("button.approve-edits").click()
    expect(card.locator(".error")).to_contain_text("422")
    expect(page.locator("#run-status-badge")).to_have_text("waiting")

    ARTIFACTS.mkdir(exist_ok=True)
    inbox.screenshot(path=str(ARTIFACTS / "ui-approvals.png"), full_page=True)

    # Approve with valid edits and a reason.
    edited = {"to": "ana@example.com", "subject": "Your refund receipt", "body": "Refunded."}
    arguments.fill(json.dumps(edited))
    card.locator("input.reason").fill("receipt checked by ana")
    card.locator("button.approve-edits").click()
    expect(card.locator(".outcome")).to_contain_text("Approved with edits")

    # Back in the first tab, untouched: the timeline followed the run to its end.
    expect(page.locator("#run-status-badge")).to_have_text("completed")
    finished = page.locator(".ev[data-type='run.finished']")
    expect(finished).to_contain_text("Done: queued")
    decided = page.locator(".ev[data-type='approval.decided']")
    expect(decided).to_contain_text("approved")
    expect(decided).to_contain_text("Your refund receipt")
    expect(request).to_contain_text("approved")
    result = page.locator(".ev[data-type='tool.completed'] pre.result")
    expect(result).to_contain_text(f"{XSS} for ana@example.com: Your refund receipt")
    expect(page.locator("#run-totals")).to_contain_text("Prefix-cache ratio")
    assert page.evaluate("window.__sameDocument") is True

    # Hostile strings were text everywhere: no element made from them, nothing ran.
    assert page.locator("main img").count() == 0
    assert inbox.locator("main img").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert inbox.evaluate("window.__pwned") is None
    assert errors == []

    page.screenshot(path=str(ARTIFACTS / "ui-run.png"), full_page=True)
    inbox.close()
    context.close()


def test_invisible_characters_in_arguments_are_shown_as_escapes(
    served: Served, browser: Browser
) -> None:
    """A bidi override or a zero-width space in an argument is shown as its escape.

    On the old code the approval card and the timeline showed "\u202e4321-8765" as the
    "5678-1234" a browser displays, and "ACME\u200bCORP" as "ACMECORP": the approver read
    one account, the tool got another. The card's JSON still parses back to the value.
    """
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{served.url}/ui")
    shown = page.evaluate(
        """async () => {
            const dom = await import("/ui/dom.js");
            const args = {to: "\u202e4321-8765", payee: "ACME\u200bCORP", n: 5};
            const card = dom.jsonText(args, true);
            return {
                call: dom.callText("transfer", args),
                text: dom.asText("say \u202ehello\u2066"),
                card: card,
                same: JSON.stringify(JSON.parse(card)) === JSON.stringify(args),
            };
        }"""
    )
    assert shown["call"] == 'transfer(to="\\u202e4321-8765", payee="ACME\\u200bCORP", n=5)'
    assert shown["text"] == "say \\u202ehello\\u2066"
    assert "\u202e" not in shown["card"] and shown["same"] is True
    page.close()


def test_a_wrong_key_is_refused_and_asked_for_again(served: Served, browser: Browser) -> None:
    """A key the server rejects is not kept: the page says so and asks again."""
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{served.url}/ui")
    page.fill("#key-input", "tk_nope_wrong")
    page.click("#key-form button[type=submit]")
    expect(page.locator("#key-error")).to_contain_text("Key rejected", timeout=TIMEOUT_MS)
    expect(page.locator("#view-key")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('tether.apiKey')") is None
    page.close()


def _frame(seq: int, step: int, kind: str, data: dict[str, Any], *, split: bool = False) -> str:
    """One stored event as the server frames it, with CRLF line ends (valid SSE too)."""
    body = json.dumps(
        {"seq": seq, "step": step, "ts": 1_700_000_000.0 + seq, "type": kind, "data": data}
    )
    if split:  # one event's JSON over two data: lines, which SSE joins with a newline
        head, tail = body.split(', "type"', 1)
        lines = f'data: {head},\r\ndata: "type"{tail}'
    else:
        lines = f"data: {body}"
    return f"id: {seq}\r\nevent: {kind}\r\n{lines}\r\n\r\n"


def test_a_dropped_stream_resumes_from_last_event_id_without_gaps_or_repeats(
    served: Served, browser: Browser
) -> None:
    """The timeline's SSE reader (fetch, not EventSource) resumes with Last-Event-ID after
    a drop and after an overflow, shows each event once, and shows sealed values as
    [sealed]. The event stream here is scripted in the browser, frame by frame."""
    run_id = "run_scripted"
    call = {"to": "ana@example.com", "subject": "hi", "body": "b"}
    streams = [
        # 1st connection: three events (one split over two data: lines), then a drop.
        ": keep-alive comment\r\n\r\n"
        + _frame(
            1,
            0,
            "run.created",
            {"agent": "support", "agent_version": "v1", "input": "hello", "initial_state": "think"},
        )
        + _frame(
            2,
            0,
            "model.completed",
            {
                "call": 0,
                "latency_ms": 12.5,
                "response": {
                    "text": "thinking",
                    "tool_calls": [{"id": "c1", "name": "send_email", "arguments": call}],
                    "usage": {"input_tokens": 200, "cached_input_tokens": 150, "output_tokens": 9},
                    "finish_reason": "tool_calls",
                    "model": "m",
                },
            },
            split=True,
        )
        + _frame(
            3,
            0,
            "tool.started",
            {
                "call": 1,
                "call_id": "c1",
                "tool": "send_email",
                "arguments": call,
                "idempotency_key": "k",
            },
        ),
        # 2nd: a repeat of 3 (ignored), event 4 with a sealed result, then an overflow.
        _frame(
            3,
            0,
            "tool.started",
            {
                "call": 1,
                "call_id": "c1",
                "tool": "send_email",
                "arguments": call,
                "idempotency_key": "k",
            },
        )
        + 'event: delta\r\ndata: {"text": "Sen"}\r\n\r\n'
        + _frame(
            4,
            0,
            "tool.completed",
            {
                "call": 1,
                "call_id": "c1",
                "tool": "send_email",
                "result": {"token": {"$sealed": True}, "note": XSS},
            },
        )
        + 'event: overflow\r\ndata: {"resume_after": 4}\r\n\r\n',
        # 3rd: a retried model call, a retried then refused tool, an escalation, the end.
        _frame(
            5,
            1,
            "model.failed",
            {
                "call": 0,
                "model": "m",
                "error_code": "rate_limited",
                "message": "slow down",
                "retryable": True,
                "attempt": 1,
                "will_retry": True,
                "retry_after": 2.0,
            },
        )
        + _frame(
            6,
            1,
            "tool.failed",
            {
                "call": 1,
                "call_id": "c2",
                "tool": "fetch_page",
                "error": {"error_code": "transient", "message": "reset", "retryable": True},
                "attempt": 1,
                "duration_ms": 40.0,
                "will_retry": True,
            },
        )
        + _frame(
            7,
            1,
            "policy.decided",
            {
                "call_id": "c3",
                "tool": "wire_money",
                "action": "deny",
                "reason": "never by an agent",
                "rule": "no-wires",
                "source": "policy_file",
            },
        )
        + _frame(
            8,
            1,
            "run.escalated",
            {
                "reason": "customer threatens legal action",
                "source": "classifier",
                "suggested_next_step": "hand to legal",
            },
        )
        + _frame(
            9,
            1,
            "run.finished",
            {
                "status": "completed",
                "output": "sent",
                "usage": {"input_tokens": 200, "output_tokens": 9, "cached_input_tokens": 150},
                "model_calls": 1,
                "tool_calls": 1,
                "cost_usd": 0.5,
            },
        )
        + 'event: end\r\ndata: {"status": "completed", "last_seq": 9}\r\n\r\n',
    ]
    resumed_from: list[str | None] = []
    authorized: list[bool] = []
    summary = {
        "run_id": run_id,
        "agent": "support",
        "agent_version": "v1",
        "tenant": "acme",
        "status": "completed",
        "reason": None,
        "created_at": 1_700_000_000.0,
        "updated_at": 1_700_000_009.0,
        "last_seq": 9,
        "parent_run_id": None,
    }

    def events(route: Any) -> None:
        headers = route.request.headers
        authorized.append(headers.get("authorization") == f"Bearer {served.key}")
        resumed_from.append(headers.get("last-event-id"))
        body = streams[len(resumed_from) - 1] if len(resumed_from) <= len(streams) else ""
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)

    def run(route: Any) -> None:
        route.fulfill(status=200, json=summary)

    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.route(re.compile(rf".*/v1/runs/{run_id}/events.*"), events)
    page.route(re.compile(rf".*/v1/runs/{run_id}$"), run)
    _enter_key(page, served)
    page.goto(f"{served.url}/ui#/runs/{run_id}")
    finished = page.locator(".ev[data-type='run.finished']")
    expect(finished).to_contain_text("sent", timeout=TIMEOUT_MS)
    assert resumed_from == [None, "3", "4"]
    assert authorized == [True, True, True]
    seqs = page.locator(".ev").evaluate_all("rows => rows.map(r => r.dataset.seq)")
    assert seqs == [str(seq) for seq in range(1, 10)]
    expect(page.locator(".ev[data-seq='5']")).to_contain_text("[rate_limited] slow down")
    expect(page.locator(".ev[data-seq='5']")).to_contain_text("retrying after 2 s")
    expect(page.locator(".ev[data-seq='6']")).to_contain_text("fetch_page [transient] reset")
    expect(page.locator(".ev[data-seq='6']")).to_contain_text("retrying")
    expect(page.locator(".ev[data-seq='7']")).to_contain_text("deny wire_money")
    expect(page.locator(".ev[data-seq='7']")).to_contain_text("[rule no-wires]")
    expect(page.locator(".ev[data-seq='8']")).to_contain_text("customer threatens legal action")
    expect(page.locator(".ev[data-seq='8']")).to_contain_text("suggested: hand to legal")
    model = page.locator(".ev[data-type='model.completed']")
    expect(model).to_contain_text("200 in · 150 cached · 9 out")
    expect(model).to_contain_text("cache 75.0%")
    result = page.locator(".ev[data-type='tool.completed'] pre.result")
    expect(result).to_contain_text('"token": "[sealed]"')
    expect(result).to_contain_text('"note": "<img src=x onerror=')
    assert page.locator("main img").count() == 0
    expect(page.locator("#run-status-badge")).to_have_text("completed")
    expect(page.locator("#run-totals")).to_contain_text("$0.5000")
    page.close()


def test_the_tenant_filter_is_for_admin_keys(served: Served, browser: Browser) -> None:
    """An admin key lists any tenant's runs by the tenant filter; a tenant key asking for
    another tenant gets the API's refusal on the page, and never those runs."""
    mine = _start_run(served, "acme's task")["run_id"]
    theirs = served.call(served.runtime.start(HELPER, "globex's task", tenant="globex"))
    served.call(theirs.result(timeout=30))
    admin = served.call(_create_key(served.runtime, "ops", ["admin"]))

    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    _enter_key(page, served)
    expect(page.locator(f"#runs-body tr[data-run-id='{mine}']")).to_be_visible()
    expect(page.locator(f"#runs-body tr[data-run-id='{theirs.run_id}']")).to_have_count(0)
    page.fill("#filter-tenant", "globex")
    page.click("#run-filters button[type=submit]")
    expect(page.locator("#runs-error")).to_contain_text("403")
    expect(page.locator(f"#runs-body tr[data-run-id='{theirs.run_id}']")).to_have_count(0)

    page.click("#forget-key")
    expect(page.locator("#view-key")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('tether.apiKey')") is None
    page.fill("#key-input", admin)
    page.click("#key-form button[type=submit]")
    both = page.locator("#runs-body tr")
    expect(page.locator(f"#runs-body tr[data-run-id='{theirs.run_id}']")).to_be_visible()
    expect(page.locator(f"#runs-body tr[data-run-id='{mine}']")).to_be_visible()
    page.fill("#filter-tenant", "globex")
    page.click("#run-filters button[type=submit]")
    expect(both).to_have_count(1)
    expect(both).to_contain_text("globex")
    page.close()


def test_ui_assets_are_served_from_the_package_with_a_strict_policy(served: Served) -> None:
    """/ui and its JS and CSS come from the package, no-inline-script CSP; nothing else."""
    with httpx.Client(base_url=served.url, timeout=30) as client:
        page = client.get("/ui")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "unsafe-inline" not in page.headers["content-security-policy"]
        assert '<script type="module" src="/ui/app.js"' in page.text
        assert "http://" not in page.text and "https://" not in page.text  # no CDN
        for module in ("app", "api", "dom", "timeline"):
            script = client.get(f"/ui/{module}.js")
            assert script.headers["content-type"].startswith("text/javascript")
            assert "innerHTML" not in script.text and "insertAdjacentHTML" not in script.text
        assert client.get("/ui/app.css").headers["content-type"].startswith("text/css")
        for path in ("/ui/nope.js", "/ui/..%2F_ui.py", "/ui/index.html"):
            missing = client.get(path)
            assert missing.status_code == 404, path
            assert "error" in missing.json()


def test_deny_with_a_reason_and_cancel_from_the_run_page(served: Served, browser: Browser) -> None:
    """Deny from the inbox: the model is told the reason and the run goes on to completion.
    Cancel from the run page: the open timeline shows the run cancelled."""
    denied = _start_run(served, "email Ana")["run_id"]
    doomed = _start_run(served, "email Bob")["run_id"]

    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    _enter_key(page, served)
    page.goto(f"{served.url}/ui#/approvals?run={denied}")
    expect(page.locator("#approvals-filter")).to_contain_text(denied)
    expect(page.locator("article.approval")).to_have_count(1)
    card = page.locator(f"article.approval[data-run-id='{denied}']")
    card.locator("input.reason").fill("Ana asked not to be emailed")
    card.locator("button.deny").click()
    expect(card.locator(".outcome")).to_contain_text("Denied")
    card.locator(".outcome a").click()
    expect(page.locator("#run-status-badge")).to_have_text("completed")
    decided = page.locator(".ev[data-type='approval.decided']")
    expect(decided).to_contain_text("denied")
    expect(decided).to_contain_text("Ana asked not to be emailed")
    expect(page.locator(".ev[data-type='tool.failed']")).to_contain_text("send_email [denied]")

    page.goto(f"{served.url}/ui#/runs/{doomed}")
    expect(page.locator("#run-status-badge")).to_have_text("waiting")
    page.once("dialog", lambda dialog: dialog.accept("not needed any more"))
    page.click("#run-cancel")
    expect(page.locator("#run-status-badge")).to_have_text("cancelled")
    expect(page.locator("#run-cancel")).to_be_hidden()
    page.close()
