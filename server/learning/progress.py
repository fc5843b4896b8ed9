"""Watch progress (union of watched seconds), completion of modules (domain, no HTTP).

Progress: the player posts the intervals it has played (`[[start, end], ...]`, seconds);
they are cleaned (garbage dropped, clamped to the recording's length from `recordings`,
never the client's), merged into the stored union in `watch_progress.intervals`, and the
union's length is `watched_seconds`. A seek starts a new interval in the browser, so
skipping ahead never counts as watched.

Completion: a module is complete when the person has *seen* the talk (attended in the room
or live, `attended`, or watched at least 90 % of the recording) and, when the
talk has a published quiz (`quizzes.has_quiz`), passed it (`quizzes.passed`). The date is
when the last of those became true; it is stored in `completions` the first time
`refresh_completion` finds it reached. Call `refresh_completion(db, user_id, talk_id)`
after anything that may change it (progress posts do; attendance and quiz submission
should too).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from server.catalogue.records import Talk, Watching
from server.core.clock import now_iso
from server.core.errors import UserError
from server.core.i18n import N_
from server.learning import quizzes
from server.people.access import Viewer, Visibility
from server.store import write
from server.store.locks import serialize

SEEN_SHARE = 0.9  # watched this share of the recording: seen
END_SLACK = 1.0  # seconds before the end that count as watched (see share())
CONTINUE_MIN = 0.05  # "Fortsett der du slapp" lists talks watched between these shares
MAX_INTERVALS = 200  # more in one post is garbage: the post's intervals are ignored
RESUME_MARGIN = 10.0  # seconds (at most 5 % of the recording): this close to the end, start over
CONTINUE_LIMIT = 6

QUIZ_NONE, QUIZ_PASSED, QUIZ_FAILED, QUIZ_NOT_TAKEN = "none", "passed", "failed", "not_taken"

Interval = tuple[float, float]


# ---------------------------------------------------------------- interval arithmetic


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def clean(raw: object, duration: float | None = None) -> list[Interval]:
    """The valid intervals of a client's list, clamped to [0, duration]; garbage dropped
    (not a pair of finite numbers, negative, end before start, empty). More than
    MAX_INTERVALS in one list: all ignored."""
    if not isinstance(raw, list | tuple) or len(raw) > MAX_INTERVALS:
        return []
    result = []
    for item in raw:
        if not isinstance(item, list | tuple) or len(item) != 2:
            continue
        start, end = _number(item[0]), _number(item[1])
        if start is None or end is None or start < 0 or end < start:
            continue
        if duration is not None:
            start, end = min(start, duration), min(end, duration)
        if end > start:
            result.append((start, end))
    return result


def merge(
    intervals: list | tuple, new: list | tuple = (), duration: float | None = None
) -> list[Interval]:
    """The union of both lists as sorted, disjoint intervals (overlapping and touching ones
    joined); both are cleaned first (see `clean`), so the result is within [0, duration]."""
    items = sorted(clean(list(intervals), duration) + clean(list(new), duration))
    union: list[list[float]] = []
    for start, end in items:
        if union and start <= union[-1][1]:
            union[-1][1] = max(union[-1][1], end)
        else:
            union.append([start, end])
    return [(round(s, 2), round(e, 2)) for s, e in union]


def total(intervals: list | tuple) -> float:
    """Seconds covered by a union of intervals (as `merge` returns them)."""
    return round(sum(end - start for start, end in intervals), 2)


def covered(intervals: list | tuple, start: float, end: float) -> float:
    """Seconds of [start, end] that the intervals cover."""
    return sum(max(0.0, min(end, e) - max(start, s)) for s, e in intervals)


# ---------------------------------------------------------------- storing progress


class ProgressError(UserError):
    """A progress report that cannot be stored; the message is for the person."""

    status = 400


BAD_REPORT = N_("Fremdriften kunne ikke leses. Last siden på nytt og prøv igjen.")
NO_RECORDING = N_("Foredraget har ikke noe opptak ennå, så fremdriften kan ikke lagres.")


def duration_of(db: sqlite_utils.Database, talk_id: int) -> float:
    row = db.execute("SELECT duration FROM recordings WHERE talk_id = ?", [talk_id]).fetchone()
    return float(row[0] or 0) if row else 0.0


@dataclass(frozen=True, slots=True)
class WatchProgress:
    """One person's stored progress in one talk (a row of `watch_progress`): the union of
    the intervals watched, its length, the recording's length then, and where they were."""

    user_id: int
    talk_id: int
    intervals: tuple[Interval, ...]
    watched_seconds: float
    duration: float
    position: float
    updated_at: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | Any) -> WatchProgress:
        intervals = tuple(tuple(i) for i in json.loads(row["intervals"] or "[]"))
        return cls(row["user_id"], row["talk_id"], intervals, row["watched_seconds"],
                   row["duration"], row["position"], row["updated_at"])  # fmt: skip


@dataclass(frozen=True, slots=True)
class Report:
    """The answer to a player's report: the progress as stored now."""

    watched_seconds: float
    duration: float
    share: float
    position: float
    completed_at: str | None

    def to_json(self) -> dict[str, Any]:
        return {"watched_seconds": self.watched_seconds, "duration": self.duration,
                "share": self.share, "position": self.position,
                "completed_at": self.completed_at}  # fmt: skip


@dataclass(frozen=True, slots=True)
class PlayerProgress:
    """What the talk page's player needs (talks/_progress_scripts.html): where to report,
    where to resume, whether the talk already counts as seen, and the share that does."""

    url: str
    resume: float
    seen: bool
    seen_share: float = SEEN_SHARE


def stored(db: sqlite_utils.Database, user_id: int, talk_id: int) -> WatchProgress | None:
    row = db.execute(
        "SELECT * FROM watch_progress WHERE user_id = ? AND talk_id = ?", [user_id, talk_id]
    ).fetchone()
    return WatchProgress.from_row(row) if row else None


def record(db: sqlite_utils.Database, user_id: int, talk_id: int, payload: object) -> Report:
    """Merge a player's report `{intervals, position, duration}` into the stored progress;
    returns it as stored now."""
    if not isinstance(payload, dict):
        raise ProgressError(BAD_REPORT)
    duration = duration_of(db, talk_id)
    if duration <= 0:
        raise ProgressError(NO_RECORDING, 409)
    new = clean(payload.get("intervals"), duration)
    position = _number(payload.get("position"))
    with write(db):
        serialize(db, f"progress:{user_id}:{talk_id}")  # two posts at once: both intervals kept
        before = stored(db, user_id, talk_id)
        union = merge(before.intervals if before else [], new, duration)
        if position is None or position < 0:
            position = before.position if before else 0.0
        position = round(min(position, duration), 2)
        watched = total(union)
        db.execute(
            "INSERT INTO watch_progress (user_id, talk_id, intervals, watched_seconds, duration, "
            "position, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, talk_id) "
            "DO UPDATE SET intervals = excluded.intervals, watched_seconds = excluded."
            "watched_seconds, duration = excluded.duration, position = excluded.position, "
            "updated_at = excluded.updated_at",
            [user_id, talk_id, json.dumps(union), watched, duration, position, now_iso()],
        )
    completed_at = refresh_completion(db, user_id, talk_id)
    return Report(watched, duration, share(watched, duration), position, completed_at)


def share(watched: float, duration: float) -> float:
    """Share watched, 0..1. Players stop a frame or so before the end and the last interval
    is reported in whole steps, so the last second (at most 1 % of the recording) counts as
    watched: a recording watched to the end is 100 %, never 99 %."""
    if duration <= 0:
        return 0.0
    if watched >= duration - min(END_SLACK, duration * 0.01):
        return 1.0
    return min(1.0, watched / duration)


# ---------------------------------------------------------------- completion


def attended(db: sqlite_utils.Database, user_id: int, talk_id: int) -> str | None:
    """When the person attended in the room or live (ISO time), or None; attendance is
    written by server.catalogue.programme (sign-up, check-in, registration)."""
    row = db.execute(
        "SELECT at FROM attendance WHERE user_id = ? AND talk_id = ?", [user_id, talk_id]
    ).fetchone()
    return row[0] if row else None


def _watched_at(db: sqlite_utils.Database, user_id: int, talk_id: int) -> str | None:
    """When the watch counted as seen: the time of the stored progress once it is ≥ 90 %
    (progress posts refresh the completion at once, so that is when it was reached)."""
    row = stored(db, user_id, talk_id)
    duration = duration_of(db, talk_id)
    if row is None or duration <= 0 or share(row.watched_seconds, duration) < SEEN_SHARE:
        return None
    return row.updated_at


def seen_at(db: sqlite_utils.Database, user_id: int, talk_id: int) -> str | None:
    """When the person first counted as having seen the talk, or None."""
    times = [t for t in (attended(db, user_id, talk_id), _watched_at(db, user_id, talk_id)) if t]
    return min(times) if times else None


def completed_at(db: sqlite_utils.Database, user_id: int, talk_id: int) -> str | None:
    row = db.execute(
        "SELECT completed_at FROM completions WHERE user_id = ? AND talk_id = ?",
        [user_id, talk_id],
    ).fetchone()
    return row[0] if row else None


def refresh_completion(db: sqlite_utils.Database, user_id: int, talk_id: int) -> str | None:
    """Store the completion the first time its conditions hold; returns its time (ISO) or
    None. A stored completion stays (a quiz published later does not take it away), except
    when the person no longer counts as having seen the talk at all (a mistaken attendance
    registration that was undone)."""
    existing = completed_at(db, user_id, talk_id)
    seen = seen_at(db, user_id, talk_id)
    if existing is not None:
        if seen is None:
            with write(db):
                db.execute(
                    "DELETE FROM completions WHERE user_id = ? AND talk_id = ?", [user_id, talk_id]
                )
            return None
        return existing
    if seen is None:
        return None
    when = seen
    if quizzes.has_quiz(db, talk_id):
        passed = quizzes.passed(db, user_id, talk_id)
        if passed is None:
            return None
        when = max(seen, passed)
    with write(db):
        db.execute(
            "INSERT INTO completions (user_id, talk_id, completed_at) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id, talk_id) DO NOTHING",
            [user_id, talk_id, when],
        )
    return completed_at(db, user_id, talk_id)


def quiz_state(db: sqlite_utils.Database, user_id: int, talk_id: int) -> str:
    if not quizzes.has_quiz(db, talk_id):
        return QUIZ_NONE
    if quizzes.passed(db, user_id, talk_id):
        return QUIZ_PASSED
    tried = db.execute(
        "SELECT 1 FROM attempts WHERE user_id = ? AND talk_id = ? AND submitted_at IS NOT NULL",
        [user_id, talk_id],
    ).fetchone()
    return QUIZ_FAILED if tried else QUIZ_NOT_TAKEN


@dataclass(frozen=True)
class Status:
    """Where one person stands with one module."""

    talk: Talk
    share: float  # 0..1 of the recording watched
    position: float
    attended_at: str | None
    quiz: str  # QUIZ_*
    completed_at: str | None

    @property
    def seen(self) -> bool:
        return self.attended_at is not None or self.share >= SEEN_SHARE

    @property
    def percent(self) -> int:
        return int(self.share * 100)  # floor: 89.9 % is not shown as 90 %

    @property
    def missing(self) -> list[str]:
        """What is left: "see" and/or "quiz" (empty when complete)."""
        if self.completed_at:
            return []
        left = [] if self.seen else ["see"]
        return left + (["quiz"] if self.quiz in (QUIZ_FAILED, QUIZ_NOT_TAKEN) else [])


def status(db: sqlite_utils.Database, user_id: int, talk: Talk) -> Status:
    done = refresh_completion(db, user_id, talk.id)
    row = stored(db, user_id, talk.id)
    watched = row.watched_seconds if row else 0.0
    return Status(
        talk=talk, share=share(watched, duration_of(db, talk.id)),
        position=row.position if row else 0.0, attended_at=attended(db, user_id, talk.id),
        quiz=quiz_state(db, user_id, talk.id), completed_at=done,
    )  # fmt: skip


def my_modules(db: sqlite_utils.Database, viewer: Viewer) -> list[Status]:
    """Every talk the person may see that they started, completed or attended, newest
    activity first."""
    if viewer.user is None:
        return []
    condition, params = Visibility(viewer).visible_sql()
    rows = db.execute(
        # the newest of four times: an aggregate over them, as SQLite's scalar MAX(a, b, …)
        # is PostgreSQL's GREATEST and neither engine has the other's
        "SELECT t.*, (SELECT COALESCE(MAX(v), '') FROM (SELECT w.updated_at AS v UNION ALL "
        "SELECT a.at UNION ALL SELECT c.completed_at UNION ALL SELECT q.submitted_at) AS times)"
        " AS activity FROM talks t "
        "LEFT JOIN watch_progress w ON w.talk_id = t.id AND w.user_id = :me "
        "LEFT JOIN attendance a ON a.talk_id = t.id AND a.user_id = :me "
        "LEFT JOIN completions c ON c.talk_id = t.id AND c.user_id = :me "
        "LEFT JOIN (SELECT talk_id, MAX(submitted_at) AS submitted_at FROM attempts "
        "  WHERE user_id = :me AND submitted_at IS NOT NULL GROUP BY talk_id) q "
        "  ON q.talk_id = t.id "
        "WHERE (w.watched_seconds > 0 OR a.at IS NOT NULL OR c.completed_at IS NOT NULL "
        f"OR q.submitted_at IS NOT NULL) AND ({condition}) ORDER BY activity DESC, t.id DESC",
        {**params, "me": viewer.user.id},
    ).fetchall()
    return [status(db, viewer.user.id, Talk.from_row(r)) for r in rows]


# ---------------------------------------------------------------- pages


def resume_position(db: sqlite_utils.Database, user_id: int, talk_id: int) -> float:
    """Where to start: the stored position, unless it is at the very start or end."""
    row = stored(db, user_id, talk_id)
    duration = duration_of(db, talk_id)
    if row is None or duration <= 0:
        return 0.0
    position = row.position
    if position < 1 or position >= duration - min(RESUME_MARGIN, duration * 0.05):
        return 0.0
    return position


def page_context(db: sqlite_utils.Database, viewer: Viewer, talk: Talk) -> dict:
    """What the talk page needs for progress (resume position; talks/_progress_scripts.html)."""
    if viewer.user is None or talk.status != "ready":
        return {"progress": None}
    return {
        "progress": PlayerProgress(
            url=f"/talks/{talk.slug}/fremdrift",
            resume=resume_position(db, viewer.user.id, talk.id),
            seen=has_seen(db, viewer.user.id, talk.id),
        )
    }


def has_seen(db: sqlite_utils.Database, user_id: int, talk_id: int) -> bool:
    """Watched enough of the recording to count as seen, or was there in the room."""
    row = stored(db, user_id, talk_id)
    watched = row.watched_seconds if row else 0.0
    if share(watched, duration_of(db, talk_id)) >= SEEN_SHARE:
        return True
    return attended(db, user_id, talk_id) is not None


def continue_watching(db: sqlite_utils.Database, viewer: Viewer) -> list[Watching]:
    """Talks the person watched between 5 % and 90 % of and has not completed, newest first."""
    if viewer.user is None:
        return []
    condition, params = Visibility(viewer).visible_sql()
    rows = db.execute(
        "SELECT t.*, w.watched_seconds, w.position, r.duration AS length FROM watch_progress w "
        "JOIN talks t ON t.id = w.talk_id JOIN recordings r ON r.talk_id = t.id "
        "LEFT JOIN completions c ON c.user_id = w.user_id AND c.talk_id = w.talk_id "
        "WHERE w.user_id = :me AND t.status = 'ready' AND c.completed_at IS NULL "
        "AND r.duration > 0 AND w.watched_seconds >= :low * r.duration "
        f"AND w.watched_seconds < :high * r.duration AND ({condition}) "
        "ORDER BY w.updated_at DESC, t.id DESC LIMIT :limit",
        {**params, "me": viewer.user.id, "low": CONTINUE_MIN, "high": SEEN_SHARE,
         "limit": CONTINUE_LIMIT},
    ).fetchall()  # fmt: skip
    return [
        Watching(
            Talk.from_row(row),
            percent=int(share(row["watched_seconds"], row["length"]) * 100),
            resume=int(row["position"]),
        )
        for row in rows
    ]


def front_context(db: sqlite_utils.Database, viewer: Viewer) -> dict:
    """ "Fortsett der du slapp" on the front page."""
    return {"continue_watching": continue_watching(db, viewer)}
