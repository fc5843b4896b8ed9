"""Front page and archive."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.catalogue import search, talks
from server.core import parse
from server.core.clock import now_oslo
from server.learning import progress
from server.live import broadcasts
from server.people.access import Visibility
from server.web.paging import check, page_number, pager
from server.web.respond import int_param, open_db, render, viewer_of


def front(request: Request) -> Response:
    viewer = viewer_of(request)
    allowed = Visibility(viewer).visible_sql()
    with open_db(request) as db:
        context = {
            "upcoming": talks.upcoming(db, now_oslo(), allowed),
            "recent": talks.recent(db, allowed),
            "in_progress": talks.list_talks(
                db, "t.status IN ('processing', 'failed')", allowed=allowed, limit=20
            )
            if viewer.at_least("organiser")
            else [],
            "live_now": broadcasts.live_talks(db, allowed),
            **progress.front_context(db, viewer),
        }
    return render(request, "pages/front.html", context)


def archive(request: Request) -> Response:
    year = int_param(request.query_params.get("year"), *parse.YEARS, parse.BAD_YEAR)
    department = request.query_params.get("department") or None
    allowed = Visibility(viewer_of(request)).visible_sql()
    number = page_number(request)
    with open_db(request) as db:
        listed, page = talks.archive(db, year, department, allowed, number)
        check(request, page)
        context = {
            "talks": listed,
            "pager": pager(request, page),
            "years": search.years(db, allowed),
            "departments": search.departments(db, allowed),
            "year": year,
            "department": department,
        }
    return render(request, "pages/archive.html", context)


routes = [
    Route("/", front, name="front"),
    Route("/arkiv", archive, name="archive"),
]
