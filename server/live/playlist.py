"""ffmpeg's per-part playlists in, the viewers' live playlist out (pure, cached reads).

A broadcast is one or more parts (one per publisher connection). Each part's ffmpeg lists
all of its segments. Viewers get one playlist over all parts: the last few segments, a
media sequence counted over all parts, and EXT-X-DISCONTINUITY where a new part begins,
so a publisher that reconnects continues the same stream for the players.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

WINDOW = 6  # segments in the viewers' playlist


@dataclass(frozen=True)
class Segment:
    part: str  # the part folder's name, e.g. "part-0001"
    name: str  # the segment file name in it
    duration: float
    date: str | None  # EXT-X-PROGRAM-DATE-TIME, when ffmpeg wrote one


def parse(text: str, part: str) -> list[Segment]:
    """The segments of one ffmpeg playlist, in order."""
    segments: list[Segment] = []
    duration, date = None, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXTINF:"):
            try:
                duration = float(line[8:].split(",", 1)[0])
            except ValueError:
                duration = None
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            date = line.split(":", 1)[1]
        elif line and not line.startswith("#") and duration is not None:
            segments.append(Segment(part, line.rsplit("/", 1)[-1], duration, date))
            duration, date = None, None
    return segments


class PartReader:
    """Reads part playlists, parsing a file again only when it changed."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[tuple[int, int], list[Segment]]] = {}

    def segments(self, playlist: Path) -> list[Segment]:
        try:
            stat = playlist.stat()
        except FileNotFoundError:
            return []
        key = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(playlist)
        if cached and cached[0] == key:
            return cached[1]
        try:
            text = playlist.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        parsed = parse(text, playlist.parent.name)
        self._cache[playlist] = (key, parsed)
        return parsed


def live_playlist(parts: list[list[Segment]], ended: bool = False, window: int = WINDOW) -> str:
    """The viewers' playlist: the last `window` segments over all parts (HLS, RFC 8216)."""
    flat: list[tuple[int, Segment]] = [(i, s) for i, part in enumerate(parts) for s in part]
    first = max(0, len(flat) - window)
    shown = flat[first:]
    # Discontinuities that have left the window: part changes before the first shown one.
    before = sum(1 for j in range(1, first) if flat[j][0] != flat[j - 1][0])
    target = max([math.ceil(s.duration) for _, s in shown] or [1])
    lines = [
        "#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{target}",
        f"#EXT-X-MEDIA-SEQUENCE:{first}", f"#EXT-X-DISCONTINUITY-SEQUENCE:{before}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]  # fmt: skip
    previous = flat[first - 1][0] if first > 0 else None
    for part_no, segment in shown:
        if previous is not None and part_no != previous:
            lines.append("#EXT-X-DISCONTINUITY")
        if segment.date:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{segment.date}")
        lines.append(f"#EXTINF:{segment.duration:.3f},")
        lines.append(f"{segment.part}/{segment.name}")
        previous = part_no
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def total_seconds(parts: list[list[Segment]]) -> float:
    return sum(s.duration for part in parts for s in part)
