"""Typed, frozen records of the catalogue: what a row of `talks` or `recordings` holds, and
the small records pages pass around. Domain functions return these instead of dicts.

A record is built from a row by `from_row`, which takes the columns it knows and leaves
any other column of the query aside (tests/test_records.py checks that every column of the
table has a field). `to_json()` gives the plain dict for JSON answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from functools import cache
from typing import Any


@cache
def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _known(cls: type, row: Mapping[str, Any] | Any) -> dict[str, Any]:
    """The row's values for the fields of `cls` (sqlite3.Row or a mapping)."""
    keys = set(row.keys())
    return {name: row[name] for name in _names(cls) if name in keys}


@dataclass(frozen=True, slots=True)
class Talk:
    """One talk: every column of the `talks` table."""

    id: int
    slug: str
    title: str
    speaker: str = ""
    department: str = ""
    starts_at: str | None = None
    description: str = ""
    language: str = "nb"
    visibility: str = "internal"
    status: str = "planned"
    created_at: str = ""
    updated_at: str = ""
    organiser_id: int | None = None
    transcript_state: str = "machine"
    transcript_version: int = 0
    room: str = ""
    capacity: int | None = None
    attendance_code: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | Any) -> Talk:
        return cls(**_known(cls, row))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def when(self) -> str:
        """The talk's date, or when it was created for a talk without one."""
        return self.starts_at or self.created_at


@dataclass(frozen=True, slots=True)
class Recording:
    """The uploaded original of a talk (one row of `recordings`)."""

    id: int
    talk_id: int
    original_name: str
    path: str
    size: int
    duration: float
    has_video: int
    video_codec: str | None = None
    pix_fmt: str | None = None
    audio_codec: str | None = None
    width: int | None = None
    height: int | None = None
    created_at: str = ""

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | Any) -> Recording:
        return cls(**_known(cls, row))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Watching:
    """A talk the person has started and not finished (the front page's «Fortsett»)."""

    talk: Talk
    percent: int
    resume: int


def talk_or_none(row: Mapping[str, Any] | Any | None) -> Talk | None:
    return Talk.from_row(row) if row is not None else None


@dataclass(frozen=True, slots=True)
class Broadcast:
    """A talk's live broadcast (one row of `broadcasts`): its state and how it is sent."""

    talk_id: int
    state: str = "idle"
    source: str = ""
    srt_passphrase: str = ""
    srt_port: int | None = None
    parts: int = 0
    started_at: str | None = None
    interrupted_at: str | None = None
    ended_at: str | None = None
    message: str = ""
    updated_at: str = ""

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | Any) -> Broadcast:
        return cls(**_known(cls, row))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
