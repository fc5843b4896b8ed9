"""Lists that every viewer with the same access rule sees alike: one page of the archive,
the programme's months, the front page's rows, the years and departments to filter by.
Under load (the whole town hall opening the archive at once) they are read once and shared
for KTL_LIST_CACHE_SECONDS (server.web.shortcache: forgotten as soon as any process commits
to the database, so an edited title or a hidden talk shows on the next request).

The key holds the viewer's access rule (its SQL and parameters), so viewers with different
rights never share a list, and whatever else the list depends on (a page number, today's
date, the current minute). Only the data is shared: each page is still rendered for its
own viewer (language, CSRF token, menu).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from starlette.requests import Request

from server.people.access import Filter
from server.web.shortcache import ShortCache

T = TypeVar("T")
SIZE = 512  # lists kept at once (access rules x pages x filters)


def rule_key(rule: Filter) -> tuple:
    """An access rule (SQL and its parameters) as a hashable part of a key."""
    return (rule[0], tuple(sorted(rule[1].items())))


def shared(request: Request, key: Hashable, make: Callable[[], T]) -> T:
    """The list for `key`, made by `make()` (which reads the database) when none is fresh."""
    state = request.app.state
    cache = getattr(state, "list_cache", None)
    if cache is None:
        seconds = state.settings.list_cache_seconds
        cache = state.list_cache = ShortCache(seconds, SIZE, version=state.store.version)
    return cache.get(key, make)
