"""The data folder's layout, written out once.

    <data dir>/
      ktl.db                       the database (server.store)
      secret.key                   the key that signs sessions, when not set in KTL_SECRET_KEY
      media/                       served media, one folder per talk (a backup may leave it out)
        .uploads/                  unfinished tus uploads (never backed up)
        <talk id>/
          <original>               the uploaded recording, as `recordings.path` names it
          vod/                     HLS playlists and segments, poster.jpg
          live/                    the live broadcast's HLS, while it lasts
          slides/                  one JPEG thumbnail per slide found
      transcripts/                 the source of truth of every transcript (always backed up)
        <talk id>/
          transcript.json          the current version; .vtt/.srt/.txt are derived from it
          en/transcript.json       the English caption track, when there is one

Whisper models live outside it (KTL_MODEL_CACHE_DIR, server.pipeline.models); backups
go where `ktl backup` is told. Code that reads or writes these files asks `DataPaths` (or
the talk helpers on Settings and server.catalogue.talks, which ask it) instead of joining
folder names itself, so the layout can change in one place (or move to object storage).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DB_NAME = "ktl.db"
SECRET_NAME = "secret.key"
MEDIA = "media"
TRANSCRIPTS = "transcripts"
UPLOADS = ".uploads"
VOD = "vod"
LIVE = "live"
SLIDES = "slides"
POSTER = "poster.jpg"
MASTER = "master.m3u8"
TRANSCRIPT_JSON = "transcript.json"


@dataclass(frozen=True)
class DataPaths:
    """Where each kind of file lives under one data folder."""

    root: Path

    @property
    def db(self) -> Path:
        return self.root / DB_NAME

    @property
    def secret(self) -> Path:
        return self.root / SECRET_NAME

    @property
    def media(self) -> Path:
        return self.root / MEDIA

    @property
    def transcripts(self) -> Path:
        return self.root / TRANSCRIPTS

    @property
    def uploads(self) -> Path:
        return self.media / UPLOADS

    def talk_media(self, talk_id: int | str) -> Path:
        return self.media / str(talk_id)

    def vod(self, talk_id: int | str) -> Path:
        return self.talk_media(talk_id) / VOD

    def poster(self, talk_id: int | str) -> Path:
        return self.vod(talk_id) / POSTER

    def master_playlist(self, talk_id: int | str) -> Path:
        return self.vod(talk_id) / MASTER

    def live(self, talk_id: int | str) -> Path:
        return self.talk_media(talk_id) / LIVE

    def slides(self, talk_id: int | str) -> Path:
        return self.talk_media(talk_id) / SLIDES

    def talk_transcripts(self, talk_id: int | str, language: str | None = None) -> Path:
        return transcript_folder(self.transcripts, talk_id, language)

    def transcript_json(self, talk_id: int | str, language: str | None = None) -> Path:
        return transcript_file(self.transcripts, talk_id, language)


def transcript_folder(transcripts: Path, talk_id: int | str, language: str | None = None) -> Path:
    """transcripts/<id>/, or transcripts/<id>/<language>/ for a translated track."""
    folder = transcripts / str(talk_id)
    return folder / language if language else folder


def transcript_file(transcripts: Path, talk_id: int | str, language: str | None = None) -> Path:
    """The transcript.json of a talk (or of its track in `language`) under `transcripts`."""
    return transcript_folder(transcripts, talk_id, language) / TRANSCRIPT_JSON
