"""What `ktl models` shows: the configured Whisper model, the packaged base model's state,
and the CTranslate2 model folders found in the model cache (no loading, no downloading).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from server.config import Settings
from server.pipeline import transcribe

SEARCH_DEPTH = 3  # cache/model, cache/org/model, cache/org/model/version


@dataclass(frozen=True)
class FoundModel:
    path: Path
    size: int  # bytes of model.bin
    in_use: bool


@dataclass(frozen=True)
class BaseState:
    path: Path
    installed: bool  # model.bin and the .verified marker are there
    size: int | None
    sha256_ok: bool | None  # None when not installed


@dataclass(frozen=True)
class ModelReport:
    settings: Settings
    in_use: Path | None
    error: str | None
    base: BaseState
    found: list[FoundModel]


def is_model_dir(path: Path) -> bool:
    return (path / "model.bin").is_file() and (path / "config.json").is_file()


def find_models(root: Path, depth: int = SEARCH_DEPTH) -> list[Path]:
    """Folders under root holding model.bin and config.json (hidden folders skipped)."""
    if not root.is_dir():
        return []
    found: list[Path] = []
    base_depth = len(root.parts)
    for current, dirs, _files in os.walk(root, followlinks=True):  # depth bounds any loop
        here = Path(current)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if here != root and is_model_dir(here):
            found.append(here.resolve())
            dirs[:] = []  # a model folder's subfolders are not other models
        elif len(here.parts) - base_depth >= depth:
            dirs[:] = []
    return found


def base_state(cache_dir: Path, check_sha: bool = True) -> BaseState:
    path = cache_dir / transcribe.BASE_DIR
    model = path / "model.bin"
    installed = model.is_file() and (path / ".verified").is_file()
    if not model.is_file():
        return BaseState(path, False, None, None)
    sha_ok = transcribe._sha256(model) == transcribe.BASE_MODEL_SHA256 if check_sha else None
    return BaseState(path, installed, model.stat().st_size, sha_ok)


def report(settings: Settings, check_sha: bool = True) -> ModelReport:
    try:
        in_use: Path | None = transcribe.locate_model(settings).resolve()
        error = None
    except transcribe.ModelError as exc:
        in_use, error = None, str(exc)
    base = base_state(settings.model_cache_dir, check_sha)
    if in_use is not None and settings.whisper_model == "base":
        if base.sha256_ok is False:
            error = (
                f"Den pakkede base-modellen i {base.path} har feil sjekksum. "
                "Slett mappen og kjør «ktl model install»."
            )
        elif not base.installed:
            error = "Den pakkede base-modellen er ikke installert ennå. Kjør «ktl model install»."
    paths = find_models(settings.model_cache_dir)
    if in_use is not None and in_use not in paths and is_model_dir(in_use):
        paths.append(in_use)
    found = [FoundModel(p, (p / "model.bin").stat().st_size, p == in_use) for p in paths]
    return ModelReport(settings, in_use, error, base, found)


def _size(size: int | None) -> str:
    if size is None:
        return "ukjent"
    return f"{size / 1_000_000:,.1f} MB".replace(",", " ").replace(".", ",")


def _language(settings: Settings) -> str:
    if settings.whisper_language:
        return f"{settings.whisper_language} for alle foredrag (KTL_WHISPER_LANGUAGE)"
    pairs = ", ".join(f"{k} → {v}" for k, v in transcribe.WHISPER_LANGUAGE.items())
    return f"hvert foredrags eget språk ({pairs})"


def format_report(rep: ModelReport) -> list[str]:
    s = rep.settings
    name = s.whisper_model
    label = f"{name} (den pakkede flerspråklige base-modellen)" if name == "base" else name
    lines = [
        "Whisper-modellen som brukes",
        f"  KTL_WHISPER_MODEL   {label}",
        f"  mappe               {rep.in_use if rep.in_use else 'ikke funnet'}",
        f"  enhet               {s.whisper_device} (KTL_WHISPER_DEVICE)",
        f"  beregningstype      {s.whisper_compute_type} (KTL_WHISPER_COMPUTE_TYPE)",
        f"  strålebredde        {s.whisper_beam_size} (KTL_WHISPER_BEAM_SIZE)",
        f"  språk               {_language(s)}",
        f"  ordliste            {'på' if s.vocabulary_prompt else 'av'} (KTL_VOCABULARY_PROMPT)",
        "",
        "Den pakkede base-modellen",
        f"  mappe               {rep.base.path}",
    ]
    if rep.base.size is None:
        lines.append("  status              ikke installert (kjør «ktl model install»)")
    else:
        status = "installert og verifisert" if rep.base.installed else "ufullstendig installert"
        if rep.base.sha256_ok is False:
            status = "FEIL SJEKKSUM: slett mappen og kjør «ktl model install»"
        sha = {True: "ok", False: "feil", None: "ikke sjekket"}[rep.base.sha256_ok]
        lines += [
            f"  status              {status}",
            f"  størrelse           {rep.base.size:,} byte".replace(",", " ")
            + f" ({_size(rep.base.size)})",
            f"  sha256              {sha}",
        ]
    lines += ["", f"CTranslate2-modeller i modellmappen {s.model_cache_dir}"]
    if not rep.found:
        lines.append("  (ingen)")
    for model in rep.found:
        mark = "*" if model.in_use else " "
        suffix = "  ← i bruk" if model.in_use else ""
        lines.append(f"  {mark} {model.path}  {_size(model.size)}{suffix}")
    lines += ["", "* = i bruk. Velg en annen med KTL_WHISPER_MODEL=<mappe eller mappenavn>."]
    return lines


def choices(settings: Settings) -> list[tuple[str, str]]:
    """The models a re-transcription can use, as (value for KTL_WHISPER_MODEL-style names,
    label): the configured one first, the packaged base model when it is installed, and
    every model folder in the model cache. Cheap: no checksums, nothing loaded."""
    found: dict[str, str] = {settings.whisper_model: Path(settings.whisper_model).name}
    if base_state(settings.model_cache_dir, check_sha=False).installed:
        found.setdefault("base", "base")
    for path in find_models(settings.model_cache_dir):
        if path.name != transcribe.BASE_DIR:
            found.setdefault(str(path), path.name)
    return list(found.items())
