"""Programme, calendar feeds, sign-up and attendance. Who may reach each route is decided
in server.people.access.RULES; the guard has put the talk on request.state.talk for talk routes.

GET never changes state, except that the organiser's attendance page makes the talk's
check-in code the first time it is opened.
"""

from __future__ import annotations

import io
from urllib.parse import quote

import segno
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.catalogue import ics, programme, search
from server.catalogue.records import Talk
from server.core import i18n, parse
from server.core.clock import MONTHS, MONTHS_EN, now_oslo, today_oslo
from server.core.i18n import N_
from server.people.access import Filter, Visibility
from server.web.listcache import rule_key, shared
from server.web.respond import (
    fragment,
    int_params,
    open_db,
    render,
    settings_of,
    viewer_of,
)

PUBLIC_ONLY = ("t.visibility = 'public'", {})  # what the feeds list (see server.catalogue.ics)


QR_TITLE = "QR-kode for innsjekking"
BAD_PERSON = N_("Personene må velges i listen. Last siden på nytt og prøv igjen.")


def _base(request: Request) -> str:
    return settings_of(request).public_url.rstrip("/") or str(request.base_url).rstrip("/")


def feed_url(department: str | None = None) -> str:
    return "/program.ics" if department is None else f"/program/{quote(department, safe='')}.ics"


def _feeds(request: Request, departments: list[str]) -> list[dict]:
    """Each calendar feed: its https address to copy and its webcal:// address, which
    calendar programs open as a subscription (not a one-off import)."""
    base = _base(request)
    host = base.split("://", 1)[-1]
    return [
        {"name": name, "url": base + feed_url(name), "webcal": f"webcal://{host}{feed_url(name)}"}
        for name in [None, *departments]
    ]


def _lists(request: Request, db, allowed: Filter, today: str, lang: str) -> dict:
    """What the programme lists for one access rule, and its months rendered once for every
    viewer with that rule and language (server.web.listcache)."""
    months = [
        (_month_label(month, lang), items)
        for month, items in programme.by_month(programme.coming(db, allowed, today))
    ]
    return {
        "months": fragment(request, "programme/_months.html", {"months": months}),
        "undated": programme.undated(db, allowed),
        "years": search.years(db, allowed),
        "departments": search.departments(db, allowed),
        "public_departments": search.departments(db, PUBLIC_ONLY),
    }


def page(request: Request) -> Response:
    allowed = Visibility(viewer_of(request)).visible_sql()
    today, lang = today_oslo(), i18n.language_of(request)
    key = ("programme", rule_key(allowed), today, lang)
    with open_db(request) as db:
        lists = shared(request, key, lambda: _lists(request, db, allowed, today, lang))
    context = {
        "months": lists["months"],
        "undated": lists["undated"],
        "years": lists["years"],
        "departments": lists["departments"],
        "feeds": _feeds(request, lists["public_departments"]),
        "base": _base(request),
    }
    return render(request, "programme/index.html", context)


def _month_label(month: str, lang: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    names = MONTHS_EN if lang == "en" else MONTHS
    return f"{names[number - 1].capitalize()} {year}"


def _calendar(request: Request, department: str | None) -> Response:
    with open_db(request) as db:
        body = ics.feed(db, _base(request), department)
    name = "kunnskap-til-lunsj.ics"
    return Response(
        body,
        media_type=ics.CONTENT_TYPE,
        headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-cache"},
    )


def calendar(request: Request) -> Response:
    return _calendar(request, None)


def department_calendar(request: Request) -> Response:
    return _calendar(request, request.path_params["department"])


def _back(talk: Talk) -> str:
    return f"/talks/{talk.slug}#pamelding"


def _refused(request: Request, talk: Talk, exc: programme.SignupError) -> Response:
    context = {"talk": talk, "message": str(exc), "back": _back(talk)}
    return render(request, "programme/refused.html", context, status=exc.status)


async def signup(request: Request) -> Response:
    form = await request.form()
    talk, user = request.state.talk, viewer_of(request).user
    action = str(form.get("action", ""))
    mode = str(form.get("mode", ""))

    def work() -> None:
        with open_db(request) as db:
            if action == "withdraw":
                programme.withdraw(db, user, talk)
            else:
                programme.sign_up(db, user, talk, mode, now_oslo())

    try:
        await run_in_threadpool(work)
    except programme.SignupError as exc:
        return _refused(request, talk, exc)
    return RedirectResponse(_back(talk), status_code=303)


def _attendance_context(db, request: Request, talk: Talk) -> dict:
    code = programme.ensure_code(db, talk)
    return {
        "talk": talk,
        "counts": programme.counts(db, talk.id),
        "present": programme.attendance_counts(db, talk.id),
        "people": programme.people(db, talk.id),
        "capacity": talk.capacity,
        "checkin_url": f"{_base(request)}/talks/{talk.slug}/innsjekk/{code}",
        "checkin_window": programme.checkin_window(talk, _margin(request)),
        "registered": request.query_params.get("registrert"),
        "error": None,
        "email": "",
    }


def attendance(request: Request) -> Response:
    with open_db(request) as db:
        context = _attendance_context(db, request, request.state.talk)
    return render(request, "programme/attendance.html", context)


def _ids(values: list) -> list[int]:
    return int_params(values, 1, parse.MAX_ID, BAD_PERSON)


async def attendance_register(request: Request) -> Response:
    form = await request.form()
    talk, actor = request.state.talk, viewer_of(request).user
    action = str(form.get("action", "register"))
    email = str(form.get("email", "")).strip()
    how = str(form.get("how", "room"))
    ids = _ids(form.getlist("user_id"))
    if form.get("remove"):
        action, ids = "remove", _ids([form.get("remove")])

    def work() -> Response:
        with open_db(request) as db:
            try:
                done = _apply(db, talk, actor, action, ids, email, how)
            except programme.SignupError as exc:
                context = _attendance_context(db, request, talk)
                context.update(error=str(exc), email=email)
                return render(request, "programme/attendance.html", context, exc.status)
        url = f"/talks/{talk.slug}/oppmote"
        return RedirectResponse(f"{url}?registrert={done}" if done else url, status_code=303)

    return await run_in_threadpool(work)


def _apply(db, talk: Talk, actor, action: str, ids: list[int], email: str, how: str) -> int:
    """Carries out one form action; returns how many people were registered."""
    if action == "new_code":
        programme.ensure_code(db, talk, renew=True)
        return 0
    if action == "remove":
        for user_id in ids:
            programme.unregister(db, user_id, talk, actor)
        return 0
    done = 0
    if email:
        programme.register_email(db, email, talk, how, actor)
        done += 1
    known = {p.id for p in programme.people(db, talk.id)}
    for user_id in ids:
        if user_id in known:  # only people signed up (or already registered) by box
            programme.register(db, user_id, talk, how, actor)
            done += 1
    return done


def attendance_qr(request: Request) -> Response:
    talk = request.state.talk
    with open_db(request) as db:
        code = programme.ensure_code(db, talk)
    url = f"{_base(request)}/talks/{talk.slug}/innsjekk/{code}"
    buffer = io.BytesIO()
    qr = segno.make(url, error="m")
    qr.save(buffer, kind="svg", scale=8, border=4, light="#fff", xmldecl=False, title=QR_TITLE)
    return Response(
        buffer.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"}
    )


def _check_code(request: Request) -> dict:
    talk = request.state.talk
    if not programme.code_matches(talk, request.path_params["code"]):
        raise HTTPException(404, programme.BAD_CODE)
    return talk


def _margin(request: Request) -> int:
    return settings_of(request).checkin_margin_minutes


def _checkin_page(request: Request, talk: Talk, refusal: str | None, status: int = 200):
    user = viewer_of(request).user
    with open_db(request) as db:
        at = programme.attended(db, user.id, talk.id)
    context = {"talk": talk, "attended_at": at, "refusal": refusal}
    return render(request, "programme/checkin.html", context, status=status)


def checkin(request: Request) -> Response:
    talk = _check_code(request)
    refusal = programme.checkin_refusal(talk, now_oslo(), _margin(request))
    return _checkin_page(request, talk, refusal)


def checkin_submit(request: Request) -> Response:
    talk = _check_code(request)
    user, code = viewer_of(request).user, request.path_params["code"]
    try:
        with open_db(request) as db:
            programme.check_in(db, user, talk, code, now_oslo(), _margin(request))
    except programme.SignupError as exc:
        return _checkin_page(request, talk, str(exc), exc.status)
    return RedirectResponse(request.url.path, status_code=303)


routes = [
    Route("/program", page, name="programme"),
    Route("/program.ics", calendar, name="programme_ics"),
    Route("/program/{department}.ics", department_calendar, name="programme_department_ics"),
    Route("/talks/{key}/pamelding", signup, methods=["POST"], name="signup"),
    Route("/talks/{key}/oppmote", attendance, name="attendance"),
    Route(
        "/talks/{key}/oppmote", attendance_register, methods=["POST"], name="attendance_register"
    ),
    Route("/talks/{key}/oppmote/qr.svg", attendance_qr, name="attendance_qr"),
    Route("/talks/{key}/innsjekk/{code}", checkin, name="checkin"),
    Route("/talks/{key}/innsjekk/{code}", checkin_submit, methods=["POST"], name="checkin_submit"),
]
