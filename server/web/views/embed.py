"""GET /talks/{key}/embed: just the player (and captions) for a frame on the intranet.

The same access rule as the talk page (server.people.access.RULES). Only this page may be
framed, and only by this site and the origins in KTL_FRAME_ORIGINS (CSP frame-ancestors);
every other page keeps refusing frames (frame-ancestors 'none' and X-Frame-Options DENY,
server.web.middleware). It honours ?t=START&til=END like the talk page.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.catalogue import moments, talks
from server.core.config import frame_origins
from server.people.access import can_edit
from server.transcript import editing, translation
from server.web.middleware import csp_framed_by
from server.web.respond import open_db, render, settings_of, viewer_of


def embed(request: Request) -> Response:
    talk = request.state.talk
    settings = settings_of(request)
    editor = can_edit(viewer_of(request), talk)
    with open_db(request) as db:
        recording = talks.recording(db, talk.id)
        english = translation.page_context(db, settings, talk, editor)
    asked = moments.parse(request.query_params.get("t"), request.query_params.get("til"))
    moment = moments.within(asked, recording.duration if recording else None)
    path = f"/talks/{talk.slug}"
    context = {
        "talk": talk,
        "transcript_visible": editing.transcript_visible(settings, talk, editor),
        "start": moment.start,
        "end": moment.end,
        "full_url": str(request.base_url).rstrip("/") + moments.link(path, moment),
        **english,
    }
    response = render(request, "talks/embed.html", context)
    response.headers["content-security-policy"] = csp_framed_by(frame_origins(settings))
    return response


def is_embed(request: Request) -> bool:
    """Whether `request` asked for the embedded player (its errors are framed like it)."""
    route = request.scope.get("route")
    return getattr(route, "name", None) == "talk_embed"


def error_page(request: Request, message: str, status: int) -> Response:
    """An error of the embedded player (a talk not found, or one a guest must sign in to
    see), in a page the frame may show; a guest gets a sign-in link in a new window."""
    context = {"message": message, "status": status, "key": request.path_params.get("key")}
    response = render(request, "talks/embed_error.html", context, status=status)
    response.headers["content-security-policy"] = csp_framed_by(frame_origins(settings_of(request)))
    return response


routes = [Route("/talks/{key}/embed", embed, name="talk_embed")]
