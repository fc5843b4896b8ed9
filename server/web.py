"""Helpers shared by the thin route handlers: templates, database per request, formats."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
import sqlite_utils
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from server import db as database
from server.access import Viewer
from server.config import LANGUAGES, VISIBILITIES, Settings

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
OSLO = ZoneInfo("Europe/Oslo")
MONTHS = (
    "januar", "februar", "mars", "april", "mai", "juni",
    "juli", "august", "september", "oktober", "november", "desember",
)  # fmt: skip
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
    with database.session(settings_of(request).db_path) as db:
        yield db


async def in_thread(request: Request, func, *args, **kwargs):
    """Run domain code (SQLite, ffprobe) off the event loop with a connection of its own."""

    def call():
        with open_db(request) as db:
            return func(db, *args, **kwargs)

    return await run_in_threadpool(call)


def _to_oslo(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=OSLO)  # talk times are entered in Oslo time
    return moment.astimezone(OSLO)


def format_date(value: str | None, with_time: bool = True) -> str:
    moment = _to_oslo(value)
    if moment is None:
        return ""
    text = f"{moment.day}. {MONTHS[moment.month - 1]} {moment.year}"
    return f"{text} kl. {moment:%H.%M}" if with_time else text


def format_clock(seconds: float | None) -> str:
    total = int(seconds or 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def now_oslo() -> str:
    return datetime.now(UTC).astimezone(OSLO).strftime("%Y-%m-%dT%H:%M")


def build_templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_null_translations(newstyle=True)  # one translation layer; nb is the source
    env.filters["date"] = format_date
    env.filters["clock"] = format_clock
    env.globals.update(LANGUAGES=LANGUAGES, VISIBILITIES=VISIBILITIES, STATUS_LABELS=STATUS_LABELS)
    return Jinja2Templates(env=env)


def viewer_of(request: Request) -> Viewer:
    return getattr(request.state, "viewer", None) or Viewer(None)


def render(request: Request, name: str, context: dict, status: int = 200) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    context = {
        "viewer": viewer_of(request),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "oidc_enabled": settings_of(request).oidc_enabled,
        **context,
    }
    return templates.TemplateResponse(request, name, context, status_code=status)


def wants_json(request: Request) -> bool:
    return request.url.path.endswith(".json") or "application/json" in request.headers.get(
        "accept", ""
    )
