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
from server.people.access import Filter, Visibility
from server.web.listcache import rule_key, shared
from server.web.paging import check, page_number, pager
from server.web.respond import int_param, open_db, render, viewer_of


def _front_lists(db, allowed: Filter, now: str) -> dict:
    return {
        "upcoming": talks.upcoming(db, now, allowed),
        "recent": talks.recent(db, allowed),
        "live_now": broadcasts.live_talks(db, allowed),
    }


def front(request: Request) -> Response:
    viewer = viewer_of(request)
    allowed, now = Visibility(viewer).visible_sql(), now_oslo()
    with open_db(request) as db:
        key = ("front", rule_key(allowed), now)
        context = {
            **shared(request, key, lambda: _front_lists(db, allowed, now)),
            "in_progress": talks.list_talks(
                db, "t.status IN ('processing', 'failed')", allowed=allowed, limit=20
            )
            if viewer.at_least("organiser")
            else [],
            **progress.front_context(db, viewer),
        }
    return render(request, "pages/front.html", context)


def archive(request: Request) -> Response:
    year = int_param(request.query_params.get("year"), *parse.YEARS, parse.BAD_YEAR)
    department = request.query_params.get("department") or None
    allowed = Visibility(viewer_of(request)).visible_sql()
    number = page_number(request)
    key = ("archive", rule_key(allowed), year, department, number)
    with open_db(request) as db:
        listed, page, years, departments = shared(
            request, key, lambda: _archive_lists(db, allowed, year, department, number)
        )
    check(request, page)
    context = {
        "talks": listed,
        "pager": pager(request, page),
        "years": years,
        "departments": departments,
        "year": year,
        "department": department,
    }
    return render(request, "pages/archive.html", context)


def _archive_lists(db, allowed: Filter, year: int | None, department: str | None, number: int):
    listed, page = talks.archive(db, year, department, allowed, number)
    return tuple(listed), page, search.years(db, allowed), search.departments(db, allowed)


routes = [
    Route("/", front, name="front"),
    Route("/arkiv", archive, name="archive"),
]
