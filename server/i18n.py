"""The interface language: gettext catalogues read from `locale/`, and the choice per request.

Norwegian bokmål is the source language (the msgids), so `nb` needs no catalogue. Every
other language has `locale/<lang>/LC_MESSAGES/messages.po`, read with Babel and turned
into a `babel.support.Translations` object in memory (no compiled .mo files in the
repository), once per process.

The language of a request is, in order: the signed-in user's `users.locale`, the
`ktl_lang` cookie, the browser's Accept-Language, bokmål.
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path
from urllib.parse import urlsplit

import sqlite_utils
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DEFAULT = "nb"
LANGUAGES = ("nb", "en")
COOKIE = "ktl_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
# Accept-Language tags (primary subtag) and the interface language each one gets.
ACCEPTED = {"nb": "nb", "nn": "nb", "no": "nb", "en": "en"}


def N_(message: str) -> str:
    """Marks a string for extraction without translating it (it is translated at render)."""
    return message


# Labels kept in Python (server.config, server.accounts, server.web) and shown in pages;
# render() translates them. Listed here so that `pybabel extract` finds them.
PYTHON_LABELS = (
    N_("Norsk bokmål"), N_("Norsk nynorsk"), N_("Engelsk"),
    N_("Åpen for alle, også uten innlogging"), N_("Bare for innloggede ansatte"),
    N_("Utkast: bare arrangøren og administratorer"),
    N_("Ansatt"), N_("Arrangør"), N_("Administrator"),
    N_("Kommer"), N_("Behandles"), N_("Klar"), N_("Behandlingen feilet"),
)  # fmt: skip


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalogue of one language, read once per process (bokmål is the source)."""
    if lang not in LANGUAGES or lang == DEFAULT:
        return gettext.NullTranslations()
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain="messages")


def from_accept_language(header: str | None) -> str | None:
    """The best supported language in an Accept-Language header, or None."""
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        lang = ACCEPTED.get(tag.strip().split("-")[0].lower())
        if lang and quality > 0:
            choices.append((-quality, index, lang))
    return min(choices)[2] if choices else None


def choose(user_locale: str | None, cookie: str | None, accept_language: str | None) -> str:
    for candidate in (user_locale, cookie):
        if candidate in LANGUAGES:
            return candidate
    return from_accept_language(accept_language) or DEFAULT


def user_locale(db: sqlite_utils.Database, user_id: int) -> str | None:
    row = db.execute("SELECT locale FROM users WHERE id = ?", [user_id]).fetchone()
    return row[0] if row else None


def set_user_locale(db: sqlite_utils.Database, user_id: int, lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}")
    with db.conn:
        db.execute("UPDATE users SET locale = ? WHERE id = ?", [lang, user_id])


def local_path(target: str | None, fallback: str = "/") -> str:
    """`target` when it is a path on this site, else `fallback` (no open redirects)."""
    if not target or len(target) > 2000 or not target.startswith("/"):
        return fallback
    if target.startswith("//") or "\\" in target or any(ord(c) < 32 for c in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target


def language_of(request) -> str:
    """The interface language of this request (looked up once, then kept on request.state)."""
    cached = getattr(request.state, "ui_lang", None)
    if cached:
        return cached
    viewer = getattr(request.state, "viewer", None)
    stored = None
    if viewer is not None and viewer.user is not None:
        from server.web import open_db  # server.web imports this module

        with open_db(request) as db:
            stored = user_locale(db, viewer.user.id)
    lang = choose(stored, request.cookies.get(COOKIE), request.headers.get("accept-language"))
    request.state.ui_lang = lang
    return lang
