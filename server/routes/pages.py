"""Front page and archive."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server import search, talks
from server.web import now_oslo, open_db, render


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) <= 4 else None


def front(request: Request) -> Response:
    with open_db(request) as db:
        context = {
            "upcoming": talks.upcoming(db, now_oslo()),
            "recent": talks.recent(db),
            "in_progress": talks.list_talks(db, "status IN ('processing', 'failed')"),
        }
    return render(request, "pages/front.html", context)


def archive(request: Request) -> Response:
    year = _int(request.query_params.get("year"))
    department = request.query_params.get("department") or None
    with open_db(request) as db:
        context = {
            "talks": talks.archive(db, year, department),
            "years": search.years(db),
            "departments": search.departments(db),
            "year": year,
            "department": department,
        }
    return render(request, "pages/archive.html", context)


routes = [
    Route("/", front, name="front"),
    Route("/arkiv", archive, name="archive"),
]
