"""The programme, calendar feeds, sign-up and attendance (domain, no HTTP)."""

from __future__ import annotations

import sqlite_utils

from server.access import Viewer


def attended(db: sqlite_utils.Database, user_id: int, talk_id: int) -> str | None:
    """When the person attended in the room or live (ISO time), or None."""
    row = db.execute(
        "SELECT at FROM attendance WHERE user_id = ? AND talk_id = ?", [user_id, talk_id]
    ).fetchone()
    return row[0] if row else None


def page_context(db: sqlite_utils.Database, viewer: Viewer, talk: dict) -> dict:
    """What the talk page shows about sign-up (template talks/_signup.html)."""
    return {}
