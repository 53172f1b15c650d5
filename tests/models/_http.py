"""A scripted HTTP server for provider SDKs, built on the SDK's own ``MockTransport``.

Recent ``openai`` / ``anthropic`` SDKs are built on ``httpx2`` and reject
``httpx`` clients (older ones on ``httpx``), so the HTTP library is taken from
the SDK's ``DefaultAsyncHttpxClient`` instead of being hard-coded.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any


def http_library(sdk: ModuleType) -> ModuleType:
    """The ``httpx``-like module the SDK's HTTP client class comes from."""
    for cls in sdk.DefaultAsyncHttpxClient.__mro__:
        if cls.__name__ == "AsyncClient":
            return importlib.import_module(cls.__module__.partition(".")[0])
    raise RuntimeError(f"cannot find the HTTP library of {sdk.__name__}")


Reply = Callable[[Any], Any]


class FakeServer:
    """Answers each request with the next scripted reply and records what it received."""

    def __init__(self, sdk: ModuleType) -> None:
        self.lib = http_library(sdk)
        self.replies: list[Reply] = []
        self.requests: list[Any] = []

    def handler(self, request: Any) -> Any:
        self.requests.append(request)
        if not self.replies:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        return self.replies.pop(0)(request)

    def client(self) -> Any:
        """An async HTTP client whose transport is this server."""
        return self.lib.AsyncClient(transport=self.lib.MockTransport(self.handler))

    def add_json(
        self, body: object, *, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        self.replies.append(
            lambda _req: self.lib.Response(status, json=body, headers=headers or {})
        )

    def add_sse(self, text: str) -> None:
        self.replies.append(
            lambda _req: self.lib.Response(
                200,
                content=text.encode(),
                headers={"content-type": "text/event-stream"},
            )
        )

    def add_raise(self, exc_factory: Callable[[Any], BaseException]) -> None:
        def reply(request: Any) -> Any:
            raise exc_factory(request)

        self.replies.append(reply)

    def body(self, index: int = -1) -> dict[str, Any]:
        """The JSON body of a received request."""
        data = json.loads(self.requests[index].content)
        assert isinstance(data, dict)
        return data


def sse_events(*events: tuple[str | None, object]) -> str:
    """Server-sent events text: ``event:`` line (when named) and ``data:`` line, blank line."""
    out = []
    for name, data in events:
        payload = data if isinstance(data, str) else json.dumps(data)
        prefix = f"event: {name}\n" if name else ""
        out.append(f"{prefix}data: {payload}\n\n")
    return "".join(out)
