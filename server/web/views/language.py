"""Choosing the interface language: POST /sprak with `lang` (nb|en) and an optional `neste`."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.core import i18n
from server.core.i18n import N_
from server.people import accounts
from server.web.redirects import safe_target
from server.web.respond import in_thread, settings_of, viewer_of

UNKNOWN = N_("Ukjent språk. Velg norsk (nb) eller engelsk (en).")


async def set_language(request: Request) -> Response:
    form = await request.form()
    lang = str(form.get("lang") or "")
    if lang not in i18n.LANGUAGES:
        raise HTTPException(400, UNKNOWN)
    viewer = viewer_of(request)
    if viewer.user is not None:
        await in_thread(request, accounts.set_user_locale, viewer.user.id, lang)
    target = safe_target(form.get("neste"))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        i18n.COOKIE,
        lang,
        max_age=i18n.COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings_of(request).cookie_secure,
    )
    return response


routes = [Route("/sprak", set_language, methods=["POST"], name="set_language")]
