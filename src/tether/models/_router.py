"""``Router``: pick a model per step kind and fall back along a chain when a provider fails.

A router is itself a :class:`~tether.models.ModelClient`, so the engine does
not know it is there. For each request it tries the model routed for
``request.step_kind`` (or the default), then the fallbacks in order:

- a *retryable* :class:`~tether.exceptions.ModelError` (rate limit, overload,
  5xx, timeout, connection, malformed reply) or a ``TimeoutError`` moves on
  to the next model;
- a *non-retryable* one (bad request, auth, context length) is raised at
  once: another model would most likely fail the same way, and it is a bug
  or a configuration problem someone has to see;
- when every model failed, the last error is raised (still retryable), with
  the attempted model ids in its ``attempts`` context, so the engine's retry
  policy takes over.

The router never retries one model twice; backoff belongs to the engine,
which journals every attempt. ``ModelResponse.model`` names the model that
answered.

When streaming, fallback happens only before the first delta: once text has
reached the client, switching to another model would splice two replies.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from tether.exceptions import ModelError
from tether.models._errors import ModelErrorCode, model_error
from tether.models._types import ModelClient, ModelRequest, ModelResponse, StepKind, StreamDelta

__all__ = ["Router"]

logger = logging.getLogger("tether.models")


class Router:
    """A ModelClient that routes by ``request.step_kind`` and falls back on retryable errors.

    Args:
        routes: the model for each step kind that should not use ``default``,
            e.g. ``{"summarize": "openai:gpt-4.1-mini"}``.
        default: the model for every other step kind.
        fallbacks: models tried in order after the routed one fails with a
            retryable error (the routed model itself is skipped here).

    Strings are resolved with :func:`~tether.models.resolve_model` when the
    router is built, so a bad id fails fast; :meth:`aclose` closes the clients
    the router resolved itself, not the ones passed in.
    """

    def __init__(
        self,
        routes: Mapping[StepKind, ModelClient | str] | None = None,
        *,
        default: ModelClient | str,
        fallbacks: Sequence[ModelClient | str] = (),
    ) -> None:
        self._owned: list[ModelClient] = []
        self._resolved: dict[str, ModelClient] = {}
        self.routes: dict[StepKind, ModelClient] = {
            kind: self._resolve(spec) for kind, spec in (routes or {}).items()
        }
        self.default: ModelClient = self._resolve(default)
        self.fallbacks: list[ModelClient] = [self._resolve(spec) for spec in fallbacks]

    def _resolve(self, spec: ModelClient | str) -> ModelClient:
        if not isinstance(spec, str):
            return spec
        if spec not in self._resolved:
            from tether.models._resolve import resolve_model

            client = resolve_model(spec)
            self._resolved[spec] = client
            self._owned.append(client)
        return self._resolved[spec]

    @property
    def model_id(self) -> str:
        """A stable description of the routing table, for agent version hashes."""
        routes = ",".join(
            f"{kind}={client.model_id}" for kind, client in sorted(self.routes.items())
        )
        fallbacks = ",".join(client.model_id for client in self.fallbacks)
        return f"router({routes};default={self.default.model_id};fallbacks={fallbacks})"

    def candidates(self, step_kind: StepKind) -> list[ModelClient]:
        """The models tried for ``step_kind``, in order, each at most once."""
        chain: list[ModelClient] = []
        for client in (self.routes.get(step_kind, self.default), *self.fallbacks):
            if all(client is not c and client.model_id != c.model_id for c in chain):
                chain.append(client)
        return chain

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Answer with the first model in the chain that does not fail retryably."""
        attempts: list[dict[str, Any]] = []
        for client in self.candidates(request.step_kind):
            try:
                response = await client.complete(request)
            except (ModelError, TimeoutError) as exc:
                self._note_failure(client, exc, attempts)
                continue
            return _stamp(response, client)
        raise self._exhausted(attempts)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamDelta | ModelResponse]:
        """Stream from the first model that starts answering; fall back only before that."""
        attempts: list[dict[str, Any]] = []
        for client in self.candidates(request.step_kind):
            started = False
            items = client.stream(request)
            try:
                async for item in items:
                    started = True
                    yield _stamp(item, client) if isinstance(item, ModelResponse) else item
            except (ModelError, TimeoutError) as exc:
                if started:
                    raise
                self._note_failure(client, exc, attempts)
                continue
            finally:
                await _aclose(items)
            return
        raise self._exhausted(attempts)

    def _note_failure(
        self, client: ModelClient, exc: ModelError | TimeoutError, attempts: list[dict[str, Any]]
    ) -> None:
        """Record a failed attempt, or re-raise it when it is not worth a fallback."""
        error = exc if isinstance(exc, ModelError) else _timeout(client, exc)
        if not error.retryable:
            if error is exc:
                raise error
            raise error from exc
        attempts.append({"model": client.model_id, "error_code": error.error_code, "error": error})
        logger.info(
            "model %s failed (%s); falling back", client.model_id, error.error_code, exc_info=False
        )

    def _exhausted(self, attempts: list[dict[str, Any]]) -> ModelError:
        """The error to raise when every model in the chain failed."""
        last: ModelError = attempts[-1]["error"]
        summary = [{"model": a["model"], "error_code": a["error_code"]} for a in attempts]
        tried = ", ".join(f"{a['model']} ({a['error_code']})" for a in summary)
        error = ModelError(
            f"every model failed: {tried}; last error: {last.message}",
            error_code=last.error_code,
            retryable=last.retryable,
            retry_after=last.retry_after,
            status_code=last.status_code,
            attempts=summary,
        )
        error.__cause__ = last
        return error

    async def aclose(self) -> None:
        """Close the clients this router resolved from strings."""
        for client in self._owned:
            await _close_client(client)
        self._owned.clear()

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"Router({self.model_id!r})"


def _stamp(response: ModelResponse, client: ModelClient) -> ModelResponse:
    """Make sure the reply names the model that produced it."""
    if response.model:
        return response
    return response.model_copy(update={"model": client.model_id})


def _timeout(client: ModelClient, exc: TimeoutError) -> ModelError:
    return model_error(
        ModelErrorCode.TIMEOUT, f"{client.model_id} timed out: {exc!r}", model=client.model_id
    )


async def _aclose(items: AsyncIterator[Any]) -> None:
    """Finish an abandoned stream now rather than whenever the garbage collector gets to it."""
    close = getattr(items, "aclose", None)
    if close is not None:
        await close()


async def _close_client(client: object) -> None:
    """Close a model client by whichever method it offers (``aclose`` or a sync ``close``)."""
    aclose = getattr(client, "aclose", None)
    if aclose is not None:
        await aclose()
        return
    close = getattr(client, "close", None)
    if close is None:
        return
    # A sync close (LocalModel joins its worker thread) must not block the event loop.
    result = await asyncio.to_thread(close)
    if inspect.isawaitable(result):
        await result
