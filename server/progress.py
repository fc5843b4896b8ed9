"""Watch progress (union of watched seconds), completion of modules (domain, no HTTP)."""

from __future__ import annotations

import sqlite_utils

from server.access import Viewer


def page_context(db: sqlite_utils.Database, viewer: Viewer, talk: dict) -> dict:
    """What the talk page needs for progress (resume position; talks/_progress_scripts.html)."""
    return {}


def front_context(db: sqlite_utils.Database, viewer: Viewer) -> dict:
    """ "Fortsett der du slapp" on the front page."""
    return {}
