"""The programme, calendar feeds, sign-up and attendance (domain, no HTTP).

Sign-up: one row per person and talk in `signups` (mode room | live | later). A place in
the room is taken with one conditional INSERT inside a `BEGIN IMMEDIATE` transaction, so
two people racing for the last seat cannot both get it. Attendance (`attendance`, how
room | live) is what the completion logic reads through `attended`.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils

from server.catalogue import talks
from server.catalogue.records import Talk
from server.core import clock
from server.core.clock import format_date, now_oslo
from server.core.errors import UserError
from server.core.i18n import N_
from server.learning import progress
from server.people import accounts
from server.people.access import Viewer, can_edit
from server.people.accounts import User
from server.store import write

MODES = ("room", "live", "later")
HOWS = ("room", "live")
TALK_MINUTES = 30
ROOM_FULL = N_(
    "Salen er full. Du kan fortsatt melde deg på direkte på nett eller se opptaket senere."
)
CLOSED = N_("Påmeldingen er stengt: foredraget er allerede holdt.")
BAD_MODE = N_("Velg i salen, direkte på nett eller ser opptaket senere.")
BAD_CODE = N_(
    "Innsjekkingskoden stemmer ikke. Skann QR-koden i salen på nytt, eller spør arrangøren."
)
NO_USER = N_("Fant ingen aktiv bruker med e-postadressen {email}. Sjekk stavemåten.")
CHECKIN_EARLY = N_(
    "Innsjekkingen åpner {margin} minutter før foredraget starter ({opens}). "
    "Skann QR-koden igjen da."
)
CHECKIN_CLOSED = N_(
    "Innsjekkingen er stengt: den var åpen til {closes}. Var du der, kan arrangøren registrere deg."
)
CHECKIN_UNDATED = N_(
    "Innsjekkingen er ikke åpen: foredraget har ikke fått dato og klokkeslett ennå."
)
CHECKIN_PATH = re.compile(r"/talks/([^/?#]+)/innsjekk/([^/?#]+)")


class SignupError(UserError):
    """A sign-up or registration that cannot be made; the message is Norwegian."""

    status = 409


attended = progress.attended  # when the person attended (the completion logic reads it)


# --- time ------------------------------------------------------------------------------


def ends_at(talk: Talk) -> str | None:
    """The talk's end (local Oslo time, minutes), 30 minutes after it starts."""
    if not talk.starts_at:
        return None
    start = datetime.fromisoformat(talk.starts_at)
    return (start + timedelta(minutes=TALK_MINUTES)).strftime("%Y-%m-%dT%H:%M")


def checkin_window(talk: Talk, margin_minutes: int) -> tuple[str, str] | None:
    """When QR check-in counts (Oslo time, minutes): from `margin_minutes` before the
    start to as long after the end; None for a talk without a time."""
    if not talk.starts_at:
        return None
    start = datetime.fromisoformat(talk.starts_at)
    margin = timedelta(minutes=max(0, margin_minutes))
    end = start + timedelta(minutes=TALK_MINUTES)
    return _minute(start - margin), _minute(end + margin)


def _minute(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")


def checkin_refusal(talk: Talk, now: str, margin_minutes: int) -> str | None:
    """Why QR check-in does not count at `now` (Oslo time, minutes), or None when it does."""
    window = checkin_window(talk, margin_minutes)
    if window is None:
        return CHECKIN_UNDATED
    opens, closes = window
    if now < opens:
        return CHECKIN_EARLY.format(margin=max(0, margin_minutes), opens=format_date(opens))
    if now > closes:
        return CHECKIN_CLOSED.format(closes=format_date(closes))
    return None


def is_upcoming(talk: Talk, now: str) -> bool:
    """Sign-up is open for a planned talk until it ends (`now` in Oslo time, minutes)."""
    end = ends_at(talk)
    if end is None:
        return talk.status == "planned"
    return end > now


# --- sign-up ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Counts:
    """People by how they follow a talk (sign-ups: room, live, later; attendance: room,
    live), and all of them."""

    room: int = 0
    live: int = 0
    later: int = 0

    @property
    def total(self) -> int:
        return self.room + self.live + self.later


def _counts(db: sqlite_utils.Database, sql: str, talk_id: int, kinds: tuple[str, ...]) -> Counts:
    found = {kind: number for kind, number in db.execute(sql, [talk_id]) if kind in kinds}
    return Counts(**found)


def counts(db: sqlite_utils.Database, talk_id: int) -> Counts:
    """Sign-ups by mode."""
    sql = "SELECT mode, COUNT(*) FROM signups WHERE talk_id = ? GROUP BY mode"
    return _counts(db, sql, talk_id, MODES)


def mode_of(db: sqlite_utils.Database, user_id: int, talk_id: int) -> str | None:
    row = db.execute(
        "SELECT mode FROM signups WHERE user_id = ? AND talk_id = ?", [user_id, talk_id]
    ).fetchone()
    return row[0] if row else None


def room_full(db: sqlite_utils.Database, talk: Talk, user_id: int | None = None) -> bool:
    """No seat left for this person (their own seat does not count against them)."""
    if talk.capacity is None:
        return False
    taken = db.execute(
        "SELECT COUNT(*) FROM signups WHERE talk_id = ? AND mode = 'room' AND user_id != ?",
        [talk.id, user_id or 0],
    ).fetchone()[0]
    return taken >= talk.capacity


def sign_up(db: sqlite_utils.Database, user: User, talk: Talk, mode: str, now: str) -> str:
    """Choose or change how `user` follows the talk; refuses a seat in a full room."""
    if mode not in MODES:
        raise SignupError(BAD_MODE, 422)
    if not is_upcoming(talk, now):
        raise SignupError(CLOSED)
    with write(db):
        talks.hold(db, talk.id)  # the seat count read below stays true until commit
        cursor = db.execute(
            "INSERT INTO signups (user_id, talk_id, mode, created_at) "
            "SELECT :user, :talk, :mode, :at WHERE :mode != 'room' "
            "OR CAST(:capacity AS bigint) IS NULL OR ("
            "  SELECT COUNT(*) FROM signups WHERE talk_id = :talk AND mode = 'room' "
            "  AND user_id != :user) < :capacity "
            "ON CONFLICT (user_id, talk_id) DO UPDATE SET mode = excluded.mode",
            {"user": user.id, "talk": talk.id, "mode": mode, "at": clock.now_iso(),
             "capacity": talk.capacity},
        )  # fmt: skip
        if cursor.rowcount == 0:
            raise SignupError(ROOM_FULL)
    return mode


def withdraw(db: sqlite_utils.Database, user: User, talk: Talk) -> None:
    with write(db):
        db.execute("DELETE FROM signups WHERE user_id = ? AND talk_id = ?", [user.id, talk.id])


@dataclass(frozen=True, slots=True)
class Signup:
    """What the talk page shows about sign-up (template talks/_signup.html): whether it is
    open, the viewer's choice and attendance, the room, and for its editors the counts."""

    open: bool
    mode: str | None
    attended_at: str | None
    capacity: int | None
    full: bool
    counts: Counts | None
    editor: bool


def page_context(db: sqlite_utils.Database, viewer: Viewer, talk: Talk) -> dict:
    """The talk page's sign-up box (`signup`)."""
    user_id = viewer.user.id if viewer.user else None
    editor = can_edit(viewer, talk)
    signup = Signup(
        open=is_upcoming(talk, now_oslo()),
        mode=mode_of(db, user_id, talk.id) if user_id else None,
        attended_at=attended(db, user_id, talk.id) if user_id else None,
        capacity=talk.capacity,
        full=room_full(db, talk, user_id),
        counts=counts(db, talk.id) if editor else None,
        editor=editor,
    )
    return {"signup": signup}


# --- attendance ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attendee:
    """A person signed up for a talk or registered as present (the attendance page):
    `mode` how they signed up (None: not signed up), `how` and `at` how and when they
    were registered as present (None: not registered)."""

    id: int
    name: str
    email: str
    mode: str | None = None
    how: str | None = None
    at: str | None = None


def people(db: sqlite_utils.Database, talk_id: int) -> list[Attendee]:
    """Everyone signed up or registered as present, with mode and attendance."""
    rows = db.execute(
        "SELECT u.id, u.name, u.email, s.mode, a.how, a.at FROM users u "
        "LEFT JOIN signups s ON s.user_id = u.id AND s.talk_id = :talk "
        "LEFT JOIN attendance a ON a.user_id = u.id AND a.talk_id = :talk "
        "WHERE s.user_id IS NOT NULL OR a.user_id IS NOT NULL "
        "ORDER BY CASE s.mode WHEN 'room' THEN 0 WHEN 'live' THEN 1 WHEN 'later' THEN 2 "
        "ELSE 3 END, lower(COALESCE(NULLIF(u.name, ''), u.email))",
        {"talk": talk_id},
    )
    return [Attendee(r["id"], r["name"], r["email"], r["mode"], r["how"], r["at"]) for r in rows]


def attendance_counts(db: sqlite_utils.Database, talk_id: int) -> Counts:
    """People registered as present, by how (in the room, live)."""
    sql = "SELECT how, COUNT(*) FROM attendance WHERE talk_id = ? GROUP BY how"
    return _counts(db, sql, talk_id, HOWS)


def ensure_code(db: sqlite_utils.Database, talk: Talk, renew: bool = False) -> str:
    """The talk's random check-in code, made on first use (or anew with `renew`)."""
    code = secrets.token_urlsafe(12)
    condition = "" if renew else " AND attendance_code IS NULL"
    with write(db):
        db.execute(f"UPDATE talks SET attendance_code = ? WHERE id = ?{condition}", [code, talk.id])
    return db.execute("SELECT attendance_code FROM talks WHERE id = ?", [talk.id]).fetchone()[0]


def code_matches(talk: Talk, code: str) -> bool:
    expected = talk.attendance_code or ""
    return bool(expected) and secrets.compare_digest(expected.encode(), code.encode())


def _refresh(db: sqlite_utils.Database, user_id: int, talk_id: int) -> None:
    progress.refresh_completion(db, user_id, talk_id)


def register(db: sqlite_utils.Database, user_id: int, talk: Talk, how: str, by: User | None) -> str:
    """Record that the person was there (the first registration's time is kept)."""
    if how not in HOWS:
        raise SignupError(N_("Velg om personen var i salen eller fulgte direkte."), 422)
    with write(db):
        db.execute(
            "INSERT INTO attendance (user_id, talk_id, how, registered_by, at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, talk_id) DO NOTHING",
            [user_id, talk.id, how, by.id if by else None, clock.now_iso()],
        )
        if by is not None and by.id != user_id:
            person = accounts.get(db, user_id)
            detail = f"{person.email if person else user_id} ({how})"
            accounts.audit(db, by, N_("registrerte oppmøte"), talk.title, detail)
    _refresh(db, user_id, talk.id)
    return attended(db, user_id, talk.id) or ""


def register_email(
    db: sqlite_utils.Database, email: str, talk: Talk, how: str, by: User
) -> accounts.User:
    person = accounts.by_email(db, email)
    if person is None or not person.active:
        raise SignupError(NO_USER.format(email=email.strip()), 422)
    register(db, person.id, talk, how, by)
    return person


def unregister(db: sqlite_utils.Database, user_id: int, talk: Talk, by: User) -> None:
    with write(db):
        cursor = db.execute(
            "DELETE FROM attendance WHERE user_id = ? AND talk_id = ?", [user_id, talk.id]
        )
        if cursor.rowcount:
            person = accounts.get(db, user_id)
            detail = person.email if person else str(user_id)
            accounts.audit(db, by, N_("fjernet oppmøte"), talk.title, detail)
    _refresh(db, user_id, talk.id)


def check_in(
    db: sqlite_utils.Database, user: User, talk: Talk, code: str, now: str, margin_minutes: int
) -> str:
    """Self check-in from the QR code in the room; counts only around the talk's time
    (the organiser's registration on the attendance page counts at any time)."""
    if not code_matches(talk, code):
        raise SignupError(BAD_CODE, 404)
    refusal = checkin_refusal(talk, now, margin_minutes)
    if refusal:
        raise SignupError(refusal, 409)
    return register(db, user.id, talk, "room", user)


def checkin_talk(db: sqlite_utils.Database, path: str) -> Talk | None:
    """The talk a check-in link (`/talks/<key>/innsjekk/<code>`) is for, when the code is
    right: the login page then says what signing in is for."""
    match = CHECKIN_PATH.fullmatch(path)
    if match is None:
        return None
    talk = talks.find(db, match.group(1))
    return talk if talk and code_matches(talk, match.group(2)) else None


# --- the programme page ----------------------------------------------------------------


def coming(db: sqlite_utils.Database, allowed: talks.Allowed, today: str) -> list[Talk]:
    """Talks from today on, soonest first (`today` as YYYY-MM-DD in Oslo)."""
    where = "t.starts_at IS NOT NULL AND t.starts_at >= :today"
    return talks.list_talks(db, where, {"today": today}, "t.starts_at ASC", allowed)


def undated(db: sqlite_utils.Database, allowed: talks.Allowed) -> list[Talk]:
    where = "t.starts_at IS NULL AND t.status = 'planned'"
    return talks.list_talks(db, where, order="t.created_at ASC", allowed=allowed, limit=50)


def by_month(items: list[Talk]) -> list[tuple[str, list[Talk]]]:
    """Groups talks (sorted by start) by "YYYY-MM"."""
    groups: list[tuple[str, list[Talk]]] = []
    for talk in items:
        month = talk.starts_at[:7]
        if not groups or groups[-1][0] != month:
            groups.append((month, []))
        groups[-1][1].append(talk)
    return groups
