"""Administration: users (invite, edit, deactivate, password links) and the audit log."""

from __future__ import annotations

from dataclasses import replace

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.catalogue import talks
from server.core import i18n
from server.core.config import LANGUAGES, VISIBILITIES
from server.core.i18n import N_
from server.people import accounts, mail
from server.store import write
from server.web.respond import in_thread, render, settings_of, viewer_of
from server.web.views.auth import public_base


def _form_user(form) -> dict:
    return {
        "email": str(form.get("email", ""))[:254],
        "name": str(form.get("name", ""))[:200],
        "role": str(form.get("role", "viewer")),
        "department": str(form.get("department", ""))[:200],
    }


async def users(request: Request) -> Response:
    return await _users_page(request, {})


async def _users_page(request: Request, extra: dict, status: int = 200) -> Response:
    everyone = await in_thread(request, accounts.all_users)
    context = {"users": everyone, "roles": accounts.ROLE_LABELS, "form": {}, **extra}
    return render(request, "admin/users.html", context, status=status)


async def _password_link(request: Request, user: accounts.User, purpose: str) -> dict:
    settings = settings_of(request)
    token = await in_thread(
        request, accounts.make_password_link, user.id, purpose, settings.password_link_hours
    )
    link = f"{public_base(request)}/passord/{token}"

    def deliver(db) -> bool:  # in the account's language, bokmål until its owner chooses
        lang = accounts.user_locale(db, user.id) or i18n.DEFAULT
        return mail.deliver_password_link(settings, user.email, link, purpose, lang)

    mailed = await in_thread(request, deliver)
    return {"link": link, "link_user": user, "mailed": mailed}


async def create_user(request: Request) -> Response:
    form = _form_user(await request.form())
    actor = viewer_of(request).user

    def create(db) -> accounts.User:
        user = accounts.create_user(db, form["email"], form["name"], form["role"],
                                    form["department"])  # fmt: skip
        with write(db):
            accounts.audit(db, actor, N_("inviterte bruker"), user.email, f"rolle {user.role}")
        return user

    try:
        user = await in_thread(request, create)
    except accounts.AccountError as exc:
        return await _users_page(request, {"error": str(exc), "form": form}, status=422)
    return await _users_page(request, await _password_link(request, user, "invite"), status=201)


def _user_or_404(db, user_id: int) -> accounts.User:
    user = accounts.get(db, user_id)
    if user is None:
        raise HTTPException(404, N_("Brukeren finnes ikke."))
    return user


async def user_page(request: Request) -> Response:
    user = await in_thread(request, _user_or_404, request.path_params["user_id"])
    return render(request, "admin/user.html", {"user": user, "roles": accounts.ROLE_LABELS})


async def update_user(request: Request) -> Response:
    form = await request.form()
    data = _form_user(form)
    active = form.get("active") == "1"
    actor = viewer_of(request).user

    def update(db) -> accounts.User:
        user = _user_or_404(db, request.path_params["user_id"])
        return accounts.edit_user(db, actor, user, data["name"], data["role"],
                                  data["department"], active)  # fmt: skip

    try:
        user = await in_thread(request, update)
    except accounts.AccountError as exc:
        user = await in_thread(request, _user_or_404, request.path_params["user_id"])
        context = {"user": user, "roles": accounts.ROLE_LABELS, "error": str(exc)}
        return render(request, "admin/user.html", context, status=422)
    context = {"user": user, "roles": accounts.ROLE_LABELS, "saved": True}
    return render(request, "admin/user.html", context)


async def reset_password(request: Request) -> Response:
    actor = viewer_of(request).user
    user = await in_thread(request, _user_or_404, request.path_params["user_id"])

    def log(db) -> None:
        with write(db):
            accounts.audit(db, actor, N_("lagde lenke for nytt passord"), user.email)

    await in_thread(request, log)
    context = {"user": user, "roles": accounts.ROLE_LABELS,
               **await _password_link(request, user, "reset")}  # fmt: skip
    return render(request, "admin/user.html", context)


# The audit log keeps what happened as written then (actions and details are msgids, values
# are codes); the page shows names, labels and the reader's language.
SYSTEM = N_("Systemet")
YES_NO = {"True": N_("ja"), "False": N_("nei")}
FIELD_CODES = {
    "rolle": accounts.ROLE_LABELS, "aktiv": YES_NO, "synlighet": VISIBILITIES,
    "språk": LANGUAGES,
}  # fmt: skip
FIELD_WORDS = {"rolle": N_("rolle"), "aktiv": N_("aktiv"),
               **{label: label for label in talks.AUDITED_FIELDS.values()}}  # fmt: skip


def _detail_part(part: str, lang: str) -> str:
    """'rolle viewer→admin' → 'role Staff member→Administrator'; 'internal' → its label."""
    field, _, values = part.partition(" ")
    if field in FIELD_WORDS and values and part not in (talks.DESCRIPTION_CHANGED,):
        codes = FIELD_CODES.get(field, {})
        shown = "→".join(i18n.translate(codes.get(v, v), lang) for v in values.split("→"))
        return f"{i18n.translate(FIELD_WORDS[field], lang)} {shown}"
    if part in VISIBILITIES:
        return i18n.translate(VISIBILITIES[part], lang)
    return i18n.translate(part, lang)


def audit_view(entry: accounts.AuditEntry, lang: str) -> accounts.AuditEntry:
    """The entry as the log page shows it: who by name, action and detail in `lang`."""
    detail = "; ".join(_detail_part(p, lang) for p in entry.detail.split("; ") if p)
    actor = entry.actor_name or (SYSTEM if entry.actor == "system" else entry.actor)
    return replace(entry, actor=i18n.translate(actor, lang), detail=detail,
                   action=i18n.translate(entry.action, lang))  # fmt: skip


async def audit_log(request: Request) -> Response:
    lang = i18n.language_of(request)
    entries = [audit_view(e, lang) for e in await in_thread(request, accounts.audit_entries)]
    return render(request, "admin/audit.html", {"entries": entries})


routes = [
    Route("/admin/brukere", users, name="admin_users"),
    Route("/admin/brukere", create_user, methods=["POST"], name="admin_user_create"),
    Route("/admin/brukere/{user_id:int}", user_page, name="admin_user"),
    Route("/admin/brukere/{user_id:int}", update_user, methods=["POST"], name="admin_user_update"),
    Route(
        "/admin/brukere/{user_id:int}/nytt-passord",
        reset_password,
        methods=["POST"],
        name="admin_user_reset",
    ),
    Route("/admin/logg", audit_log, name="admin_audit"),
]
