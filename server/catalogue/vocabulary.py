"""Vocabulary: names and terms Whisper should spell right (no HTTP here).

Two scopes share the table ``vocabulary``: site-wide terms (``talk_id`` NULL) that help
every talk, and a talk's own terms (the speaker's name, a local place, a product).
A term is trimmed, its inner whitespace collapsed, at most ``MAX_TERM`` characters, and
unique within its scope regardless of case ("NAV" and "Nav" are one term). A talk term
that is already site-wide is not added again.

``terms_for_talk`` gives the talk's own terms first, then the site-wide ones: the
transcription engine caps how many it passes to Whisper, and the cap drops from the end.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import sqlite_utils

from server.core.clock import now_iso
from server.core.errors import UserError
from server.core.i18n import N_
from server.people import accounts
from server.people.accounts import User
from server.store import write

MAX_TERM = 80
MAX_TERMS = 300  # per scope: far more than Whisper's prompt can hold, but bounded
SITE_LABEL = N_("felles ordliste")


class VocabularyError(UserError):
    """A term that cannot be added or removed; the message is a Norwegian sentence."""

    status = 422


class NotInVocabulary(VocabularyError):
    status = 404


@dataclass(frozen=True)
class Term:
    id: int
    talk_id: int | None
    term: str
    created_at: str


@dataclass(frozen=True)
class Change:
    term: str  # the term as stored
    action: str  # "added", "removed", or "exists" (it was there already, here or site-wide)
    message: str


@dataclass(frozen=True, slots=True)
class TalkChoice:
    """A talk as the vocabulary page names it: in its talk picker and over its terms."""

    id: int
    title: str
    slug: str


@dataclass(frozen=True)
class TalkTerms:
    talk: TalkChoice
    terms: list[Term]


def _term(row: object) -> Term:
    return Term(
        id=row["id"], talk_id=row["talk_id"], term=row["term"], created_at=row["created_at"]
    )


def clean_term(raw: object) -> str:
    """The term as stored: NFC, whitespace collapsed and trimmed; refuses empty or too long."""
    text = unicodedata.normalize("NFC", str(raw or ""))
    text = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    text = " ".join(text.split())
    if not text:
        raise VocabularyError(N_("Skriv et ord eller et navn som skal inn i ordlisten."))
    if len(text) > MAX_TERM:
        too_long = N_("Et ord i ordlisten kan ha høyst %(count)s tegn.")
        raise VocabularyError(too_long % {"count": MAX_TERM})
    return text


def _key(term: str) -> str:
    return term.casefold()


def _scope_sql(talk_id: int | None) -> tuple[str, list]:
    return ("talk_id IS NULL", []) if talk_id is None else ("talk_id = ?", [talk_id])


def _rows(db: sqlite_utils.Database, talk_id: int | None) -> list[Term]:
    where, params = _scope_sql(talk_id)
    rows = db.execute(f"SELECT * FROM vocabulary WHERE {where} ORDER BY lower(term), id", params)
    return [_term(r) for r in rows]


def site_terms(db: sqlite_utils.Database) -> list[Term]:
    return _rows(db, None)


def talk_terms(db: sqlite_utils.Database, talk_id: int) -> list[Term]:
    return _rows(db, talk_id)


def terms_for_talk(db: sqlite_utils.Database, talk_id: int) -> list[str]:
    """The talk's own terms, then the site-wide ones, without case-insensitive repeats."""
    seen: set[str] = set()
    result: list[str] = []
    for term in [*talk_terms(db, talk_id), *site_terms(db)]:
        if _key(term.term) not in seen:
            seen.add(_key(term.term))
            result.append(term.term)
    return result


def terms_by_talk(db: sqlite_utils.Database) -> list[TalkTerms]:
    """Every talk that has terms of its own, newest talk first, with its terms."""
    rows = db.execute(
        "SELECT v.*, t.title, t.slug FROM vocabulary v JOIN talks t ON t.id = v.talk_id "
        "ORDER BY t.id DESC, lower(v.term), v.id"
    )
    groups: dict[int, TalkTerms] = {}
    for row in rows:
        group = groups.get(row["talk_id"])
        if group is None:
            talk = TalkChoice(row["talk_id"], row["title"], row["slug"])
            group = groups[row["talk_id"]] = TalkTerms(talk, [])
        group.terms.append(_term(row))
    return list(groups.values())


def _scope_label(db: sqlite_utils.Database, talk_id: int | None) -> str:
    if talk_id is None:
        return SITE_LABEL
    row = db.execute("SELECT title FROM talks WHERE id = ?", [talk_id]).fetchone()
    if row is None:
        raise NotInVocabulary(N_("Foredraget finnes ikke lenger."))
    return N_("ordlisten til «%(title)s»") % {"title": row["title"]}


def _find(terms: list[Term], text: str) -> Term | None:
    return next((t for t in terms if _key(t.term) == _key(text)), None)


def add_term(
    db: sqlite_utils.Database, raw: object, talk_id: int | None = None, actor: User | None = None
) -> Change:
    """Add a term to the site-wide list (talk_id None) or to a talk's list."""
    text = clean_term(raw)
    with write(db):
        label = _scope_label(db, talk_id)
        existing = _rows(db, talk_id)
        same = _find(existing, text)
        if same is not None:
            exists = N_("«%(term)s» står allerede i %(list)s.")
            return Change(same.term, "exists", exists % {"term": same.term, "list": label})
        if talk_id is not None and (shared := _find(_rows(db, None), text)) is not None:
            message = N_("«%(term)s» står allerede i den felles ordlisten.") % {"term": shared.term}
            return Change(shared.term, "exists", message)
        if len(existing) >= MAX_TERMS:
            full = N_("Ordlisten har allerede %(count)s ord. Fjern noen før du legger til flere.")
            raise VocabularyError(full % {"count": MAX_TERMS})
        db.execute(
            "INSERT INTO vocabulary (talk_id, term, created_at) VALUES (?, ?, ?)",
            [talk_id, text, now_iso()],
        )
        accounts.audit(db, actor, N_("la til ord i ordlisten"), label, text)
    added = N_("«%(term)s» er lagt til i %(list)s.")
    return Change(text, "added", added % {"term": text, "list": label})


def remove_term(
    db: sqlite_utils.Database, raw: object, talk_id: int | None = None, actor: User | None = None
) -> Change:
    """Remove a term (matched regardless of case) from one scope."""
    text = clean_term(raw)
    with write(db):
        label = _scope_label(db, talk_id)
        found = _find(_rows(db, talk_id), text)
        if found is None:
            missing = N_("«%(term)s» står ikke i %(list)s.")
            raise NotInVocabulary(missing % {"term": text, "list": label})
        db.execute("DELETE FROM vocabulary WHERE id = ?", [found.id])
        accounts.audit(db, actor, N_("fjernet ord fra ordlisten"), label, found.term)
    removed = N_("«%(term)s» er fjernet fra %(list)s.")
    return Change(found.term, "removed", removed % {"term": found.term, "list": label})


def talk_choices(db: sqlite_utils.Database, limit: int = 500) -> list[TalkChoice]:
    """Talks to pick from when an admin adds a talk's term (newest first)."""
    rows = db.execute(
        "SELECT id, title, slug FROM talks ORDER BY COALESCE(starts_at, created_at) DESC, id DESC "
        "LIMIT ?",
        [limit],
    )
    return [TalkChoice(r["id"], r["title"], r["slug"]) for r in rows]
