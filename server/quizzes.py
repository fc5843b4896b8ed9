"""Quizzes: questions, scoring on the server, attempts (domain, no HTTP)."""

from __future__ import annotations

import sqlite_utils

from server.access import Viewer


def has_quiz(db: sqlite_utils.Database, talk_id: int) -> bool:
    """A published quiz with at least one scored question (reflection questions score nothing)."""
    row = db.execute(
        "SELECT 1 FROM quizzes q JOIN questions s ON s.talk_id = q.talk_id "
        "WHERE q.talk_id = ? AND q.published = 1 AND s.kind != 'reflection' LIMIT 1",
        [talk_id],
    ).fetchone()
    return row is not None


def passed(db: sqlite_utils.Database, user_id: int, talk_id: int) -> str | None:
    """When the person first passed the talk's quiz (ISO time), or None."""
    row = db.execute(
        "SELECT MIN(submitted_at) FROM attempts WHERE user_id = ? AND talk_id = ? AND passed = 1",
        [user_id, talk_id],
    ).fetchone()
    return row[0] if row else None


def page_context(db: sqlite_utils.Database, viewer: Viewer, talk: dict) -> dict:
    """What the talk page shows about the quiz (template talks/_quiz_box.html)."""
    return {}
