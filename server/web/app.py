"""create_app(settings) -> Starlette. No module globals: everything hangs off app.state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from server.core import i18n
from server.core.config import Settings, SettingsError
from server.core.errors import UserError
from server.core.i18n import N_
from server.core.resources import STATIC_DIR
from server.live.captions import LiveCaptioner
from server.live.manager import LiveManager
from server.ops.metrics import RequestMetrics
from server.people import oidc as sso
from server.pipeline.supervisor import embedded_worker
from server.store import Store, open_store
from server.web.guard import protect
from server.web.metrics import MetricsMiddleware
from server.web.middleware import (
    AuthMiddleware,
    BodyLimitMiddleware,
    CSRFMiddleware,
    ProxyHeadersMiddleware,
    SecurityHeadersMiddleware,
)
from server.web.requestlog import RequestIdMiddleware
from server.web.respond import build_templates, render, wants_json
from server.web.views import (
    admin,
    auth,
    chapters,
    editor,
    embed,
    language,
    live,
    media,
    notes,
    oidc,
    ops,
    pages,
    programme,
    progress,
    quizzes,
    search,
    talks,
    transcript,
    translation,
    tus,
    vocabulary,
)

log = logging.getLogger("ktl.app")

HTTP_MESSAGES = {
    401: N_("Du må logge inn for å gjøre dette."),
    403: N_("Du har ikke tilgang til dette."),
    404: N_("Siden finnes ikke. Sjekk adressen, eller gå til forsiden og søk etter foredraget."),
    405: N_("Denne handlingen er ikke tillatt her."),
    413: N_("Filen er for stor."),
    500: N_("Noe gikk galt hos oss. Prøv igjen om litt; vedvarer feilen, kontakt IT."),
}


def live_manager(settings: Settings, store: Store | None = None) -> LiveManager:
    """Live broadcasts run in this process; live captions in a child process each."""
    return LiveManager(settings, LiveCaptioner if settings.live_captions else None, store)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    settings.ensure_dirs()
    app.state.store.init()
    app.state.live = live_manager(settings, app.state.store)
    await app.state.live.startup()
    worker = embedded_worker(settings) if settings.embedded_worker else None
    if worker is not None:
        worker.start()  # restarted whenever it dies, until shutdown
    try:
        yield
    finally:
        await app.state.live.shutdown()
        if worker is not None:
            await asyncio.to_thread(worker.stop)
        app.state.store.close()


def _status_and_message(exc: Exception) -> tuple[int, str | None]:
    """The status and the sentence for the person: a UserError carries both, an
    HTTPException a status and perhaps a sentence; anything else is our fault (500)."""
    if isinstance(exc, UserError):
        return exc.status, exc.message or None
    if isinstance(exc, HTTPException):
        status, detail = exc.status_code, exc.detail
        return status, detail if detail and detail != _default_phrase(status) else None
    return 500, None


async def http_error(request: Request, exc: Exception) -> Response:
    """The one exception handler: every UserError (domain), HTTPException and unexpected
    error becomes the error page, or `{"error": …}` for JSON requests, with its status."""
    status, message = _status_and_message(exc)
    message = i18n.text_for(request, message or HTTP_MESSAGES.get(status, HTTP_MESSAGES[500]))
    if status >= 500:
        log.exception("Feil i %s %s", request.method, request.url.path, exc_info=exc)
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    if embed.is_embed(request):  # shown in the intranet's frame, like the player
        return embed.error_page(request, message, status)
    return render(request, "error.html", {"message": message, "status": status}, status=status)


def _default_phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def secret_key(settings: Settings) -> bytes:
    """KTL_SECRET_KEY, or a random key made once and kept in the data folder."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.paths.secret
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        _make_secret(path)
    elif path.stat().st_mode & 0o077:
        log.warning("%s kunne leses av andre; bare eieren har tilgang nå", path)
        path.chmod(0o600)
    return path.read_text().strip().encode()


def _make_secret(path: Path) -> None:
    """Written whole under another name, then linked into place: of several processes
    starting on a new data folder, one key wins and none reads a half-written one."""
    draft = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
    try:
        os.link(draft, path)
    except FileExistsError:
        pass  # another process made it first: use theirs
    finally:
        draft.unlink()


def all_routes() -> list:
    return [
        *pages.routes,
        *talks.routes,
        *transcript.routes,
        *chapters.routes,
        *embed.routes,
        *notes.routes,
        *translation.routes,
        *search.routes,
        *media.routes,
        *tus.routes,
        *auth.routes,
        *oidc.routes,
        *admin.routes,
        *editor.routes,
        *vocabulary.routes,
        *language.routes,
        *quizzes.routes,
        *progress.routes,
        *programme.routes,
        *live.routes,
        *ops.routes,
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]


def create_app(settings: Settings) -> Starlette:
    try:
        sso.check_settings(settings)
    except sso.OIDCError as exc:
        raise SettingsError(str(exc)) from exc
    app = Starlette(
        routes=protect(all_routes()),
        lifespan=lifespan,
        middleware=[
            Middleware(RequestIdMiddleware, proxies=settings.trusted_proxies),
            Middleware(MetricsMiddleware),
            Middleware(ProxyHeadersMiddleware, proxies=settings.trusted_proxies),
            Middleware(SecurityHeadersMiddleware, secure=settings.cookie_secure),
            Middleware(AuthMiddleware),
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
            Middleware(CSRFMiddleware),
        ],
        exception_handlers={
            UserError: http_error,
            HTTPException: http_error,
            Exception: http_error,
        },
    )
    app.state.settings = settings
    app.state.store = open_store(settings)  # every read and write of this app goes here
    app.state.metrics = RequestMetrics()
    app.state.secret = secret_key(settings)
    app.state.templates = build_templates()
    return app
