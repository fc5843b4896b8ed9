"""GET /talks/{key}/transkripsjon/linjer?fra=N: the transcript lines of the talk page from
line N on, as an HTML fragment. The page itself holds the first lines only
(templates/talks/page.html) and fetches the rest after its first paint (static/js/player.js),
so a long talk's page stays small."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.core.i18n import N_
from server.people.access import Visibility
from server.transcript import editing
from server.transcript import model as transcript
from server.web.respond import int_param, render, settings_of, viewer_of

FIRST_LINES = 60  # lines in the talk page itself (the panel shows about 15 at a time)
MAX_LINE = 1_000_000
BAD_FROM = N_("Linjenummeret må være et helt tall fra 0 og oppover.")
NOT_READY = N_("Transkripsjonen er ikke klar ennå.")


def lines(request: Request) -> Response:
    """Runs in a worker thread (a plain function under the guard): reads the transcript file."""
    talk = request.state.talk
    settings = settings_of(request)
    readable = Visibility(viewer_of(request)).transcripts(settings.captions_publish)
    if not readable.holds(talk):
        raise HTTPException(404, editing.NOT_REVIEWED)
    start = int_param(request.query_params.get("fra"), 0, MAX_LINE, BAD_FROM) or 0
    path = settings.paths.transcript_json(talk.id)
    if not path.is_file():
        raise HTTPException(404, NOT_READY)
    segments = transcript.load(path).segments[start:]
    return render(request, "talks/_transcript_lines.html", {"talk": talk, "lines": segments})


routes = [
    Route("/talks/{key}/transkripsjon/linjer", lines, name="transcript_lines"),
]
