"""What `ktl models` shows: the configured Whisper model, the packaged base model's state,
and the CTranslate2 model folders found in the model cache (no loading, no downloading),
each with its checksum state (ktl-manifest.json, see server/pipeline/hub.py) and the
real-time factor `ktl models --measure` last measured on this machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from server.core.config import Settings
from server.core.i18n import N_
from server.pipeline import hub, transcribe

SEARCH_DEPTH = 3  # cache/model, cache/org/model, cache/org/model/version


MEASUREMENTS = "ktl-measurements.json"  # in the model cache: folder → last measurement
# About 25 seconds of Norwegian for `ktl models --measure` (espeak-ng's bokmål voice).
MEASURE_TEXT = (
    "Velkommen til lunsjforedraget. I dag forteller vi hvordan kommunen planlegger nye "
    "barnehager og skoler. Først ser vi på hvor mange barn som blir født hvert år, og hvor "
    "familiene flytter. Deretter ser vi på hva det koster å bygge, og hvor lang tid det tar. "
    "Takk for at dere hørte på, og velbekomme."
)


@dataclass(frozen=True)
class Measurement:
    rtf: float
    clip: str
    audio_s: float
    measured_at: str
    settings: str  # compute type, beam, batch, threads


@dataclass(frozen=True)
class FoundModel:
    path: Path
    size: int  # bytes of model.bin
    in_use: bool
    checksums: str = "ingen"  # "ok", "registrert", "feil: FILE", "ingen" (no manifest)
    measured: Measurement | None = None


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


def report(settings: Settings, check_sha: bool = True, verify: bool = False) -> ModelReport:
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
    measured = load_measurements(settings.model_cache_dir)
    found = [_found(p, in_use, verify, measured) for p in paths]
    return ModelReport(settings, in_use, error, base, found)


def _found(path: Path, in_use: Path | None, verify: bool, measured: dict) -> FoundModel:
    size = (path / "model.bin").stat().st_size
    state = checksum_state(path, full=verify)
    return FoundModel(path, size, path == in_use, state, measured.get(str(path)))


def checksum_state(folder: Path, full: bool = False) -> str:
    """ok (sha256 checked now), registrert (sizes match the manifest), feil: FILE, ingen."""
    if (folder / ".verified").is_file() and folder.name == transcribe.BASE_DIR:
        return "ok" if full else "registrert"
    manifest = hub.read_manifest(folder)
    if manifest is None:
        return "ingen"
    wrong = hub.check_files(folder, manifest["files"], full=full)
    if wrong:
        return "feil: " + ", ".join(wrong)
    return "ok" if full else "registrert"


def load_measurements(cache_dir: Path) -> dict[str, Measurement]:
    try:
        raw = json.loads((cache_dir / MEASUREMENTS).read_text())
        return {path: Measurement(**m) for path, m in raw.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _save_measurement(cache_dir: Path, path: Path, m: Measurement) -> None:
    raw = {k: vars(v) for k, v in load_measurements(cache_dir).items()}
    raw[str(path)] = vars(m)
    tmp = cache_dir / f".{MEASUREMENTS}.tmp"
    tmp.write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, cache_dir / MEASUREMENTS)


def measure_clip(folder: Path) -> Path:
    """The built-in clip: MEASURE_TEXT read by espeak-ng's Norwegian voice."""
    dest = folder / "maal.wav"
    try:
        subprocess.run(["espeak-ng", "-v", "nb", "-s", "150", "-w", str(dest), MEASURE_TEXT],
                       check=True, capture_output=True)  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        message = N_("Fant ikke espeak-ng til målelydklippet (%(error)s). Installer espeak-ng "
                     "eller gi et eget opptak med --clip FIL.")  # fmt: skip
        raise transcribe.ModelError(message % {"error": exc}) from exc
    return dest


def measure(settings: Settings, clip: Path | None = None, language: str = "nb") -> list:
    """Transcribe the clip with every installed model; store and return (path, Measurement)."""
    from server.pipeline import ffargs, runner

    rep = report(settings, check_sha=False)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        source = clip or measure_clip(Path(tmp))
        wav = Path(tmp) / "klipp.16k.wav"
        runner.run(ffargs.extract_audio(source, wav))
        for model in rep.found:
            name = "base" if model.path.name == transcribe.BASE_DIR else str(model.path)
            m = _measure_one(settings.replace(whisper_model=name), wav, source, language)
            _save_measurement(settings.model_cache_dir, model.path, m)
            results.append((model.path, m))
    return results


def _measure_one(settings: Settings, wav: Path, source: Path, language: str) -> Measurement:
    engine = transcribe.FasterWhisperEngine(settings)
    start = time.perf_counter()
    out = engine.transcribe(wav, language, 0.0, lambda share: None)
    spent = time.perf_counter() - start
    audio = out.duration or 1.0
    s = settings
    how = (f"{s.whisper_compute_type}, stråle {s.whisper_beam_size}, "
           f"batch {s.whisper_batch_size} × {s.whisper_workers}, "
           f"tråder {s.whisper_threads or 'auto'}")  # fmt: skip
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    return Measurement(round(spent / audio, 3), source.name, round(audio, 1), when, how)


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
        lines.append(
            f"  {mark} {model.path}  {_size(model.size)}  {rtf_label(model.measured)}"
            f"  sjekksum {model.checksums}{suffix}"
        )
    lines += [
        "",
        "* = i bruk. Velg en annen med KTL_WHISPER_MODEL=<mappe eller mappenavn>.",
        "RTF = sekunder Whisper bruker per sekund lyd på denne maskinen (ktl models --measure).",
        "sjekksum: ok = sha256 kontrollert nå (ktl models --verify), registrert = størrelsene "
        "stemmer med ktl-manifest.json.",
    ]
    return lines


def rtf_label(m: Measurement | None) -> str:
    if m is None:
        return "RTF ikke målt"
    return f"RTF {m.rtf:.3f}".replace(".", ",") + f" ({m.measured_at}, {m.settings})"


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
