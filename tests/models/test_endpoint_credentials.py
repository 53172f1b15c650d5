"""A model endpoint URL with credentials (``user:password@``, ``?api_key=``) never leaves the
process through the model id: the id is stored in clear (``model.failed``'s ``model``), is
a Prometheus label and a span attribute. Requests still go to the URL as given."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tether import Agent, RetryPolicy, Runtime
from tether.exceptions import ConfigError
from tether.models import resolve_model
from tether.server._metrics import RunMetrics

PASSWORD = "S3cretProxyPass-991"


class _Failing(BaseHTTPRequestHandler):
    """Answers every request 500 and remembers the Authorization headers it saw."""

    seen: list[str | None] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).seen.append(self.headers.get("authorization"))
        body = json.dumps({"error": {"message": "boom", "type": "server_error"}}).encode()
        self.send_response(500)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def failing_server() -> Iterator[tuple[int, list[str | None]]]:
    seen: list[str | None] = []
    handler = type("Handler", (_Failing,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_model_id_has_no_userinfo_nor_secret_query_values() -> None:
    pytest.importorskip("openai")
    pytest.importorskip("anthropic")
    from tether.models import AnthropicModel, OpenAIModel

    url = f"http://svc:{PASSWORD}@127.0.0.1:9/v1?api_key={PASSWORD}&sig={PASSWORD}&region=eu"
    for model in (
        OpenAIModel("gpt-4o", base_url=url, api_key="x"),
        AnthropicModel("claude", base_url=url, api_key="x"),
        resolve_model(f"openai:gpt-4o@{url}"),
    ):
        assert PASSWORD not in model.model_id
        assert PASSWORD not in repr(model)
        assert "127.0.0.1:9/v1" in model.model_id and "region=eu" in model.model_id
    # A token given as the user, with no password, is dropped too.
    token_as_user = OpenAIModel("m", base_url=f"https://{PASSWORD}@gw.example/v1", api_key="x")
    assert token_as_user.model_id == "openai:m@https://gw.example/v1"
    # A URL without credentials keeps its exact id (pricing and version hashes rely on it).
    plain = OpenAIModel("qwen", base_url="http://127.0.0.1:8000/v1", api_key="x")
    assert plain.model_id == "openai:qwen@http://127.0.0.1:8000/v1"


def test_a_model_spec_that_cannot_be_resolved_is_reported_without_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_model(f"nosuch:gpt@http://svc:{PASSWORD}@127.0.0.1:9/v1")
    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(caught.value.context)


async def test_a_failed_call_to_a_credentialed_endpoint_stores_and_labels_no_password(
    tmp_path: Path, failing_server: tuple[int, list[str | None]]
) -> None:
    pytest.importorskip("openai")
    from tether.models import OpenAIModel

    port, seen = failing_server
    model = OpenAIModel(
        "gpt-4o", base_url=f"http://svc:{PASSWORD}@127.0.0.1:{port}/v1", api_key="x", timeout=30
    )
    agent = Agent(name="m", model=model, model_retry=RetryPolicy(max_attempts=2, jitter=False))
    db = tmp_path / "t.db"
    async with Runtime(f"sqlite:///{db}", agents=[agent]) as rt:
        metrics = RunMetrics(rt)
        rt.add_observer(metrics.observe)
        result = await (await rt.start(agent, "hi")).result(timeout=60)
        page = metrics.render().decode()
    assert result.status == "failed"
    assert result.error is not None and result.error.error_code == "model_server_error"
    # The request went to the URL as given: its credentials were sent (never change
    # what executes).
    assert seen and all(header is not None and header.startswith("Basic ") for header in seen)
    with sqlite3.connect(db) as conn:
        rows = [(t, bytes(d).decode()) for t, d in conn.execute("SELECT type, data FROM events")]
        runs = repr(list(conn.execute("SELECT * FROM runs")))
    assert any(t == "model.failed" and "127.0.0.1" in d for t, d in rows)
    assert not [t for t, d in rows if PASSWORD in d]
    assert PASSWORD not in runs
    assert "tether_model_errors_total" in page and f"127.0.0.1:{port}/v1" in page
    assert PASSWORD not in page


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:pw@[::1]:8000/v1", "http://[::1]:8000/v1"),
        ("http://h/v1?access_token=pw&x=1", "http://h/v1?access_token=***&x=1"),
        ("http://h/v1?%61pi_key=pw", "http://h/v1?%61pi_key=***"),
        ("http://h/v1?Signature=pw", "http://h/v1?Signature=***"),
        # A password holding "/" or "?" leaves part of it after the host: show the host only.
        ("http://svc:pa/ss@host/v1", "<endpoint URL>"),
        ("http://svc:12?pw@host/v1", "http://svc:12/..."),
        ("svc:pw@host/v1", "<endpoint URL>"),
        ("localhost:8000/v1", "localhost:8000/v1"),
    ],
)
def test_safe_endpoint_url(url: str, shown: str) -> None:
    from tether.models._endpoint import safe_endpoint_url

    assert safe_endpoint_url(url) == shown
