"""Sign in and out, forgotten password, one-time password links."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.catalogue import programme
from server.core import i18n
from server.core.i18n import N_
from server.people import accounts, mail
from server.store import write
from server.web.middleware import SESSION_COOKIE, cookie_header
from server.web.redirects import safe_target
from server.web.respond import in_thread, open_db, render, settings_of

SENT = N_(
    "Hvis adressen hører til en bruker hos oss, får du snart en e-post med en lenke for å "
    "velge nytt passord. Uten e-postserver gir en administrator deg lenken."
)
MISMATCH = N_("Passordene er ikke like. Skriv det samme passordet i begge feltene.")


async def start_session(request: Request, user: accounts.User, target: str) -> Response:
    """Start a new session (a new id at every login) and send the browser on."""
    settings = settings_of(request)
    token = await in_thread(request, accounts.start_session, user.id, settings.session_hours)
    cookie, accept = request.cookies.get(i18n.COOKIE), request.headers.get("accept-language")
    await in_thread(request, accounts.adopt_browser_language, user.id, cookie, accept)
    response = RedirectResponse(safe_target(target), status_code=303)
    response.headers.append(
        "set-cookie",
        cookie_header(SESSION_COOKIE, token, settings.cookie_secure, settings.session_hours * 3600),
    )
    return response


def _purpose(db, target: str) -> dict:
    """Where to go after signing in, and what for when the page says so (a scanned
    check-in QR code)."""
    return {"next": target, "checkin_talk": programme.checkin_talk(db, target)}


def login_form(request: Request) -> Response:
    with open_db(request) as db:
        context = _purpose(db, safe_target(request.query_params.get("neste")))
    return render(request, "auth/login.html", context)


async def login(request: Request) -> Response:
    form = await request.form()
    email, password = str(form.get("email", ""))[:254], str(form.get("password", ""))[:1000]
    target = safe_target(str(form.get("neste", "")))
    settings = settings_of(request)
    address = request.client.host if request.client else "ukjent"
    limit, window = settings.login_max_attempts, settings.login_window_minutes
    try:
        user = await in_thread(request, accounts.sign_in, email, password, address, limit, window)
    except accounts.LoginRefused as exc:
        context = {**await in_thread(request, _purpose, target), "email": email}
        context["error"] = exc.message
        return render(request, "auth/login.html", context, status=exc.status)
    return await start_session(request, user, target)


async def logout(request: Request) -> Response:
    form = await request.form()
    token = request.state.session_token
    viewer = request.state.viewer
    if token and viewer.user is not None:
        if form.get("alle"):
            await in_thread(request, lambda db: _end_all(db, viewer.user.id))
        else:
            await in_thread(request, accounts.end_session, token)
    response = RedirectResponse("/", status_code=303)
    response.headers.append(
        "set-cookie", cookie_header(SESSION_COOKIE, "", settings_of(request).cookie_secure, 0)
    )
    return response


def _end_all(db, user_id: int) -> None:
    with write(db):
        accounts.end_all_sessions(db, user_id)


def forgot_form(request: Request) -> Response:
    return render(request, "auth/forgot.html", {})


def public_base(request: Request) -> str:
    return settings_of(request).public_url.rstrip("/") or str(request.base_url).rstrip("/")


async def forgot(request: Request) -> Response:
    form = await request.form()
    email = str(form.get("email", ""))[:254]
    settings = settings_of(request)
    user = await in_thread(request, accounts.by_email, email)
    if user is not None and user.active:
        token = await in_thread(
            request, accounts.make_password_link, user.id, "reset", settings.password_link_hours
        )
        link = f"{public_base(request)}/passord/{token}"
        asked_in = i18n.language_of(request)  # the account's own choice wins (below)

        def deliver(db) -> bool:
            lang = accounts.user_locale(db, user.id) or asked_in
            return mail.deliver_password_link(settings, user.email, link, "reset", lang)

        await in_thread(request, deliver)
    return render(request, "auth/forgot.html", {"sent": SENT})


async def password_form(request: Request) -> Response:
    user = await in_thread(request, accounts.link_user, request.path_params["token"])
    if user is None:
        return render(request, "auth/password.html", {"expired": True}, status=410)
    return render(request, "auth/password.html", {"user": user})


async def set_password(request: Request) -> Response:
    form = await request.form()
    token = request.path_params["token"]
    password, repeat = str(form.get("password", ""))[:1000], str(form.get("repeat", ""))[:1000]
    user = await in_thread(request, accounts.link_user, token)
    if user is None:
        return render(request, "auth/password.html", {"expired": True}, status=410)
    if password != repeat:
        return render(request, "auth/password.html", {"user": user, "error": MISMATCH}, 422)
    try:
        user = await in_thread(request, accounts.use_password_link, token, password)
    except accounts.AccountError as exc:
        return render(request, "auth/password.html", {"user": user, "error": str(exc)}, 422)
    return await start_session(request, user, "/")


routes = [
    Route("/logg-inn", login_form, name="login"),
    Route("/logg-inn", login, methods=["POST"], name="login_submit"),
    Route("/logg-ut", logout, methods=["POST"], name="logout"),
    Route("/glemt-passord", forgot_form, name="forgot"),
    Route("/glemt-passord", forgot, methods=["POST"], name="forgot_submit"),
    Route("/passord/{token}", password_form, name="password_link"),
    Route("/passord/{token}", set_password, methods=["POST"], name="password_link_submit"),
]
