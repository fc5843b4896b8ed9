"""create_app(settings) -> Starlette. No module globals: everything hangs off app.state."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from server import db as database
from server.config import Settings
from server.routes import media, pages, search, talks, tus
from server.web import build_templates, render, wants_json

log = logging.getLogger("ktl.app")
STATIC_DIR = Path(__file__).parent / "static"

HTTP_MESSAGES = {
    404: "Siden finnes ikke. Sjekk adressen, eller gå til forsiden og søk etter foredraget.",
    405: "Denne handlingen er ikke tillatt her.",
    413: "Filen er for stor.",
    500: "Noe gikk galt hos oss. Prøv igjen om litt; vedvarer feilen, kontakt IT.",
}


def _worker_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["KTL_DATA_DIR"] = str(settings.data_dir)
    env["KTL_WHISPER_MODEL"] = settings.whisper_model
    env["KTL_MODEL_CACHE_DIR"] = str(settings.model_cache_dir)
    env["KTL_JOB_LEASE_SECONDS"] = str(settings.job_lease_seconds)
    return env


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    settings.ensure_dirs()
    database.init(settings.db_path)
    worker = None
    if settings.embedded_worker:
        worker = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "worker"], env=_worker_env(settings)
        )
        log.info("Startet arbeider (pid %s)", worker.pid)
    try:
        yield
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else None
    message = detail if detail and detail != _default_phrase(status) else None
    message = message or HTTP_MESSAGES.get(status, HTTP_MESSAGES[500])
    if status >= 500:
        log.exception("Feil i %s %s", request.method, request.url.path, exc_info=exc)
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    return render(request, "error.html", {"message": message, "status": status}, status=status)


def _default_phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def create_app(settings: Settings) -> Starlette:
    routes = [
        *pages.routes,
        *talks.routes,
        *search.routes,
        *media.routes,
        *tus.routes,
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: http_error},
    )
    app.state.settings = settings
    app.state.templates = build_templates()
    return app
