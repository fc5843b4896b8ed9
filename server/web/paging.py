"""`?side=N` for the pages that list many things (archive, search): the page asked for, and
the links to the pages before and after it with the other query parameters kept."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request

from server.core import i18n, paging
from server.core.paging import Page
from server.web.respond import int_param


def page_number(request: Request) -> int:
    """The page asked for (1 when none); 400 with a sentence for 0, -1 or «to». A number past
    any list (more digits than MAX_PAGE) counts as MAX_PAGE + 1: see `check`."""
    raw = (request.query_params.get(paging.PARAM) or "").strip()
    if raw.isascii() and raw.isdigit() and len(raw.lstrip("0")) > len(str(paging.MAX_PAGE)):
        return paging.MAX_PAGE + 1
    return int_param(raw, 1, paging.MAX_PAGE + 1, paging.BAD_PAGE) or 1


def check(request: Request, page: Page) -> None:
    """404 with a sentence when the page is past the last one."""
    if not page.exists:
        text = i18n.text_for(request, paging.NO_SUCH_PAGE) % {"pages": page.pages}
        raise HTTPException(404, text)


def page_url(request: Request, number: int | None) -> str | None:
    """This address on page `number` (page 1 without `side`); None for no such page."""
    if number is None:
        return None
    query = [(k, v) for k, v in request.query_params.multi_items() if k != paging.PARAM]
    if number > 1:
        query.append((paging.PARAM, str(number)))
    return request.url.path + (f"?{urlencode(query)}" if query else "")


def pager(request: Request, page: Page) -> dict:
    """What templates/_partials/pager.html shows."""
    return {
        "page": page,
        "previous_url": page_url(request, page.previous),
        "next_url": page_url(request, page.next),
    }
