"""The transcript: dataclasses, the json file that is the source of truth, and caption formats."""

from __future__ import annotations

import functools
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from server.core.paths import TRANSCRIPT_JSON

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float = 1.0


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Transcript:
    language: str
    segments: tuple[Segment, ...]
    duration: float = 0.0
    model: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(s.text for s in self.segments)


def to_dict(transcript: Transcript) -> dict:
    data = asdict(transcript)
    data["format"] = FORMAT_VERSION
    return data


def from_dict(data: dict) -> Transcript:
    segments = tuple(
        Segment(
            start=float(s["start"]),
            end=float(s["end"]),
            text=str(s["text"]),
            words=tuple(Word(**w) for w in s.get("words", ())),
        )
        for s in data["segments"]
    )
    return Transcript(
        language=data.get("language", ""),
        segments=segments,
        duration=float(data.get("duration", 0.0)),
        model=data.get("model", ""),
        meta=data.get("meta", {}),
    )


def load(path: Path) -> Transcript:
    return from_dict(json.loads(path.read_text(encoding="utf-8")))


def load_cached(path: Path) -> Transcript | None:
    """The transcript at `path` parsed once per version of the file (None when there is
    none): the talk page shows it on every view, and a 30-minute one with its word times
    takes longer to parse than the rest of the page takes to build. A saved edit is a new
    file (write_atomic), so its inode and mtime say when to parse again."""
    try:
        stat = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return _load_version(path, stat.st_ino, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _load_version(path: Path, inode: int, mtime_ns: int, size: int) -> Transcript:
    return load(path)


def write_atomic(path: Path, content: str) -> None:
    """Write a file so that readers see the old or the new content, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _cue_text(text: str) -> str:
    # WebVTT cue text must not contain "-->" and treats < and & as markup.
    return text.strip().replace("&", "&amp;").replace("<", "&lt;").replace("-->", "→")


def to_vtt(transcript: Transcript) -> str:
    lines = ["WEBVTT", ""]
    for number, seg in enumerate(transcript.segments, start=1):
        lines += [
            str(number),
            f"{_timestamp(seg.start, '.')} --> {_timestamp(seg.end, '.')}",
            _cue_text(seg.text),
            "",
        ]
    return "\n".join(lines)


def to_srt(transcript: Transcript) -> str:
    lines: list[str] = []
    for number, seg in enumerate(transcript.segments, start=1):
        lines += [
            str(number),
            f"{_timestamp(seg.start, ',')} --> {_timestamp(seg.end, ',')}",
            seg.text.strip().replace("-->", "→"),
            "",
        ]
    return "\n".join(lines)


def to_txt(transcript: Transcript) -> str:
    return "".join(seg.text.strip() + "\n" for seg in transcript.segments)


def write_all(directory: Path, transcript: Transcript) -> None:
    """Write transcript.json (the source of truth) and the derived caption files."""
    write_atomic(
        directory / TRANSCRIPT_JSON,
        json.dumps(to_dict(transcript), ensure_ascii=False, indent=1),
    )
    write_atomic(directory / "transcript.vtt", to_vtt(transcript))
    write_atomic(directory / "transcript.srt", to_srt(transcript))
    write_atomic(directory / "transcript.txt", to_txt(transcript))
