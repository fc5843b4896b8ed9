"""Helpers shared by the thin route handlers: templates, database per request, formats."""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Iterator

import jinja2
import sqlite_utils
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import URLPath
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, NoMatchFound
from starlette.templating import Jinja2Templates

from server.catalogue.records import Talk
from server.core import i18n, parse
from server.core.clock import format_clock, format_date
from server.core.config import LANGUAGES, VISIBILITIES, Settings
from server.core.resources import TEMPLATES_DIR
from server.people.access import Viewer, may
from server.web.flash import clear_messages, take_messages

STATUS_LABELS = {
    "planned": "Kommer",
    "processing": "Behandles",
    "ready": "Klar",
    "failed": "Behandlingen feilet",
}


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


@contextlib.contextmanager
def open_db(request: Request) -> Iterator[sqlite_utils.Database]:
    """A connection of the app's store for this unit of work (server.store.Store)."""
    with request.app.state.store.read() as db:
        yield db


async def in_thread(request: Request, func, *args, **kwargs):
    """Run domain code (SQLite, ffprobe) off the event loop with a connection of its own."""

    def call():
        with open_db(request) as db:
            return func(db, *args, **kwargs)

    return await run_in_threadpool(call)


# The translations of the render in progress. A ContextVar is private to each thread and
# each asyncio task, so concurrent renders in other languages never see each other's.
_CURRENT: contextvars.ContextVar = contextvars.ContextVar("ktl_translations", default=None)


def _current():
    return _CURRENT.get() or i18n.translations(i18n.DEFAULT)


def _gettext(message: str) -> str:
    # Jinja's newstyle wrapper escapes and fills %(name)s from the keyword arguments.
    return _current().gettext(message)


def _ngettext(singular: str, plural: str, num: int) -> str:
    return _current().ngettext(singular, plural, num)


@functools.lru_cache(maxsize=4096)
def _page_text(translations, message: str) -> Markup:
    """A template's `_("…")` without values, made once per language: what Jinja's newstyle
    gettext gives (the translation as Markup, always %-formatted, so `%%` reads `%`)."""
    return Markup(translations.gettext(message)) % {}


@jinja2.pass_context
def _template_gettext(context, message: str, /, **variables: object) -> str:
    """`_()` and `gettext()` in templates: Jinja's newstyle gettext, with the text of a
    message without values kept per language (a programme page asks for ~160)."""
    if not variables and context.eval_ctx.autoescape:
        return _page_text(_current(), message)
    text = _current().gettext(message)
    return (Markup(text) if context.eval_ctx.autoescape else text) % variables


@jinja2.pass_context
def _date_filter(context, value: str | None, with_time: bool = True) -> str:
    return format_date(value, with_time, context.get("ui_lang", i18n.DEFAULT))


@jinja2.pass_context
def _translate_filter(context, value: str | None) -> str:
    """`{{ stage.label|tr }}`: a message made in Python, in the page's language."""
    return i18n.translate(value or "", context.get("ui_lang", i18n.DEFAULT))


@jinja2.pass_context
def _can(context, route: str, talk: Talk | None = None) -> bool:
    """`can('talk_new')`, `can('talk_results', talk)`: whether the viewer of this page may
    use that route (server.people.access.RULES), so pages offer only what leads somewhere."""
    return may(context.get("viewer") or Viewer(None), route, talk)


def _routes_by_name(app) -> dict[str, list[BaseRoute]]:
    """The app's top-level routes by name, in order, built once per app: a page builds some
    20-100 links, and Starlette's url_path_for walks every route (~140) for each."""
    index = getattr(app.state, "routes_by_name", None)
    if index is None:
        index = {}
        for route in app.router.routes:
            name = getattr(route, "name", None)
            if name:
                index.setdefault(name, []).append(route)
        app.state.routes_by_name = index
    return index


def url_path(app, name: str, **params: object) -> URLPath:
    """What `app.url_path_for(name, **params)` answers, asking only the routes of that name
    (the first that matches wins, as in Starlette); any other name falls back to the walk."""
    for route in _routes_by_name(app).get(name, ()):
        with contextlib.suppress(NoMatchFound):
            return route.url_path_for(name, **params)
    return app.url_path_for(name, **params)


_LINKS = 8192  # paths remembered per app (a page's links repeat: the menu, each talk's)


def _link(app, name: str, params: dict) -> str:
    """url_path as text, remembered per app by name and parameters."""
    key = (name, *sorted(params.items()))
    return _remembered(app, key, lambda: str(url_path(app, name, **params)))


def _remembered(app, key: tuple, make) -> str:
    """A link remembered per app under `key`, made by `make()` the first time."""
    links = getattr(app.state, "links", None)
    if links is None:
        links = app.state.links = {}
    try:
        found = links.get(key)
    except TypeError:  # a parameter that cannot be a key: built each time
        return make()
    if found is None:
        if len(links) >= _LINKS:
            links.clear()
        found = links[key] = make()
    return found


@jinja2.pass_context
def _url(context, name: str, **params: object) -> str:
    """`url('talk', key=talk.slug)`: the path of the named route (Starlette's url_path_for
    on this app's routes), so templates never write a path out. Query strings and fragments
    follow the call: `{{ url('talk', key=talk.slug) }}?t=30`."""
    return _link(context["request"].app, name, params)


@jinja2.pass_context
def _url_for(context, name: str, /, **params: object) -> str:
    """Starlette's `url_for` for templates (an absolute URL), through the same index, and
    remembered per app by the request's base URL, name and parameters (a page asks for 5-11
    static files; each made a URL parsed twice)."""
    request: Request = context["request"]
    base = str(request.base_url)
    return _remembered(
        request.app,
        ("url_for", base, name, *sorted(params.items())),
        lambda: str(url_path(request.app, name, **params).make_absolute_url(base_url=base)),
    )


def build_templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,  # templates change with a release (a restart): no stat per include
    )
    # One translation layer; nb is the source. gettext/ngettext read the translations of
    # the current render from a ContextVar that render() sets (see _CURRENT).
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)
    env.globals["gettext"] = env.globals["_"] = _template_gettext
    env.filters["date"] = _date_filter
    env.filters["clock"] = format_clock
    env.filters["tr"] = _translate_filter
    env.globals["can"] = _can
    env.globals["url"] = _url
    env.globals["url_for"] = _url_for  # Jinja2Templates keeps it (it only sets a default)
    env.globals.update(LANGUAGES=LANGUAGES, VISIBILITIES=VISIBILITIES, STATUS_LABELS=STATUS_LABELS)
    return Jinja2Templates(env=env)


def viewer_of(request: Request) -> Viewer:
    return getattr(request.state, "viewer", None) or Viewer(None)


def _translated(labels: dict, translations) -> dict:
    return {key: translations.gettext(label) for key, label in labels.items()}


# Context keys that carry messages made in Python (errors raised by domain code); they are
# translated here, at render, with the page's language (see server.core.i18n.translate).
MESSAGE_KEYS = ("error", "message", "refused", "refusal", "pending_error", "notice")
MESSAGE_DICTS = ("errors", "settings_errors")


def _translate_messages(context: dict, lang: str) -> None:
    for key in MESSAGE_KEYS:
        if isinstance(context.get(key), str):
            context[key] = i18n.translate(context[key], lang)
    for key in MESSAGE_DICTS:
        if isinstance(context.get(key), dict):
            context[key] = {k: i18n.translate(str(v), lang) for k, v in context[key].items()}


def render(request: Request, name: str, context: dict, status: int = 200) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    lang = i18n.language_of(request)
    translations = i18n.translations(lang)
    context = {
        "viewer": viewer_of(request),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "oidc_enabled": settings_of(request).oidc_enabled,
        "ui_lang": lang,
        "LANGUAGES": _translated(LANGUAGES, translations),
        "VISIBILITIES": _translated(VISIBILITIES, translations),
        "STATUS_LABELS": _translated(STATUS_LABELS, translations),
        "flash_messages": take_messages(request, translations),
        **context,
    }
    if isinstance(context.get("roles"), dict):
        context["roles"] = _translated(context["roles"], translations)
    _translate_messages(context, lang)
    token = _CURRENT.set(translations)
    try:  # Starlette renders the template here, inside the constructor
        response = templates.TemplateResponse(request, name, context, status_code=status)
    finally:
        _CURRENT.reset(token)
    clear_messages(request, response)
    response.headers.setdefault("content-language", lang)
    response.headers.setdefault("vary", "Cookie, Accept-Language")
    return response


def fragment(request: Request, name: str, context: dict) -> Markup:
    """A part of a page rendered alone, for pages to place as is and for viewers with the same
    access rule to share (server.web.listcache): it sees the page's language, the translated
    status labels and `url()`, never who is looking (the viewer is a guest, no CSRF token)."""
    lang = i18n.language_of(request)
    translations = i18n.translations(lang)
    context = {
        "request": request,
        "viewer": Viewer(None),
        "ui_lang": lang,
        "STATUS_LABELS": _translated(STATUS_LABELS, translations),
        **context,
    }
    template = request.app.state.templates.get_template(name)
    token = _CURRENT.set(translations)
    try:
        return Markup(template.render(context))
    finally:
        _CURRENT.reset(token)


def wants_json(request: Request) -> bool:
    return request.url.path.endswith(".json") or "application/json" in request.headers.get(
        "accept", ""
    )


def int_param(raw: object, low: int, high: int, message: str) -> int | None:
    """An optional whole number from a query or form value (server.core.parse.integer): None
    when empty, HTTP 400 with `message` when it is not ASCII digits within low..high."""
    if raw is None or str(raw).strip() == "":
        return None
    value = parse.integer(raw, low, high)
    if value is None:
        raise HTTPException(400, message)
    return value


def int_params(values: list, low: int, high: int, message: str) -> list[int]:
    """Every value of a repeated field as a whole number (empty ones skipped); else 400."""
    numbers = (int_param(v, low, high, message) for v in values)
    return [n for n in numbers if n is not None]
