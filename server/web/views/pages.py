"""Front page and archive."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.catalogue import search, talks
from server.core import i18n, parse
from server.core.clock import now_oslo
from server.learning import progress
from server.live import broadcasts
from server.people.access import Filter, Visibility
from server.web.listcache import rule_key, shared
from server.web.paging import check, page_number, pager
from server.web.respond import fragment, int_param, open_db, render, viewer_of


def _front_lists(request: Request, db, allowed: Filter, now: str) -> dict:
    """The front page's lists for one access rule, with the cards of the talks to come and
    the new recordings rendered once for every viewer with that rule and language."""
    lists = {
        "upcoming": talks.upcoming(db, now, allowed),
        "recent": talks.recent(db, allowed),
        "live_now": broadcasts.live_talks(db, allowed),
    }
    for name in ("upcoming", "recent"):
        cards = {"cards": lists[name]}
        lists[f"{name}_cards"] = fragment(request, "_partials/talk_cards.html", cards)
    return lists


def front(request: Request) -> Response:
    viewer = viewer_of(request)
    allowed, now = Visibility(viewer).visible_sql(), now_oslo()
    with open_db(request) as db:
        key = ("front", rule_key(allowed), now, i18n.language_of(request))
        context = {
            **shared(request, key, lambda: _front_lists(request, db, allowed, now)),
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
    lang = i18n.language_of(request)
    key = ("archive", rule_key(allowed), year, department, number, lang)
    with open_db(request) as db:
        listed, page, years, departments, cards = shared(
            request, key, lambda: _archive_lists(request, db, allowed, year, department, number)
        )
    check(request, page)
    context = {
        "talks": listed,
        "cards": cards,
        "pager": pager(request, page),
        "years": years,
        "departments": departments,
        "year": year,
        "department": department,
    }
    return render(request, "pages/archive.html", context)


def _archive_lists(
    request: Request, db, allowed: Filter, year: int | None, department: str | None, number: int
) -> tuple:
    """One page of the archive with its filters, and its cards rendered once for every viewer
    with the same access rule and language (half of the page's time when each renders them)."""
    listed, page = talks.archive(db, year, department, allowed, number)
    context = {"cards": listed, "card_heading": 2}
    cards = fragment(request, "_partials/talk_cards.html", context)
    return tuple(listed), page, search.years(db, allowed), search.departments(db, allowed), cards


routes = [
    Route("/", front, name="front"),
    Route("/arkiv", archive, name="archive"),
]
