"""Counting requests for /metrics: a pure ASGI middleware that labels each request with its
route name (never the raw path, so the label set stays small). The figures and the
exposition live in server.ops.metrics, which knows no HTTP framework."""

from __future__ import annotations

import time

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.ops.metrics import RequestMetrics

UNMATCHED = "unmatched"
UPLOAD_ROUTE = "tus_upload"


def route_name(scope: Scope) -> str:
    """The name of the route that answers this request (a 405 counts for its route)."""
    partial = None
    for route in scope["app"].routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return getattr(route, "name", None) or UNMATCHED
        if match is Match.PARTIAL and partial is None:
            partial = getattr(route, "name", None)
    return partial or UNMATCHED


class MetricsMiddleware:
    """Pure ASGI: counts every HTTP request when its answer is complete."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        metrics: RequestMetrics = scope["app"].state.metrics
        route, started, status = route_name(scope), time.perf_counter(), 500

        async def counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        if route == UPLOAD_ROUTE:
            receive = _counted(receive, metrics)
        try:
            await self.app(scope, receive, counting)
        finally:
            method = scope["method"]
            metrics.requests.labels(route, method, str(status)).inc()
            metrics.latency.labels(route, method).observe(time.perf_counter() - started)


def _counted(receive: Receive, metrics: RequestMetrics) -> Receive:
    async def wrapped() -> Message:
        message = await receive()
        metrics.upload_bytes.inc(len(message.get("body", b"")))
        return message

    return wrapped
