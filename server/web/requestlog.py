"""A request id for every request, one log line per request, and JSON log lines on demand.

X-Request-ID is taken from the direct peer only when it is a trusted proxy
(KTL_TRUSTED_PROXIES, e.g. nginx's `$request_id`); otherwise one is made. It is echoed in
the response and carried by every log record written while the request is answered
(a context variable, which also follows the request into worker threads).
With KTL_LOG_FORMAT=json each log record is one JSON object on one line.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.core import parse

HEADER = b"x-request-id"
PROXY_HEADERS = frozenset({b"x-forwarded-for", b"x-real-ip", b"forwarded"})
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
access_log = logging.getLogger("ktl.access")


class RequestIdMiddleware:
    """Outermost: it must see the direct peer before ProxyHeadersMiddleware replaces it."""

    def __init__(self, app: ASGIApp, proxies: str = "") -> None:
        self.app = app
        self.networks = parse.networks(proxies)

    def _id_for(self, scope: Scope) -> str:
        sent = dict(scope["headers"]).get(HEADER, b"").decode("latin-1").strip()
        peer = (scope.get("client") or ("", 0))[0]
        if sent and _VALID.fullmatch(sent) and parse.address_in(peer, self.networks):
            return sent
        return uuid.uuid4().hex

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        rid = self._id_for(scope)
        token = request_id.set(rid)
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        # Whether a proxy passed the request on (seen before ProxyHeadersMiddleware removes
        # untrusted X-Forwarded-*): /metrics trusts no address that came through nginx.
        state["proxied"] = any(k in PROXY_HEADERS for k, _v in scope["headers"])
        started, status = time.perf_counter(), 0

        async def echo(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["x-request-id"] = rid
            await send(message)

        try:
            await self.app(scope, receive, echo)
        finally:
            _log_request(scope, status, time.perf_counter() - started)
            request_id.reset(token)


def _log_request(scope: Scope, status: int, seconds: float) -> None:
    path = scope.get("path", "")
    access_log.info(
        "%s %s %s %.1f ms [%s]",
        scope.get("method", "WS"), path, status, seconds * 1000, request_id.get(),
        extra={"method": scope.get("method", "WS"), "path": path, "status": status,
               "duration_ms": round(seconds * 1000, 1)},
    )  # fmt: skip


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


EXTRA_FIELDS = ("method", "path", "status", "duration_ms")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or None,
        }
        entry.update({k: getattr(record, k) for k in EXTRA_FIELDS if hasattr(record, k)})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(log_format: str) -> None:
    """Root logging for `ktl serve`/`ktl worker`: text (as before) or JSON lines; every
    record carries the request id."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
        if log_format == "json":
            handler.setFormatter(JsonFormatter())
