"""The HTTP API: runs, their events over SSE, signals and approvals, per tenant.

``create_app(runtime, agents)`` serves the given agents by name on an open runtime,
which keeps driving, recovering and timing out runs on its own. Every route under
``/v1`` needs an API key (``_auth``); every run it touches must belong to the key's
tenant, or it answers 404 as if the run did not exist.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import logging
import math
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Path, Query
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from tether import __version__
from tether.engine import Agent, ApprovalRequested, RunStatus
from tether.exceptions import ApprovalError, ConcurrentWriteError
from tether.runtime import Runtime, audit_run, new_run_id
from tether.server._auth import Principal, require
from tether.server._errors import ApiError, BodyLimit, JsonRoute, install_error_handlers
from tether.server._metrics import metrics_router, open_approvals
from tether.server._models import (
    ApprovalList,
    ApprovalOut,
    CancelRun,
    CreateRun,
    Decision,
    ErrorOut,
    Health,
    RunList,
    RunOut,
    SendSignal,
)
from tether.server._sse import DirectSend, EventStream, RunStreams, shown
from tether.server._ui import ui_router
from tether.store import RunCursor, RunRecord

_MAX_SEQ = 2**62
RunId = Annotated[str, Path(min_length=1, max_length=200, description="The run's id.")]
_TEXT = r"^[^\x00]*$"
"""Text a filter may be: no NUL, which no stored name holds (and Postgres refuses)."""
_REPLAY_WAIT = 10.0
"""Seconds a retried POST waits for the run its idempotency key's first request starts."""
_CLAIM_TRIES = 3
"""Claims of one idempotency key a POST makes (a claim released meanwhile is claimed again)."""
_APPROVAL_SCAN = 1000
"""Waiting runs read per approvals listing."""

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, wrong or revoked API key."},
    403: {"model": ErrorOut, "description": "The key lacks the scope this needs."},
    422: {"model": ErrorOut, "description": "The request does not fit the schema."},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such run for this key's tenant."}
}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "The run's status rules this out now."}
}

log = logging.getLogger("tether.server")


_DECISION_SCOPE = "approvals:write"
_DECISION_SIGNALS = frozenset({"resolve_write"})
"""Signals that decide about a call whatever the run's status: they need ``approvals:write``."""


def create_app(
    runtime: Runtime,
    agents: Mapping[str, Agent],
    *,
    metrics_token: str | None = None,
    max_body_bytes: int = 1_048_576,
    sse_buffer_bytes: int = 1 << 20,
    sse_overflow_grace: float = 10.0,
    sse_poll: float = 0.5,
    sse_keepalive: float = 15.0,
    sse_key_check: float = 1.0,
) -> FastAPI:
    """The FastAPI app serving ``agents`` (by name) on ``runtime``.

    Args:
        runtime: An open :class:`~tether.runtime.Runtime`; the caller opens and closes
            it (``tether serve`` does). It drives, recovers and times out the runs.
        agents: The agents clients may start, by name (each is registered with the
            runtime, so runs of them are recovered here too).
        metrics_token: When given, ``/metrics`` requires ``Authorization: Bearer <token>``.
        max_body_bytes: Larger request bodies are refused with 413.
        sse_buffer_bytes: How far (in bytes of frames) an SSE client may fall behind
            before it is sent ``overflow`` and disconnected.
        sse_overflow_grace: Seconds an overflowed client has to read its last frames.
        sse_poll: Seconds of silence after which a stream reads the store (runs driven
            by other processes).
        sse_keepalive: Seconds between keep-alive comments on an idle stream.
        sse_key_check: Seconds between reads of the API keys open streams use: a stream
            whose key was revoked meanwhile is sent ``event: error`` and closed.
    """
    for agent in agents.values():
        runtime.register(agent)
    streams = RunStreams(
        runtime,
        buffer_bytes=sse_buffer_bytes,
        overflow_grace=sse_overflow_grace,
        poll=sse_poll,
        keepalive=sse_keepalive,
        key_check=sse_key_check,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await streams.close()

    app = FastAPI(
        title="Tether",
        summary="Durable LLM agent runs over HTTP: start, stream, signal, approve.",
        version=__version__,
        lifespan=lifespan,
        # No Swagger or ReDoc pages: they load scripts from a CDN, with no CSP, on the
        # UI's origin. The schema stays at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.agents = dict(agents)
    app.state.streams = streams
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(DirectSend)  # the outermost of ours: see its docstring
    app.include_router(_health_router(runtime))
    app.include_router(_api_router(runtime, dict(agents), streams))
    app.include_router(metrics_router(runtime, metrics_token))
    app.include_router(ui_router())
    return app


# -- health ---------------------------------------------------------------------------------


def _health_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        """The process is up."""
        return Health(status="ok")

    @router.get(
        "/readyz",
        response_model=Health,
        responses={503: {"model": ErrorOut, "description": "The store does not answer."}},
    )
    async def readyz() -> Health:
        """The store answers: the server can take requests."""
        try:
            async with asyncio.timeout(5):
                await runtime.store.get_flag("readyz")
        except Exception as exc:
            # Unauthenticated: the reason (a connection string, a host) stays in the log.
            log.warning("readyz: the store does not answer: %s", exc)
            raise ApiError(503, "not_ready", "the store does not answer") from None
        return Health(status="ready")

    return router


# -- the API --------------------------------------------------------------------------------


def _api_router(runtime: Runtime, agents: dict[str, Agent], streams: RunStreams) -> APIRouter:
    # Every body is measured as it is parsed: one too deep is a 422, on every endpoint.
    router = APIRouter(prefix="/v1", responses=_ERRORS, route_class=JsonRoute)
    store = runtime.store
    read = Depends(require("runs:read"))
    write = Depends(require("runs:write"))
    decide = Depends(require("approvals:write"))

    async def scoped_run(principal: Principal, run_id: str) -> RunRecord:
        """The run, if the key's tenant may see it; else 404 (as if it did not exist)."""
        # No run id holds a NUL (Postgres cannot store one, nor be asked for one).
        record = await runtime.get_run(run_id) if _storable(run_id) else None
        if record is None or not principal.sees(record.tenant):
            raise ApiError(404, "run_not_found", f"no run {run_id!r} for this API key's tenant")
        return record

    async def current(run_id: str) -> RunOut:
        record = await runtime.get_run(run_id)
        assert record is not None  # runs are never deleted
        return RunOut.of(record)

    def tenant_filter(principal: Principal, tenant: str | None) -> str | None:
        if tenant is None:
            return None if principal.admin else principal.tenant
        if not principal.sees(tenant):
            raise ApiError(403, "forbidden", "only an admin key may list another tenant's runs")
        return tenant

    @router.post(
        "/runs",
        status_code=201,
        response_model=RunOut,
        tags=["runs"],
        responses={
            200: {
                "model": RunOut,
                "description": "Replayed: the run this Idempotency-Key started before.",
            },
            404: {"model": ErrorOut, "description": "No served agent has that name."},
            409: {
                "model": ErrorOut,
                "description": "The key's first request is still starting its run; retry.",
            },
            429: {
                "model": ErrorOut,
                "description": "Too many runs wait for a worker (backpressure); retry after "
                "the Retry-After header's seconds.",
            },
        },
    )
    async def create_run(
        body: CreateRun,
        principal: Principal = write,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                description="Retries with the same key never start a second run.",
            ),
        ] = None,
    ) -> Any:
        """Start a run of a served agent for the key's tenant."""
        agent = agents.get(body.agent)
        if agent is None:
            served = ", ".join(sorted(agents)) or "none"
            raise ApiError(
                404,
                "agent_not_found",
                f"no agent named {body.agent!r} is served here (served: {served})",
            )
        run_id = new_run_id()
        if idempotency_key is not None:
            digest = hashlib.sha256(
                json.dumps([body.agent, body.input], ensure_ascii=False).encode()
            ).hexdigest()
            for _ in range(_CLAIM_TRIES):
                owner, owner_digest = await store.claim_idempotency_key(
                    principal.tenant, idempotency_key, run_id, digest
                )
                if owner == run_id:
                    break
                if owner_digest != digest:
                    raise ApiError(
                        422,
                        "idempotency_key_reused",
                        "this Idempotency-Key was used "
                        "with a different request body; use a new key for a new run",
                    )
                record, outcome = await _replay_or_take_over(
                    runtime, principal.tenant, idempotency_key, owner
                )
                if record is not None:
                    return _replayed(record)
                if outcome == "taken":
                    # The first request never created its run (it failed and could not
                    # give the key back, or its process died): this one starts that very
                    # run, so whichever of them creates it first is the only one.
                    run_id = owner
                    break
                # "gone": the first request gave the key back meanwhile; claim it afresh.
            else:
                raise _in_progress()
        try:
            await runtime.start(
                agent,
                body.input,
                tenant=principal.tenant,
                run_id=run_id,
                metadata={"api_key_id": principal.key_id},
            )
        except ConcurrentWriteError:
            # Only a run id an idempotency key names can exist already: a retry that took
            # the key over (or the first request, if this is the retry) created it first.
            record = await runtime.get_run(run_id) if idempotency_key is not None else None
            if record is None:
                raise
            return _replayed(record)
        except BaseException:
            if idempotency_key is not None:
                # The key goes back only if the run was never created: once it is in the
                # store (start failed after, or the client went away), a retry with the
                # same key must get this run, not start a second one. If this fails too
                # (the store is away), a retry takes the key over once it is stale.
                with contextlib.suppress(Exception):
                    await asyncio.shield(
                        _release_unless_created(runtime, principal.tenant, idempotency_key, run_id)
                    )
            raise
        return await current(run_id)

    @router.get("/runs", response_model=RunList, tags=["runs"])
    async def list_runs(
        principal: Principal = read,
        status: Annotated[
            list[RunStatus] | None, Query(description="Only these statuses (repeatable).")
        ] = None,
        agent: Annotated[str | None, Query(max_length=200, pattern=_TEXT)] = None,
        since: Annotated[
            float | None, Query(allow_inf_nan=False, description="Created at or after (unix s).")
        ] = None,
        until: Annotated[
            float | None, Query(allow_inf_nan=False, description="Created before (unix s).")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[
            str | None, Query(max_length=600, description="`next_cursor` of the last page.")
        ] = None,
        tenant: Annotated[
            str | None,
            Query(max_length=200, pattern=_TEXT, description="Another tenant (admin keys only)."),
        ] = None,
    ) -> RunList:
        """Runs of the key's tenant, newest first, a page at a time."""
        records = await runtime.list_runs(
            statuses=status or None,
            agent=agent,
            limit=limit + 1,
            tenant=tenant_filter(principal, tenant),
            since=since,
            until=until,
            cursor=_decode_cursor(cursor) if cursor else None,
        )
        page = records[:limit]
        more = len(records) > limit
        return RunList(
            runs=[RunOut.of(r) for r in page],
            next_cursor=_encode_cursor((page[-1].created_at, page[-1].run_id)) if more else None,
        )

    @router.get("/runs/{run_id}", response_model=RunOut, tags=["runs"], responses=_NOT_FOUND)
    async def get_run(run_id: RunId, principal: Principal = read) -> RunOut:
        """One run's summary."""
        return RunOut.of(await scoped_run(principal, run_id))

    @router.get(
        "/runs/{run_id}/events",
        response_class=EventStream,
        status_code=200,
        tags=["runs"],
        responses={
            200: {"content": {"text/event-stream": {}}, "description": "The event stream."},
            400: {"model": ErrorOut, "description": "A bad Last-Event-ID."},
            **_NOT_FOUND,
        },
    )
    async def run_events(
        run_id: RunId,
        principal: Principal = read,
        after: Annotated[
            int | None, Query(ge=0, le=_MAX_SEQ, description="Resume after this seq.")
        ] = None,
        deltas: Annotated[bool, Query(description="Include live token deltas.")] = False,
        last_event_id: Annotated[
            str | None,
            Header(alias="Last-Event-ID", description="Resume after this seq (wins over after)."),
        ] = None,
    ) -> EventStream:
        """The run's events as Server-Sent Events: stored ones after the given position,
        then live ones, until the run finishes or parks (``event: end``)."""
        position = after or 0
        if last_event_id is not None:
            position = _parse_last_event_id(last_event_id)
        await scoped_run(principal, run_id)
        return streams.response(run_id, after=position, deltas=deltas, key_id=principal.key_id)

    @router.post(
        "/runs/{run_id}/cancel",
        response_model=RunOut,
        tags=["runs"],
        responses={**_NOT_FOUND, **_CONFLICT},
    )
    async def cancel_run(
        run_id: RunId,
        principal: Principal = write,
        body: Annotated[CancelRun | None, Body()] = None,
    ) -> RunOut:
        """Cancel a run: a running tool is interrupted, a parked run ends at once."""
        await scoped_run(principal, run_id)
        reason = (body.reason if body else None) or "cancelled over the API"
        await runtime.cancel(run_id, reason=reason, by=principal.by)
        return await current(run_id)

    @router.post(
        "/runs/{run_id}/signals/{name}",
        response_model=RunOut,
        tags=["runs"],
        responses={**_NOT_FOUND, **_CONFLICT},
    )
    async def send_signal(
        run_id: RunId,
        name: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")],
        principal: Principal = write,
        body: Annotated[SendSignal | None, Body()] = None,
    ) -> RunOut:
        """Deliver a signal (``input``, ``resume``, ``resolve_write``, ``cancel``...).

        Signals that stand for a person's decision need ``approvals:write`` as well:
        ``resolve_write`` (whether a write happened), anything sent to an escalated run
        (``resume`` runs or declines the escalated call; ``input`` takes the conversation
        over), and lifting a quarantine (the run kept killing its workers: an operator's
        call). ``agent_version_accepted`` is recorded by ``resume`` with
        ``--accept-new-version``, never sent by a client.
        """
        record = await scoped_run(principal, run_id)
        if name == "agent_version_accepted":
            raise ApiError(
                422,
                "signal_refused",
                "agent_version_accepted is recorded by the runtime that resumes a run under "
                "new code (tether resume --accept-new-version), not sent by a client",
            )
        may_decide = principal.allows(_DECISION_SCOPE)
        if not may_decide and name in _DECISION_SIGNALS:
            raise _may_not_decide(principal, name, record.status)
        # Whether a signal to an escalated run is a decision is judged by the runtime on
        # the state it records the signal against (under the run's lease), not on the
        # status read above: the run may have been escalated since.
        try:
            await runtime.signal(
                run_id,
                name,
                body.payload if body else None,
                by=principal.by,
                may_decide=may_decide,
            )
        except ApprovalError as exc:
            if exc.context.get("may_decide") is False:
                raise _may_not_decide(principal, name, exc.context.get("status")) from None
            raise
        return await current(run_id)

    @router.get("/approvals", response_model=ApprovalList, tags=["approvals"])
    async def list_approvals(
        principal: Principal = read,
        tenant: Annotated[
            str | None,
            Query(max_length=200, pattern=_TEXT, description="Another tenant (admin keys only)."),
        ] = None,
    ) -> ApprovalList:
        """Calls waiting for a person in the key's tenant, oldest request first."""
        records = await runtime.list_runs(
            statuses=["waiting"], tenant=tenant_filter(principal, tenant), limit=_APPROVAL_SCAN
        )
        found: list[ApprovalOut] = []
        for record in records:
            found.extend(await _pending(runtime, record))
        found.sort(key=lambda a: a.requested_at)
        return ApprovalList(approvals=found)

    @router.post(
        "/approvals/{run_id}/{approval_id}",
        response_model=RunOut,
        tags=["approvals"],
        responses={
            404: {"model": ErrorOut, "description": "No such run or pending call."},
            **_CONFLICT,
        },
    )
    async def decide_approval(
        run_id: RunId,
        approval_id: Annotated[str, Path(min_length=1, max_length=200)],
        body: Decision,
        principal: Principal = decide,
    ) -> RunOut:
        """Approve (maybe with changed arguments) or deny a call waiting for approval."""
        await scoped_run(principal, run_id)
        state = await runtime.load_state(run_id)
        approval = state.approvals.get(approval_id)
        if approval is None:
            pending = [a for a in state.approval_for_call(approval_id) if a.pending]
            approval = pending[0] if len(pending) == 1 else None
        if approval is None:
            known = ", ".join(a.request.key for a in state.pending_approvals) or "none"
            raise ApiError(
                404,
                "approval_not_found",
                f"run {run_id} has no pending approval {approval_id!r} (pending: {known})",
            )
        if approval.decision is not None:
            raise ApiError(
                409,
                "approval_decided",
                f"approval {approval.request.key} of run {run_id} was already decided by "
                f"{approval.decision.by}",
            )
        arguments = body.arguments
        if body.decision == "deny":
            if arguments is not None:
                raise ApiError(422, "invalid_request", "arguments go with 'approve' only")
            await runtime.deny(
                run_id, approval.request.key, by=principal.by, reason=body.reason or "denied"
            )
            return await current(run_id)
        if arguments is not None:
            arguments = _validated(agents.get(state.agent), approval.request, arguments)
        await runtime.approve(
            run_id,
            approval.request.key,
            by=principal.by,
            arguments=arguments,
            reason=body.reason,
        )
        return await current(run_id)

    @router.get("/runs/{run_id}/audit", tags=["runs"], responses=_NOT_FOUND)
    async def run_audit(run_id: RunId, principal: Principal = read) -> dict[str, Any]:
        """The run's decisions and side effects in order, with its hash chain verified."""
        await scoped_run(principal, run_id)
        report = await audit_run(runtime, run_id)
        return report.to_json()

    return router


# -- helpers --------------------------------------------------------------------------------


def _may_not_decide(principal: Principal, name: str, status: object) -> ApiError:
    """403: a signal that is a person's decision, from a key without ``approvals:write``."""
    where = {"escalated": "on an escalated run ", "quarantined": "on a quarantined run "}.get(
        str(status), ""
    )
    return ApiError(
        403,
        "forbidden",
        f"signal {name!r} {where}is a person's decision: the API key {principal.key_id} "
        f"needs the {_DECISION_SCOPE!r} scope for it",
        details={"required_scope": _DECISION_SCOPE, "signal": name, "status": status},
    )


async def _release_unless_created(runtime: Runtime, tenant: str, key: str, run_id: str) -> None:
    """Give an idempotency key back after a failed start, if the store has no such run."""
    if await runtime.get_run(run_id) is None:
        await runtime.store.release_idempotency_key(tenant, key, run_id)


async def _replay_or_take_over(
    runtime: Runtime, tenant: str, key: str, run_id: str
) -> tuple[RunRecord | None, Literal["taken", "recent", "gone"]]:
    """The run an earlier request with the same idempotency key started, waited for up to
    ``_REPLAY_WAIT``; or none, and whether this request took the key over to start it.

    A claim that produced no run in ``_REPLAY_WAIT`` is taken over (a first request
    whose start and release both failed in a store outage would otherwise hold the key
    forever). Taking over is safe while the first request still lives: both create the
    same run id, and the store's primary key lets one of them win.
    """
    record = await runtime.get_run(run_id)
    if record is not None:
        return record, "taken"
    outcome = await runtime.store.take_over_idempotency_key(
        tenant, key, run_id, stale_after=_REPLAY_WAIT
    )
    if outcome != "recent":
        return None, outcome
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _REPLAY_WAIT
    while loop.time() < deadline:
        await asyncio.sleep(0.05)
        record = await runtime.get_run(run_id)
        if record is not None:
            return record, "taken"
    # Claimed (or last taken over) at least this long ago, and still no run. Half the
    # wait: the store's clock and this loop's may disagree a little.
    outcome = await runtime.store.take_over_idempotency_key(
        tenant, key, run_id, stale_after=_REPLAY_WAIT / 2
    )
    if outcome == "recent":
        raise _in_progress()
    return None, outcome


def _in_progress() -> ApiError:
    return ApiError(
        409,
        "idempotency_key_in_progress",
        "the first request with this Idempotency-Key is still starting its run; retry",
    )


def _replayed(record: RunRecord) -> JSONResponse:
    return JSONResponse(
        RunOut.of(record).model_dump(mode="json"),
        status_code=200,
        headers={"Idempotent-Replayed": "true"},
    )


def _validated(
    agent: Agent | None, request: ApprovalRequested, arguments: dict[str, Any]
) -> dict[str, Any]:
    """Changed arguments, checked against the tool's schema (422 if they do not fit)."""
    contract = agent.registry.get(request.tool) if agent is not None else None
    if contract is None:
        return arguments  # checked by the gate when a runtime with the agent continues
    try:
        return contract.normalize(arguments)
    except ValidationError as exc:
        details = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False)
        ]
        raise ApiError(
            422,
            "invalid_arguments",
            f"the changed arguments do not fit {request.tool}'s schema; nothing was decided",
            details=details,
        ) from None
    except (ValueError, TypeError) as exc:
        raise ApiError(
            422,
            "invalid_arguments",
            f"the changed arguments do not fit {request.tool}'s schema ({exc}); nothing was "
            "decided",
        ) from None


async def _pending(runtime: Runtime, record: RunRecord) -> list[ApprovalOut]:
    """A waiting run's undecided approval requests, as stored (sealed values masked)."""
    requested = open_approvals(await runtime.store.load_events(record.run_id))
    return [
        ApprovalOut(
            run_id=record.run_id,
            agent=record.agent,
            approval_id=request.key,
            call_id=request.call_id,
            tool=request.tool,
            arguments=shown(request.arguments),
            reason=request.reason,
            rule=request.rule,
            task=request.task,
            reasoning=request.reasoning,
            expires_at=request.expires_at,
            requested_at=ts,
            preview=request.preview,
        )
        for request, ts in requested.values()
    ]


def _encode_cursor(cursor: RunCursor) -> str:
    raw = json.dumps([cursor[0], cursor[1]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(text: str) -> RunCursor:
    """The position a ``next_cursor`` names; 400 ``invalid_cursor`` for anything else.

    A cursor is the client's to send back, so it is judged like any input: a number that
    fits a float, and a run id the store could hold (text with a UTF-8 form, no NUL).
    Whatever else a crafted one holds is refused here, never raised from the store.
    """
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        created_at, run_id = json.loads(raw)
        if (
            isinstance(created_at, int | float)
            and not isinstance(created_at, bool)
            and math.isfinite(created_at)  # an int too large for a float: OverflowError
            and isinstance(run_id, str)
            and _storable(run_id)
        ):
            return float(created_at), run_id
    except (ValueError, TypeError, OverflowError, binascii.Error):
        pass
    raise ApiError(
        400,
        "invalid_cursor",
        "the cursor is not one this API returned; pass next_cursor from the previous page as it is",
    )


def _storable(text: str) -> bool:
    """Whether ``text`` can be a run id in a store: it encodes as UTF-8 (no lone
    surrogate, which SQLite's driver refuses to bind) and holds no NUL (which Postgres
    refuses in text)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _parse_last_event_id(value: str) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit() or int(text) > _MAX_SEQ:
        raise ApiError(
            400,
            "invalid_last_event_id",
            f"Last-Event-ID must be the id of an event this stream sent (a sequence "
            f"number), got {value[:40]!r}",
        )
    return int(text)
