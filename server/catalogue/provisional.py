"""Provisional captions while a talk is still being transcribed.

The worker puts segments into the search index as Whisper produces them (every ~30 s of
audio, server.pipeline.worker._PartialIndex). Those same rows give the player a
provisional WebVTT track of the part already transcribed: the captions route answers with
it while the talk is processing and no transcript file exists yet, and the page refreshes
the track (server/static/js/provisional.js) until the finished transcript replaces it.
"""

from __future__ import annotations

import sqlite_utils

from server.transcript import model as transcript

_SEGMENTS_SQL = 'SELECT start, "end", text FROM search_segments WHERE talk_id = ? ORDER BY idx'


def segments_so_far(db: sqlite_utils.Database, talk_id: int) -> tuple[transcript.Segment, ...]:
    """The segments of the talk already in the search index, in order."""
    rows = db.execute(_SEGMENTS_SQL, [talk_id]).fetchall()
    return tuple(transcript.Segment(float(r[0]), float(r[1]), str(r[2])) for r in rows)


def vtt(db: sqlite_utils.Database, talk_id: int, language: str) -> str:
    """WebVTT of what has been transcribed so far (only the header while nothing has)."""
    return transcript.to_vtt(transcript.Transcript(language, segments_so_far(db, talk_id)))
