"""Sign in with the organisation's account (OpenID Connect).
Thin: the work is in server.people.oidc.

Between leaving for the provider and coming back, the state, nonce, PKCE verifier and the
page to return to live in a short-lived HttpOnly cookie signed with the app's secret, so any
server process can finish a sign-in that another one started.
"""

from __future__ import annotations

import hmac
import logging
import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.people import oidc
from server.web.redirects import safe_target
from server.web.respond import in_thread, render, settings_of
from server.web.views.auth import start_session

log = logging.getLogger("ktl.oidc")
COOKIE = "ktl_oidc"
COOKIE_PATH = "/logg-inn/oidc"


def _client(request: Request) -> oidc.OIDCClient:
    """One client per app, made on first use, so discovery and keys are cached per app."""
    client = getattr(request.app.state, "oidc_client", None)
    if client is None:
        client = request.app.state.oidc_client = oidc.OIDCClient(settings_of(request))
    return client


def _redirect_uri(request: Request) -> str:
    base = settings_of(request).public_url.rstrip("/")
    if base:
        return base + request.app.url_path_for("oidc_callback")
    return str(request.url_for("oidc_callback"))


def _cookie(value: str, secure: bool, max_age: int) -> str:
    parts = [f"{COOKIE}={value}", f"Path={COOKIE_PATH}", "HttpOnly", "SameSite=Lax",
             f"Max-Age={max_age}"]  # fmt: skip
    return "; ".join([*parts, "Secure"] if secure else parts)


def _no_store(response: Response, secure: bool, cookie: str = "", max_age: int = 0) -> Response:
    response.headers["cache-control"] = "no-store"
    response.headers.append("set-cookie", _cookie(cookie, secure, max_age))
    return response


def _refuse(request: Request, exc: oidc.OIDCError) -> Response:
    log.info("Innlogging med organisasjonskonto avvist (%s): %s", exc.status, exc)
    context = {"message": exc.message, "status": exc.status}
    response = render(request, "error.html", context, status=exc.status)
    return _no_store(response, settings_of(request).cookie_secure)


def _enabled(request: Request) -> None:
    if not settings_of(request).oidc_enabled:
        raise HTTPException(404, oidc.NOT_CONFIGURED)


async def start(request: Request) -> Response:
    _enabled(request)
    settings = settings_of(request)
    pending = oidc.new_login(safe_target(request.query_params.get("neste")))
    try:
        oidc.check_settings(settings)
        url = await _client(request).authorization_url(_redirect_uri(request), pending)
    except oidc.OIDCError as exc:
        return _refuse(request, exc)
    sealed = oidc.seal(request.app.state.secret, pending)
    response = RedirectResponse(url, status_code=303)
    return _no_store(response, settings.cookie_secure, sealed, oidc.LOGIN_MAX_AGE)


def _returned(request: Request) -> tuple[oidc.PendingLogin, str]:
    """The pending sign-in this answer belongs to, and the code; OIDCError otherwise."""
    params = request.query_params
    pending = oidc.unseal(request.app.state.secret, request.cookies.get(COOKIE))
    if pending is None:
        raise oidc.OIDCError(oidc.EXPIRED, 400, "no valid pending-login cookie")
    if not hmac.compare_digest(params.get("state", "").encode(), pending.state.encode()):
        raise oidc.OIDCError(oidc.BAD_STATE, 400, "state does not match the cookie")
    error = params.get("error")
    if error == "access_denied":
        raise oidc.OIDCError(
            oidc.CANCELLED, 403, f"provider: {params.get('error_description', '')[:200]!r}"
        )
    if error:
        code = re.sub(r"[^a-z_]", "", error.lower())[:40] or "ukjent feil"
        raise oidc.OIDCError(
            oidc.PROVIDER_ERROR.format(code=code), 400, f"provider: {error[:100]!r}"
        )
    if not params.get("code"):
        raise oidc.OIDCError(oidc.INVALID, 400, "no code in the answer")
    return pending, params["code"]


async def callback(request: Request) -> Response:
    _enabled(request)
    settings = settings_of(request)
    try:
        pending, code = _returned(request)
        iss = request.query_params.get("iss")
        claims = await _client(request).complete(_redirect_uri(request), pending, code, iss)
        user = await in_thread(request, oidc.sign_in, settings, claims)
    except oidc.OIDCError as exc:
        return _refuse(request, exc)
    log.info("%s logget inn med organisasjonskonto", user.email)
    response = await start_session(request, user, pending.next)
    return _no_store(response, settings.cookie_secure)


routes = [
    Route("/logg-inn/oidc", start, name="oidc_start"),
    Route("/logg-inn/oidc/callback", callback, name="oidc_callback"),
]
