"""Users, passwords (Argon2id), sessions, one-time password links and login rate limits.

No HTTP here. Session and link tokens are random; only their SHA-256 is stored, so a copy
of the database does not let anyone sign in.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass, fields

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.core import i18n
from server.core.clock import now_iso
from server.core.errors import UserError
from server.core.i18n import N_
from server.store import IntegrityError, inserted_id, write
from server.store.locks import serialize

ROLES = ("viewer", "organiser", "admin")
ROLE_LABELS = {"viewer": N_("Ansatt"), "organiser": N_("Arrangør"), "admin": N_("Administrator")}
RANK = {"guest": 0, "viewer": 1, "organiser": 2, "admin": 3}
MIN_PASSWORD = 10
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_hasher = PasswordHasher()  # Argon2id with the library's recommended parameters
_DUMMY_HASH = _hasher.hash("ingen-bruker-har-dette-passordet")


class AccountError(UserError):
    """Input about an account that cannot be used; the message is Norwegian."""


@dataclass(frozen=True)
class User:
    id: int
    email: str
    name: str
    role: str
    department: str
    active: bool
    invited: bool = False  # has neither set a password nor signed in yet
    locale: str | None = None  # the interface language they chose; None: never chose

    def at_least(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


def _user(row: object) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        role=row["role"],
        department=row["department"],
        active=bool(row["active"]),
        invited=row["password_hash"] is None and row["last_login_at"] is None,
        locale=row["locale"] if row["locale_chosen"] else None,
    )


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(N_("Passordet må ha minst %(count)s tegn.") % {"count": MIN_PASSWORD})


def hash_password(password: str) -> str:
    check_password_strength(password)
    return _hasher.hash(password)


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise AccountError(
            N_("Skriv en gyldig e-postadresse, for eksempel ola.nordmann@kommune.no.")
        )
    return email


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(N_("Rollen må være viewer (ansatt), organiser (arrangør) eller admin."))
    return role


EMAIL_TAKEN = N_("Det finnes allerede en bruker med e-postadressen %(email)s.")


def create_user(
    db: sqlite_utils.Database,
    email: str,
    name: str,
    role: str = "viewer",
    department: str = "",
    password: str | None = None,
    oidc_subject: str | None = None,
) -> User:
    email = normalise_email(email)
    _check_role(role)
    taken = AccountError(EMAIL_TAKEN % {"email": email})
    if db.execute("SELECT 1 FROM users WHERE email = ?", [email]).fetchone():
        raise taken
    password_hash = hash_password(password) if password else None
    try:
        with write(db):
            cursor = db.execute(
                "INSERT INTO users (email, name, role, department, password_hash, oidc_subject, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [email, name.strip()[:200], role, department.strip()[:200], password_hash,
                 oidc_subject, now_iso()],
            )  # fmt: skip
            user_id = inserted_id(cursor)
    except IntegrityError:  # the same address, made by another request since the check
        raise taken from None
    return get(db, user_id)


def get(db: sqlite_utils.Database, user_id: int) -> User | None:
    row = db.execute("SELECT * FROM users WHERE id = ?", [user_id]).fetchone()
    return _user(row) if row else None


def by_email(db: sqlite_utils.Database, email: str) -> User | None:
    row = db.execute("SELECT * FROM users WHERE email = ?", [email.strip().lower()]).fetchone()
    return _user(row) if row else None


def all_users(db: sqlite_utils.Database) -> list[User]:
    return [_user(r) for r in db.execute("SELECT * FROM users ORDER BY active DESC, name, email")]


def update_user(
    db: sqlite_utils.Database, user_id: int, name: str, role: str, department: str, active: bool
) -> User:
    _check_role(role)
    with write(db):
        db.execute(
            "UPDATE users SET name = ?, role = ?, department = ?, active = ? WHERE id = ?",
            [name.strip()[:200], role, department.strip()[:200], int(active), user_id],
        )
        if not active:
            end_all_sessions(db, user_id)
    return get(db, user_id)


LAST_ADMIN = N_(
    "Du kan ikke fjerne den siste aktive administratoren. Gjør en annen til admin først."
)


def removes_last_admin(db: sqlite_utils.Database, user: User, role: str, active: bool) -> bool:
    """Whether giving `user` this role and state leaves no active administrator."""
    if user.role != "admin" or (role == "admin" and active):
        return False
    sql = "SELECT COUNT(*) FROM users WHERE role = 'admin' AND active = 1 AND id != ?"
    return db.execute(sql, [user.id]).fetchone()[0] == 0


def edit_user(
    db: sqlite_utils.Database, actor: User | None, user: User, name: str, role: str,
    department: str, active: bool,
) -> User:  # fmt: skip
    """An administrator's change to an account, audited; AccountError(LAST_ADMIN) when it
    would leave no active administrator (checked in the same write unit as the change, so
    two administrators demoting each other at once cannot both succeed)."""
    with write(db):
        serialize(db, "administrators")  # the count read below stays true until the change
        if removes_last_admin(db, user, role, active):
            raise AccountError(LAST_ADMIN)
        updated = update_user(db, user.id, name, role, department, active)
        change = f"rolle {user.role}→{updated.role}; aktiv {user.active}→{updated.active}"
        audit(db, actor, N_("endret bruker"), user.email, change)
    return updated


def set_password(db: sqlite_utils.Database, user_id: int, password: str) -> None:
    with write(db):
        db.execute(
            "UPDATE users SET password_hash = ? WHERE id = ?", [hash_password(password), user_id]
        )
        end_all_sessions(db, user_id)


def authenticate(db: sqlite_utils.Database, email: str, password: str) -> User | None:
    """The active user with this email and password, or None. Takes the same time either way."""
    row = db.execute("SELECT * FROM users WHERE email = ?", [email.strip().lower()]).fetchone()
    stored = row["password_hash"] if row and row["password_hash"] else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or not row["active"] or stored is _DUMMY_HASH:
        return None
    if _hasher.check_needs_rehash(stored):
        with write(db):
            db.execute(
                "UPDATE users SET password_hash = ? WHERE id = ?",
                [_hasher.hash(password), row["id"]],
            )
    return _user(row)


# --- sessions -------------------------------------------------------------------------


def user_locale(db: sqlite_utils.Database, user_id: int) -> str | None:
    """The language the person chose for their account, None when they never chose."""
    sql = "SELECT locale FROM users WHERE id = ? AND locale_chosen = 1"
    row = db.execute(sql, [user_id]).fetchone()
    return row[0] if row else None


def set_user_locale(db: sqlite_utils.Database, user_id: int, lang: str) -> None:
    if lang not in i18n.LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}")
    with write(db):
        sql = "UPDATE users SET locale = ?, locale_chosen = 1 WHERE id = ?"
        db.execute(sql, [lang, user_id])


def adopt_browser_language(
    db: sqlite_utils.Database, user_id: int, cookie: str | None, accept_language: str | None
) -> None:
    """At sign-in: an account without a chosen language keeps the one this browser asked
    for (the switch's cookie, else Accept-Language), so the pages after signing in stay in
    the language of the pages before it. Nothing is stored when the browser says nothing."""
    lang = cookie if cookie in i18n.LANGUAGES else i18n.from_accept_language(accept_language)
    if lang is None:
        return
    with write(db):
        sql = "UPDATE users SET locale = ?, locale_chosen = 1 WHERE id = ? AND locale_chosen = 0"
        db.execute(sql, [lang, user_id])


def start_session(db: sqlite_utils.Database, user_id: int, hours: int) -> str:
    """A new session token (a new id at every login, so a planted id is worthless)."""
    token = secrets.token_urlsafe(32)
    now = time.time()
    with write(db):
        db.execute(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?,?,?,?)",
            [digest(token), user_id, now, now + hours * 3600],
        )
        db.execute("UPDATE users SET last_login_at = ? WHERE id = ?", [now_iso(), user_id])
        db.execute("DELETE FROM sessions WHERE expires_at < ?", [now])
    return token


def session_user(db: sqlite_utils.Database, token: str | None) -> User | None:
    if not token or len(token) > 100:
        return None
    row = db.execute(
        "SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id "
        "WHERE s.token_hash = ? AND s.expires_at > ? AND u.active = 1",
        [digest(token), time.time()],
    ).fetchone()
    return _user(row) if row else None


def end_session(db: sqlite_utils.Database, token: str) -> None:
    with write(db):
        db.execute("DELETE FROM sessions WHERE token_hash = ?", [digest(token)])


def end_all_sessions(db: sqlite_utils.Database, user_id: int) -> None:
    with write(db):
        db.execute("DELETE FROM sessions WHERE user_id = ?", [user_id])


# --- one-time links (invitation, password reset) --------------------------------------


def make_password_link(db: sqlite_utils.Database, user_id: int, purpose: str, hours: int) -> str:
    token = secrets.token_urlsafe(32)
    with write(db):
        db.execute(
            "INSERT INTO password_tokens (token_hash, user_id, purpose, expires_at) "
            "VALUES (?, ?, ?, ?)",
            [digest(token), user_id, purpose, time.time() + hours * 3600],
        )
    return token


def link_user(db: sqlite_utils.Database, token: str) -> User | None:
    """The user a still-valid, unused link belongs to."""
    row = db.execute(
        "SELECT u.* FROM password_tokens p JOIN users u ON u.id = p.user_id "
        "WHERE p.token_hash = ? AND p.used_at IS NULL AND p.expires_at > ? AND u.active = 1",
        [digest(token), time.time()],
    ).fetchone()
    return _user(row) if row else None


def use_password_link(db: sqlite_utils.Database, token: str, password: str) -> User:
    user = link_user(db, token)
    if user is None:
        raise AccountError(
            N_(
                "Lenken er brukt eller utløpt. Be om en ny lenke fra «Glemt passord» eller en "
                "administrator."
            )
        )
    check_password_strength(password)
    with write(db):
        cursor = db.execute(
            "UPDATE password_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL",
            [time.time(), digest(token)],
        )
        if cursor.rowcount != 1:
            raise AccountError(N_("Lenken er allerede brukt. Be om en ny lenke."))
        db.execute(
            "UPDATE users SET password_hash = ? WHERE id = ?", [_hasher.hash(password), user.id]
        )
        end_all_sessions(db, user.id)
    return user


# --- login rate limit -----------------------------------------------------------------


WRONG_LOGIN = N_(
    "Feil e-postadresse eller passord. Sjekk at du skrev riktig, eller bruk «Glemt passord»."
)
TOO_MANY_LOGINS = N_(
    "For mange mislykkede forsøk på å logge inn. Vent {minutes} minutter og prøv igjen, "
    "eller bruk «Glemt passord»."
)


class LoginRefused(AccountError):
    """A password sign-in refused: 401 for a wrong email or password, 429 while too many
    have failed."""


def sign_in(
    db: sqlite_utils.Database, email: str, password: str, address: str, limit: int,
    window_minutes: int,
) -> User:  # fmt: skip
    """A password sign-in, throttled: `limit` failures within `window_minutes` for this
    email or from this address refuse the next (429) without trying the password; a
    failure is counted for both; a success forgets the email's failures (not the
    address's: a shared address keeps its count). The attempt is counted before the
    password is tried, so tries sent all at once meet the limit as tries in a row do."""
    keys = [f"email:{email.strip().lower()}", f"ip:{address}"]
    attempt = reserve_attempt(db, keys, limit, window_minutes)
    if attempt is None:
        raise LoginRefused(TOO_MANY_LOGINS.format(minutes=window_minutes), 429)
    user = authenticate(db, email, password)
    if user is None:
        raise LoginRefused(WRONG_LOGIN, 401)  # the attempt's rows stay: it failed
    clear_failed_logins(db, keys[:1], attempt)
    return user


def too_many_attempts(
    db: sqlite_utils.Database, keys: list[str], limit: int, window_minutes: int
) -> bool:
    since = time.time() - window_minutes * 60
    for key in keys:
        count = db.execute(
            "SELECT COUNT(*) FROM login_attempts WHERE key = ? AND at > ?", [key, since]
        ).fetchone()[0]
        if count >= limit:
            return True
    return False


def reserve_attempt(
    db: sqlite_utils.Database, keys: list[str], limit: int, window_minutes: int
) -> list[int] | None:
    """Count an attempt for every key, unless one is at the limit (then None); returns the
    rows' ids, which a success takes back. Counted and added in one write unit that waits
    for any other on the same keys (on PostgreSQL too), so none is counted twice."""
    now = time.time()
    with write(db):
        for key in sorted(keys):  # always in the same order: two units never wait in a ring
            serialize(db, f"login:{key}")
        if too_many_attempts(db, keys, limit, window_minutes):
            return None
        sql = "INSERT INTO login_attempts (key, at) VALUES (?, ?) RETURNING id"
        ids = [inserted_id(db.execute(sql, [key, now])) for key in keys]
        db.execute("DELETE FROM login_attempts WHERE at < ?", [now - 86400])
    return ids


def clear_failed_logins(
    db: sqlite_utils.Database, keys: list[str], attempt: list[int] | None = None
) -> None:
    """Forget the keys' failures and the rows of a successful attempt."""
    with write(db):
        for key in keys:
            db.execute("DELETE FROM login_attempts WHERE key = ?", [key])
        for row_id in attempt or []:
            db.execute("DELETE FROM login_attempts WHERE id = ?", [row_id])


# --- audit log ------------------------------------------------------------------------


def audit(
    db: sqlite_utils.Database, actor: User | None, action: str, target: str = "", detail: str = ""
) -> None:
    """Record an organiser/admin action; call inside the transaction that makes the change."""
    with write(db):
        db.execute(
            "INSERT INTO audit_log (at, user_id, actor, action, target, detail)"
            " VALUES (?,?,?,?,?,?)",
            [now_iso(), actor.id if actor else None, actor.email if actor else "system", action,
             target[:300], detail[:1000]],
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of `audit_log`, with `actor_name`: the person's name now (None for the
    system, a person without a name, or an account deleted since)."""

    id: int
    at: str
    user_id: int | None
    actor: str  # the email at the time, or "system"
    action: str  # a message (msgid), translated where it is shown
    target: str = ""
    detail: str = ""
    actor_name: str | None = None

    @classmethod
    def from_row(cls, row) -> AuditEntry:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


def audit_entries(db: sqlite_utils.Database, limit: int = 500) -> list[AuditEntry]:
    """Newest first."""
    rows = db.execute(
        "SELECT a.*, NULLIF(u.name, '') AS actor_name FROM audit_log a "
        "LEFT JOIN users u ON u.id = a.user_id ORDER BY a.id DESC LIMIT ?",
        [limit],
    )
    return [AuditEntry.from_row(r) for r in rows]
