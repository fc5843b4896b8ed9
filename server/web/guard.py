"""Wraps every route's endpoint with its access rule from server.people.access.RULES.

A talk the viewer may not see answers 404 whatever the reason (it may not exist, it may
be internal or a draft), so that guessing URLs tells nothing. A guest who needs to sign
in for a page is sent to the login page.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from urllib.parse import quote

import anyio
from anyio.lowlevel import RunVar
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from server.catalogue import talks
from server.catalogue.records import Talk
from server.core import parse
from server.core.i18n import N_
from server.people import access
from server.web.middleware import same_origin_websocket
from server.web.respond import open_db

TALK_NOT_FOUND = N_(
    "Fant ikke foredraget. Er det internt, må du logge inn for å se det; "
    "ellers kan du søke etter det eller se i arkivet."
)
FORBIDDEN = N_("Du har ikke tilgang til dette. Spør en administrator om du trenger tilgang.")
SIGN_IN = N_("Du må logge inn for å gjøre dette.")


class MissingRule(RuntimeError):
    """A route has no access rule: add one to server.people.access.RULES."""


# Media requests (segments, playlists) come many times a second from every viewer: their
# talk is looked up at most once per MEDIA_TALK_SECONDS per app (a changed visibility
# reaches media within that time; pages always read the talk afresh).
MEDIA_ROUTES = frozenset({"vod", "live_playlist", "live_segment"})
# Pages (sync endpoints) run at most PAGE_THREADS at a time; the rest wait their turn on the
# event loop, in order, and one whose client has gone meanwhile is not built at all (after a
# burst, nobody waits behind pages that no one will read).
PAGE_THREADS = 16
_PAGE_LIMITER: RunVar[anyio.CapacityLimiter] = RunVar("ktl_page_limiter")
CLIENT_GONE = 499  # nginx's status for a client that closed the connection first
MEDIA_TALK_SECONDS = 2.0


def _talk(request: Request) -> Talk | None:
    params = request.path_params
    with open_db(request) as db:
        if "talk_id" in params:
            return talks.get(db, int(params["talk_id"]))
        return talks.find(db, str(params["key"]))


async def _media_talk(request: Request) -> Talk | None:
    cache = getattr(request.app.state, "media_talks", None)
    if cache is None:
        cache = request.app.state.media_talks = {}
    params = request.path_params
    key = f"{params.get('talk_id', '')}:{params.get('key', '')}"
    now = time.monotonic()
    cached = cache.get(key)
    if cached and cached[0] > now:
        return cached[1]
    talk = await run_in_threadpool(_talk, request)
    if len(cache) > 1000:
        cache.clear()
    cache[key] = (now + MEDIA_TALK_SECONDS, talk)
    return talk


def _denied(request: Request, viewer: access.Viewer) -> Response:
    if viewer.signed_in:
        raise HTTPException(403, FORBIDDEN)
    if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
        target = quote(request.url.path + ("?" + request.url.query if request.url.query else ""))
        return RedirectResponse(f"/logg-inn?neste={target}", status_code=303)
    raise HTTPException(401, SIGN_IN)


TALK_RULES = frozenset({access.TALK_VIEW, access.TALK_EDIT, access.TALK_MEMBER})


async def _check(request: Request, rule: str, media: bool = False) -> Response | None:
    viewer: access.Viewer = request.state.viewer
    if not access.allows(rule, viewer):
        return _denied(request, viewer)
    if rule not in TALK_RULES:
        return None
    talk = await (_media_talk(request) if media else run_in_threadpool(_talk, request))
    return _verdict(request, rule, talk)


def _checked_call(request: Request, rule: str, endpoint: Callable) -> Response:
    """A page's whole work in one thread: its access rule (and talk) and then the page, so
    a request waits for a free thread once, not twice."""
    viewer: access.Viewer = request.state.viewer
    if not access.allows(rule, viewer):
        return _denied(request, viewer)
    if rule in TALK_RULES:
        refusal = _verdict(request, rule, _talk(request))
        if refusal is not None:
            return refusal
    return endpoint(request)


async def _page(request: Request, rule: str, endpoint: Callable) -> Response:
    async with _page_limiter():
        if await request.is_disconnected():  # a sync page reads no body: nothing is lost
            return Response(status_code=CLIENT_GONE)
        return await run_in_threadpool(_checked_call, request, rule, endpoint)


def _page_limiter() -> anyio.CapacityLimiter:
    try:
        return _PAGE_LIMITER.get()
    except LookupError:  # one per event loop
        limiter = anyio.CapacityLimiter(PAGE_THREADS)
        _PAGE_LIMITER.set(limiter)
        return limiter


def _verdict(request: Request, rule: str, talk) -> Response | None:
    viewer: access.Viewer = request.state.viewer
    if talk is None or not access.can_view(viewer, talk):
        raise HTTPException(404, TALK_NOT_FOUND)
    if rule == access.TALK_EDIT and not access.can_edit(viewer, talk):
        return _denied(request, viewer)
    request.state.talk = talk
    return None


def _ids_in_range(params: dict) -> bool:
    numbers = (v for v in params.values() if isinstance(v, int))  # ids, version 0 and up
    return all(parse.integer(v, 0, parse.MAX_ID) is not None for v in numbers)


def guarded(endpoint: Callable, rule: str, media: bool = False) -> Callable:
    is_async = inspect.iscoroutinefunction(endpoint)

    async def guard(request: Request) -> Response:
        if not _ids_in_range(request.path_params):
            raise HTTPException(404)  # {x:int} takes any ASCII digits; SQLite stops at 2**63-1
        if not is_async and not media:
            return await _page(request, rule, endpoint)
        refusal = await _check(request, rule, media)
        if refusal is not None:
            return refusal
        if is_async:
            return await endpoint(request)
        return await run_in_threadpool(endpoint, request)

    guard.__name__ = getattr(endpoint, "__name__", "endpoint")
    return guard


CLOSE_FORBIDDEN = 4403  # WebSocket close codes before accept: the handshake gets a 403


def _ws_talk(websocket: WebSocket) -> Talk | None:
    with websocket.app.state.store.read() as db:
        return talks.find(db, str(websocket.path_params["key"]))


def guarded_websocket(endpoint: Callable, rule: str) -> Callable:
    """The same rules for a WebSocket: refused (closed before accept) unless it comes from
    this site and the person may; a talk they may not edit is refused the same way."""

    async def guard(websocket: WebSocket) -> None:
        viewer: access.Viewer = websocket.scope["state"]["viewer"]
        allowed = same_origin_websocket(websocket.scope) and access.allows(rule, viewer)
        talk = await run_in_threadpool(_ws_talk, websocket) if allowed else None
        if rule in (access.TALK_VIEW, access.TALK_EDIT, access.TALK_MEMBER):
            allowed = allowed and talk is not None and access.can_view(viewer, talk)
            if rule == access.TALK_EDIT:
                allowed = allowed and access.can_edit(viewer, talk)
        if not allowed:
            await websocket.close(code=CLOSE_FORBIDDEN)
            return
        websocket.state.talk = talk
        await endpoint(websocket)

    guard.__name__ = getattr(endpoint, "__name__", "endpoint")
    return guard


def protect(routes: list[BaseRoute]) -> list[BaseRoute]:
    """The same routes, each endpoint wrapped with its rule; a route without one is an error."""
    result: list[BaseRoute] = []
    for route in routes:
        name = getattr(route, "name", None)
        if name not in access.RULES:
            raise MissingRule(f"route {name!r} ({getattr(route, 'path', '?')}) has no rule")
        if isinstance(route, Route):
            # All of the route's methods: HEAD too (Starlette adds it to GET routes, but the
            # tus upload resource answers HEAD without GET, and resuming depends on it).
            methods = sorted(route.methods) if route.methods else None
            route = Route(
                route.path, guarded(route.endpoint, access.RULES[name], name in MEDIA_ROUTES),
                methods=methods,
                name=name,
            )  # fmt: skip
        elif isinstance(route, WebSocketRoute):
            endpoint = guarded_websocket(route.endpoint, access.RULES[name])
            route = WebSocketRoute(route.path, endpoint, name=name)
        elif not isinstance(route, Mount) or access.RULES[name] != access.PUBLIC:
            raise MissingRule(f"route {name!r} cannot be guarded")
        result.append(route)
    return result
