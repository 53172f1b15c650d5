"""Prometheus metrics at ``/metrics`` (issue 9, item 5). Work in progress: the router's
signature is final; the metric set is being filled in."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from tether.runtime import Runtime


def metrics_router(runtime: Runtime, token: str | None) -> APIRouter:
    """A router serving ``GET /metrics``; it registers its observer on ``runtime``."""
    registry = CollectorRegistry(auto_describe=True)
    started = Counter("tether_runs_started", "Runs started", ["agent"], registry=registry)

    def observe(run_id: str, events: object) -> None:
        for rec in events:  # type: ignore[attr-defined]
            if rec.event.type == "run.created":
                started.labels(rec.event.agent).inc()

    runtime.add_observer(observe)
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return JSONResponse(
                    {"error": {"code": "unauthorized", "message": "send Authorization: Bearer <metrics token>"}},
                    status_code=401,
                )
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
