"""Pure ASGI middleware: proxies, who is asking, CSRF protection, body size, security headers.

Pure ASGI (not BaseHTTPMiddleware) so that request bodies, such as multi-GB tus uploads,
stream through untouched.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from anyio import to_thread
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.core import i18n, parse
from server.core.i18n import N_
from server.core.units import format_size
from server.people import accounts
from server.people.access import Viewer
from server.store import Store
from server.web.respond import wants_json
from server.web.shortcache import ShortCache

SESSION_COOKIE = "ktl_session"
ANON_COOKIE = "ktl_anon"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = b"x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
MAX_FORM_BYTES = 1 << 20
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; font-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
CSRF_MESSAGE = N_(
    "Skjemaet var for gammelt eller kom fra en annen side. Last siden på nytt og prøv igjen."
)
FORWARDED = frozenset({b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"})
UPLOADS_PREFIX = "/uploads/"  # tus: its own limit, KTL_MAX_UPLOAD_BYTES (server.pipeline.tus)
BODY_TOO_LARGE = N_(
    "Det du sendte er for stort (mer enn {size}). Send mindre om gangen, "
    "eller last siden på nytt og prøv igjen."
)


def csp_framed_by(origins: list[str]) -> str:
    """The CSP of a page that may be shown in a frame: by this site and by `origins`."""
    return CSP.replace("frame-ancestors 'none'", " ".join(["frame-ancestors 'self'", *origins]))


def _cookies(scope: Scope) -> dict[str, str]:
    raw = next((v for k, v in scope["headers"] if k == b"cookie"), b"")
    jar = SimpleCookie()
    try:
        jar.load(raw.decode("latin-1"))
    except Exception:  # a malformed cookie header is treated as no cookies
        return {}
    return {key: morsel.value for key, morsel in jar.items()}


def csrf_token(secret: bytes, session_token: str | None, anon: str) -> str:
    basis = f"s:{session_token}" if session_token else f"a:{anon}"
    return hmac.new(secret, basis.encode(), hashlib.sha256).hexdigest()


def cookie_header(name: str, value: str, secure: bool, max_age: int | None) -> str:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


class AuthMiddleware:
    """Puts the Viewer and the CSRF token on request.state; gives guests an anonymous id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        settings = scope["app"].state.settings
        cookies = _cookies(scope)
        token = cookies.get(SESSION_COOKIE)
        store = scope["app"].state.store
        user = await _session_user(scope["app"], store, token) if token else None
        anon = cookies.get(ANON_COOKIE) or ""
        new_anon = not anon or len(anon) > 64
        if new_anon:
            anon = secrets.token_urlsafe(18)
        state = scope.setdefault("state", {})
        state["viewer"] = Viewer(user)
        state["session_token"] = token if user else None
        state["csrf_token"] = csrf_token(scope["app"].state.secret, state["session_token"], anon)
        state["anon"] = anon
        if scope["type"] == "websocket":  # no cookies are set on a WebSocket handshake
            return await self.app(scope, receive, send)

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and new_anon:
                headers = MutableHeaders(scope=message)
                headers.append(
                    "set-cookie", cookie_header(ANON_COOKIE, anon, settings.cookie_secure, None)
                )
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _lookup(store: Store, token: str) -> accounts.User | None:
    with store.read() as db:
        return accounts.session_user(db, token)


async def _session_user(app, store: Store, token: str) -> accounts.User | None:
    """The session's user, remembered for KTL_SESSION_CACHE_SECONDS (server.web.shortcache:
    forgotten at once when any process commits to the database, so signing out, a new role
    or a deactivated account count from the next request, through any `ktl serve`), so a
    signed-in page waits once in the thread pool, not twice."""
    memory = getattr(app.state, "session_memory", None)
    if memory is None:
        memory = app.state.session_memory = ShortCache(
            app.state.settings.session_cache_seconds, 4096, store.version
        )
    found = memory.peek(token)
    if found is not None:
        return found[0]
    started = memory.version()
    user = await to_thread.run_sync(_lookup, store, token)
    memory.put(token, user, started)
    return user


class CSRFMiddleware:
    """Every state-changing request must carry the CSRF token (header or form field) and,
    when the browser says where it comes from, come from this site."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            return await self.app(scope, receive, send)
        expected = scope["state"]["csrf_token"]
        headers = dict(scope["headers"])
        if not _same_origin(headers):
            return await _refuse(scope, send)
        sent = headers.get(CSRF_HEADER, b"").decode("latin-1")
        if sent:
            if hmac.compare_digest(sent, expected):
                return await self.app(scope, receive, send)
            return await _refuse(scope, send)
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip()
        if ctype != b"application/x-www-form-urlencoded":
            return await _refuse(scope, send)
        body, messages = await _read_body(receive)
        field = parse_qs(body.decode("latin-1")).get(CSRF_FIELD, [""])[0] if body else ""
        if not field or not hmac.compare_digest(field, expected):
            return await _refuse(scope, send)
        await self.app(scope, _replay(messages, receive), send)


def same_origin_websocket(scope: Scope) -> bool:
    """A WebSocket handshake from a page of this site (browsers always send Origin on
    them, so a missing one is refused: no cross-site WebSocket hijacking)."""
    headers = dict(scope["headers"])
    return b"origin" in headers and _same_origin(headers)


def _same_origin(headers: dict[bytes, bytes]) -> bool:
    origin = headers.get(b"origin")
    if not origin or origin == b"null":
        return origin is None
    host = headers.get(b"host", b"")  # from a trusted proxy: its X-Forwarded-Host
    return urlsplit(origin.decode("latin-1")).netloc == host.decode("latin-1")


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    messages, size = [], 0
    while True:
        message = await receive()
        messages.append(message)
        size += len(message.get("body", b""))
        if size > MAX_FORM_BYTES or not message.get("more_body"):
            break
    return b"".join(m.get("body", b"") for m in messages), messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    queue = list(messages)

    async def replayed() -> Message:
        return queue.pop(0) if queue else await receive()

    return replayed


async def _refuse(scope: Scope, send: Send) -> None:
    from starlette.responses import PlainTextResponse

    request = Request(scope)
    message = i18n.text_for(request, CSRF_MESSAGE)  # the viewer is known by now
    if wants_json(request):  # the scripts read {"error": ...} (js/notes.js, quiz, upload)
        response = JSONResponse({"error": message}, status_code=403)
    else:
        response = PlainTextResponse(message, status_code=403)
    await response(scope, _noop_receive, send)


async def _noop_receive() -> Message:
    return {"type": "http.disconnect"}


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, secure: bool = False) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("content-security-policy", CSP)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("referrer-policy", "same-origin")
                if "frame-ancestors 'none'" in headers["content-security-policy"]:
                    headers.setdefault("x-frame-options", "DENY")  # embed pages say who may frame
                headers.setdefault("cross-origin-opener-policy", "same-origin")
                if self.secure:
                    headers.setdefault("strict-transport-security", "max-age=31536000")
            await send(message)

        await self.app(scope, receive, with_headers)


class ProxyHeadersMiddleware:
    """X-Forwarded-For, -Proto and -Host count only when the direct peer is one of the
    trusted proxies (KTL_TRUSTED_PROXIES): then they become the client address, the scheme
    and the Host header. From anyone else they are removed, so nothing later can be fooled."""

    def __init__(self, app: ASGIApp, proxies: str = "") -> None:
        self.app = app
        self.networks = parse.networks(proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        forwarded = {k: v.decode("latin-1") for k, v in scope["headers"] if k in FORWARDED}
        if forwarded:
            peer = (scope.get("client") or ("", 0))[0]
            if parse.address_in(peer, self.networks):
                scope = self._apply(scope, forwarded)
            else:
                kept = [(k, v) for k, v in scope["headers"] if k not in FORWARDED]
                scope = {**scope, "headers": kept}
        await self.app(scope, receive, send)

    def _apply(self, scope: Scope, forwarded: dict[bytes, str]) -> Scope:
        scope = dict(scope)
        proto = forwarded.get(b"x-forwarded-proto", "").split(",")[-1].strip().lower()
        if proto in ("http", "https"):
            scope["scheme"] = proto.replace("http", "ws") if scope["type"] == "websocket" else proto
        hops = [h.strip() for h in forwarded.get(b"x-forwarded-for", "").split(",") if h.strip()]
        client = next((h for h in reversed(hops) if not parse.address_in(h, self.networks)), None)
        if client or hops:
            scope["client"] = (client or hops[0], 0)
        host = forwarded.get(b"x-forwarded-host", "").split(",")[-1].strip()
        if host:
            kept = [(k, v) for k, v in scope["headers"] if k != b"host"]
            scope["headers"] = [*kept, (b"host", host.encode("latin-1"))]
        return scope


class BodyTooLarge(Exception):
    """Raised from receive() when a body passes the limit (not a ValueError: handlers that
    catch unreadable input must not swallow it)."""


class BodyLimitMiddleware:
    """One limit on request bodies (KTL_MAX_BODY_BYTES) for everything but tus uploads
    (/uploads/, limited by KTL_MAX_UPLOAD_BYTES in server.pipeline.tus): a too large Content-Length
    is refused before a byte is read; a chunked body is counted as it streams in and
    refused the moment it passes the limit. The answer is 413 through the app's error
    handler (a page, or JSON for scripts)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UPLOADS_PREFIX):
            return await self.app(scope, receive, send)
        declared = parse.integer(dict(scope["headers"]).get(b"content-length"), 0, parse.MAX_ID)
        if declared is not None and declared > self.max_bytes:
            return await self._refuse(scope, send)
        received, started = 0, False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        request = Request(scope)
        message = BODY_TOO_LARGE.format(size=format_size(self.max_bytes))
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/json" or wants_json(request):
            response = JSONResponse({"error": i18n.text_for(request, message)}, status_code=413)
        else:  # the app's own error page (server.web.app.http_error)
            handler = scope["app"].exception_handlers[HTTPException]
            response = await handler(request, HTTPException(413, message))
        response.headers["connection"] = "close"  # the rest of the body is not read
        await response(scope, _noop_receive, send)
