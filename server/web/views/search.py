"""GET /sok (page) and GET /sok.json (JSON for other tools)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.catalogue import search
from server.core import i18n, parse
from server.people.access import VISIBILITIES, Visibility
from server.web.listcache import rule_key, shared
from server.web.paging import check, page_number, page_url, pager
from server.web.respond import fragment, in_thread, int_param, render, settings_of, viewer_of
from server.web.shortcache import ShortCache


def _filters(request: Request) -> tuple[str, str | None, int | None]:
    params = request.query_params
    query = params.get("q", "")[:500]
    department = params.get("department") or None
    year = int_param(params.get("year"), *parse.YEARS, parse.BAD_YEAR)
    return query, department, year


def _search(db, request: Request, query: str, department: str | None, year: int | None):
    """Search only the talks this viewer may see (guests: public; staff: also internal),
    and, when captions wait for review, only reviewed transcripts (or the viewer's own).
    Viewers with the same rules asking the same within KTL_SEARCH_CACHE_SECONDS share one
    answer (server.web.shortcache; the rules are part of the key)."""
    visibility = Visibility(viewer_of(request))
    transcripts = visibility.transcripts(settings_of(request).captions_publish).sql()
    allowed, page = visibility.visible_sql(), page_number(request)
    key = (query, department, year, page, _rule_key(allowed), _rule_key(transcripts))
    return _cache(request).get(key, lambda: search.search(
        db, query, department=department, year=year, visibilities=VISIBILITIES,
        allowed=allowed, transcripts_allowed=transcripts, page=page,
    ))  # fmt: skip


def _rule_key(rule: tuple[str, dict] | None) -> tuple | None:
    """An SQL rule with its parameters as a hashable part of a cache key."""
    return None if rule is None else (rule[0], tuple(sorted(rule[1].items())))


def _cache(request: Request) -> ShortCache:
    state = request.app.state
    if getattr(state, "search_cache", None) is None:
        seconds = settings_of(request).search_cache_seconds
        state.search_cache = ShortCache(seconds, version=state.store.version)
    return state.search_cache


def _answer(db, request: Request, query: str, department: str | None, year: int | None):
    """The answer and the departments and years to filter by (shared as the archive's are,
    server.web.listcache), in one trip to a thread."""
    allowed = Visibility(viewer_of(request)).visible_sql()
    filters = shared(
        request,
        ("search filters", rule_key(allowed)),
        lambda: (search.departments(db, allowed), search.years(db, allowed)),
    )
    return _search(db, request, query, department, year), filters


_HITS_KEPT = 64  # rendered answers kept per app (each 10-30 kB)


def _hits(request: Request, results: search.SearchResults) -> Markup:
    """The hits of an answer rendered once per language: viewers who share an answer
    (KTL_SEARCH_CACHE_SECONDS) share its HTML too, kept for as long as that answer is the
    one the cache gives (the same object). Runs on the event loop, as the page's render."""
    kept = getattr(request.app.state, "search_hits", None)
    if kept is None:
        kept = request.app.state.search_hits = OrderedDict()
    key = (id(results), i18n.language_of(request))
    found = kept.get(key)
    if found is not None and found[0] is results:
        return found[1]
    html = fragment(request, "search/_hits.html", {"results": results})
    kept[key] = (results, html)
    while len(kept) > _HITS_KEPT:
        kept.popitem(last=False)
    return html


async def search_page(request: Request) -> Response:
    query, department, year = _filters(request)
    results, filters = await in_thread(request, _answer, request, query, department, year)
    check(request, results.page)
    context = {
        "results": results,
        "hits": _hits(request, results),
        "q": query,
        "department": department,
        "year": year,
        "departments": filters[0],
        "years": filters[1],
        "pager": pager(request, results.page),
    }
    return render(request, "search/results.html", context)


async def search_json(request: Request) -> Response:
    query, department, year = _filters(request)
    results = await in_thread(request, _search, request, query, department, year)
    check(request, results.page)
    hits = [
        {
            "talk_id": group.talk_id,
            "title": group.title,
            "start": hit.start,
            "end": hit.end,
            "snippet": hit.snippet_html,
            "url": str(request.base_url).rstrip("/") + hit.url,
            "approximate": group.approximate,
            # "speech"; "slide": on the slide shown from `start`; "english": in the English
            # machine translation, and `url` selects the English captions (?tekst=en)
            "kind": hit.kind,
        }
        for group in results.groups
        for hit in group.hits
    ]
    talks = [{k: v for k, v in asdict(group).items() if k != "hits"} for group in results.groups]
    message = i18n.text_for(request, results.message) if results.message else None
    similar = [{"word": word, "hits": n} for word, n in results.similar]
    body = {"query": query, "message": message, "hits": hits, "talks": talks, "similar": similar}
    body |= results.page.to_json()
    body["next"] = _absolute(request, page_url(request, results.page.next))
    body["previous"] = _absolute(request, page_url(request, results.page.previous))
    return JSONResponse(body)


def _absolute(request: Request, path: str | None) -> str | None:
    return str(request.base_url).rstrip("/") + path if path else None


routes = [
    Route("/sok", search_page, name="search"),
    Route("/sok.json", search_json, name="search_json"),
]
