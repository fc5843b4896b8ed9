"""/healthz, /readyz and /metrics for the operators' monitoring (server.ops)."""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.core import parse
from server.core.config import Settings
from server.ops import health, metrics


async def healthz(request: Request) -> Response:
    """The process is up and answers; nothing else is checked (that is /readyz)."""
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


async def readyz(request: Request) -> Response:
    state = request.app.state
    failures = await run_in_threadpool(health.failures, state.settings, state.store)
    headers = {"Cache-Control": "no-store"}
    if failures:
        failing = [{"check": f.check, "message": f.message} for f in failures]
        return JSONResponse({"status": "not ready", "failing": failing}, 503, headers)
    return JSONResponse({"status": "ready", "failing": []}, headers=headers)


def metrics_allowed(request: Request, settings: Settings) -> bool:
    """KTL_METRICS_ALLOW (addresses/CIDRs) or KTL_METRICS_TOKEN (Authorization: Bearer).
    An address counts only for a direct request: through nginx on the same host every
    visitor would otherwise come from 127.0.0.1."""
    peer = request.client.host if request.client else ""
    proxied = getattr(request.state, "proxied", True)
    if not proxied and parse.address_in(peer, parse.networks(settings.metrics_allow)):
        return True
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected = settings.metrics_token
    return (
        bool(expected)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(token.strip().encode(), expected.encode())
    )


async def metrics_page(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not metrics_allowed(request, settings):
        raise HTTPException(404)  # others see no such page
    live = metrics.live_figures(getattr(request.app.state, "live", None))
    scrape = metrics.ScrapeCollector(settings, live, request.app.state.store)
    body = await run_in_threadpool(metrics.exposition, request.app.state.metrics, scrape)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


routes = [
    Route("/healthz", healthz, methods=["GET"], name="healthz"),
    Route("/readyz", readyz, methods=["GET"], name="readyz"),
    Route("/metrics", metrics_page, methods=["GET"], name="metrics"),
]
