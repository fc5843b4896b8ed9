"""A generated slide-deck recording for the slide tests and benchmarks/slides.py.

Slides are coloured backgrounds with text drawn by ffmpeg's drawtext (Norwegian letters
included), each held for some seconds; over the whole video a small box moves in a corner
(a speaker in a picture-in-picture), and one short noisy clip (a video played in the
talk) sits between two slides. Neither the box nor the clip may become a slide.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
SIZE = (1280, 720)


@dataclass(frozen=True)
class Slide:
    heading: str
    body: tuple[str, ...]
    colour: str
    seconds: float
    ink: str = "white"
    body_size: int = 48  # the heading is 72 px, the body lines this (on a 1280x720 picture)

    @property
    def text(self) -> str:
        return "\n".join((self.heading, *self.body))


@dataclass(frozen=True)
class Clip:
    """A noisy moving picture (a film shown during the talk): never a slide."""

    seconds: float


DECK: tuple[Slide | Clip, ...] = (
    Slide("Kunnskap til lunsj", ("Byggesak og plan", "Våren 2026"), "navy", 8.0),
    Slide(
        "Søknad om tiltak",
        ("Tegninger og situasjonsplan", "Nabovarsel i to uker"),
        "darkgreen",
        8.0,
    ),
    Clip(4.0),
    Slide("Ærlig talt: økonomi", ("Gebyrer for små tiltak", "Søknader på nett"), "maroon", 7.0),
    Slide(
        "Spørsmål og svar",
        ("Ta kontakt med servicetorget", "Åpent hver dag"),
        "white",
        7.0,
        "black",
    ),
)


def cer(expected: str, got: str) -> float:
    """Character error rate: edit distance over the expected length (spaces folded)."""
    a, b = " ".join(expected.split()), " ".join(got.split())
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[len(b)] / max(1, len(a))


def slides_of(deck: tuple[Slide | Clip, ...]) -> list[tuple[float, Slide]]:
    """Each slide with the second it appears."""
    at, shown = 0.0, []
    for item in deck:
        if isinstance(item, Slide):
            shown.append((at, item))
        at += item.seconds
    return shown


def _slide_chain(index: int, slide: Slide, folder: Path) -> str:
    width, height = SIZE
    parts = [f"color=c={slide.colour}:s={width}x{height}:r=25:d={slide.seconds}"]
    lines = [
        (slide.heading, FONT_BOLD, 72, 90),
        *((t, FONT, slide.body_size, 0) for t in slide.body),
    ]
    y = 90
    for n, (text, font, size, _) in enumerate(lines):
        path = folder / f"slide{index}-{n}.txt"
        path.write_text(text, encoding="utf-8")
        parts.append(
            f"drawtext=fontfile={font}:textfile={path}:fontsize={size}"
            f":fontcolor={slide.ink}:x=90:y={y}"
        )
        y += size + (60 if n == 0 else 36)
    return ",".join(parts) + f",format=yuv420p[s{index}]"


def _clip_chain(index: int, clip: Clip) -> str:
    width, height = SIZE
    return (
        f"testsrc2=s={width}x{height}:r=25:d={clip.seconds},scroll=h=0.013:v=0.007,"
        f"noise=alls=60:allf=t+u,hue=H=t*2,format=yuv420p[s{index}]"
    )


def make(dest: Path, deck: tuple[Slide | Clip, ...] = DECK, repeat: int = 1) -> Path:
    """Render the deck (`repeat` times over) with a moving box in the lower right corner
    and a tone as sound; returns dest (an .mp4)."""
    folder = dest.parent / f"{dest.stem}-text"
    folder.mkdir(parents=True, exist_ok=True)
    items = list(deck) * repeat
    chains = [
        _slide_chain(i, item, folder) if isinstance(item, Slide) else _clip_chain(i, item)
        for i, item in enumerate(items)
    ]
    joined = "".join(f"[s{i}]" for i in range(len(items)))
    chains.append(f"{joined}concat=n={len(items)}:v=1:a=0[deck]")
    chains.append("color=c=orange:s=120x120:r=25,format=yuv420p[box]")
    chains.append("[deck][box]overlay=x='W-200+50*sin(t*2)':y='H-200+40*cos(t*3)':shortest=1[v]")
    script = folder / "filter.txt"
    script.write_text(";\n".join(chains), encoding="utf-8")
    total = sum(item.seconds for item in items)
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
         "-filter_complex_script", str(script),
         "-f", "lavfi", "-i", f"sine=frequency=220:sample_rate=16000:duration={total}",
         "-map", "[v]", "-map", "0:a", "-c:v", "libx264", "-preset", "veryfast",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(dest)],
        check=True, capture_output=True,
    )  # fmt: skip
    return dest


def ready_talk(settings, deck: Path, organiser=None, visibility: str = "public"):
    """A ready talk whose recording is the deck: real HLS packaging (remux, as the worker
    does) and the real slide stage (scene detection, OCR, chapters); the transcript is
    written directly (the deck's sound is a tone, Whisper has nothing to say about it)."""
    from server.catalogue import talks
    from server.pipeline import ffargs, slides
    from server.store import db as database
    from server.store import write
    from server.transcript import model as transcript
    from tests import factories

    with database.session(settings) as db:
        talk = factories.talk(db, organiser, title="Byggesak for alle", language="nb",
                              visibility=visibility)  # fmt: skip
        folder = talks.media_dir(settings, talk.id)
        folder.mkdir(parents=True, exist_ok=True)
        original = folder / "original.mp4"
        original.write_bytes(deck.read_bytes())
        vod = folder / "vod"
        for args in (ffargs.hls_remux(original, vod, copy_audio=True),
                     ffargs.poster_from_video(original, vod / "poster.jpg", 2.0)):  # fmt: skip
            subprocess.run(args, check=True, capture_output=True)
        with write(db):
            db.execute(
                "INSERT INTO recordings (talk_id, original_name, path, size, duration, "
                "has_video, video_codec, pix_fmt, audio_codec, created_at) VALUES "
                "(?, 'deck.mp4', 'original.mp4', ?, 34.0, 1, 'h264', 'yuv420p', 'aac', "
                "'2026-01-01')",
                [talk.id, original.stat().st_size],
            )
            talks.set_status(db, talk.id, "ready")
        spoken = (transcript.Segment(1.0, 5.0, "Velkommen til lunsjforedraget."),)
        machine = transcript.Transcript(language="nb", segments=spoken, duration=34.0)
        json_path = settings.paths.transcript_json(talk.id)
        transcript.write_all(json_path.parent, machine)
        row, recording = talks.get(db, talk.id), talks.recording(db, talk.id)
        slides.stage(db, settings, row, recording, folder, json_path, lambda share: None)
        return talks.get(db, talk.id)
