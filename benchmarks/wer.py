"""Word error rate of a Whisper model on your own recordings, with the project's settings.

    .venv/bin/python benchmarks/wer.py --pairs DIR [--model PATH] [--language nb|nn|en]
                                       [--term NAME ...]
    .venv/bin/python benchmarks/wer.py --demo
    .venv/bin/python benchmarks/wer.py --sweep [--real FILE] [--variants a,b] [--repeat N]

DIR holds pairs: ``name.wav`` (or .mp3, .m4a, .mp4, .mkv, .webm, .ogg, .flac, .mov) and
``name.txt``, the reference transcript. The model is ``--model`` (a CTranslate2 folder, a
folder name in the model cache, or ``base``), else KTL_WHISPER_MODEL, else the packaged
``base``; device, compute type, beam size and VAD are the ones the worker uses (KTL_*).
``--term`` passes vocabulary, as the worker does with the talk's terms. ``--demo`` makes
two English espeak-ng clips with known text and runs on them, so it works without data.

Prints per file: WER, words in the reference, seconds of audio, real-time factor (Whisper
time / audio time, with the model already loaded; audio extraction is not counted); then
the overall WER (all edits / all reference words, not a mean of per-file figures) and RTF.

Normalisation (both reference and hypothesis, in ``normalise``):
- Unicode NFKC, lower case;
- a decimal comma or point between digits is kept as "." ("1,5" and "1.5" match);
  apostrophes are dropped ("don't" → "dont"); all other punctuation becomes a space
  (hyphens too, so "twenty-one" is two words);
- number words are written as digits, per language: Norwegian (bokmål and nynorsk) or
  English 0–20 and the tens 30–90, a tens word followed by a unit ("tjue fem",
  "twenty five") and Norwegian one-word compounds ("tjuefem", "femogtjue") → "25".
  Left alone on purpose: Norwegian "en", "ei", "et" (nearly always articles, not "one");
  hundreds and beyond; ordinals;
- whitespace collapsed.

WER is the word-level Levenshtein distance (substitutions + deletions + insertions) divided
by the number of reference words. It is written here (twenty lines of dynamic programming)
rather than taken from jiwer: no new dependency for a script, and the normalisation above
is the part that matters and is specific to Norwegian.

``--sweep`` measures what faster-whisper's decoding options do with the same model, two
signals per variant: the WER on Norwegian espeak-ng clips with known text (``nb`` voice,
sentences below, with names the vocabulary knows), and on a real Norwegian recording
without reference text (``--real``, default /work/shared/media/ub_erna.mp3) the
out-of-dictionary rate: the share of words (as written, so names pass; digits left out)
that neither the bokmål nor the nynorsk hunspell dictionary knows (Debian ``hunspell`` +
``hunspell-no``, ``hunspell -d nb_NO,nn_NO -l``; the dictionary's gap "noe"/"noen" is
counted as known); Danish spellings, broken compounds and repetition loops land there. It
also prints each variant's RTF and, for the real recording, the WER of its text against
the first variant's text ("diff"), to see whether two variants write the same. The
variants run one after the other in one process, so a busy machine slows them alike;
``--repeat 2`` runs the list twice.

Not a test: it prints figures; nothing asserts a quality.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MEDIA_SUFFIXES = (".wav", ".mp3", ".m4a", ".mp4", ".mkv", ".webm", ".ogg", ".flac", ".mov")

_UNITS_NO = {
    "null": 0, "én": 1, "éin": 1, "ett": 1, "eitt": 1, "to": 2, "tre": 3, "fire": 4,
    "fem": 5, "seks": 6, "sju": 7, "syv": 7, "åtte": 8, "ni": 9,
}  # fmt: skip
_TEENS_NO = {
    "ti": 10, "elleve": 11, "tolv": 12, "tretten": 13, "fjorten": 14, "femten": 15,
    "seksten": 16, "sytten": 17, "atten": 18, "nitten": 19,
}  # fmt: skip
_TENS_NO = {
    "tjue": 20, "tjuge": 20, "tyve": 20, "tretti": 30, "tredve": 30, "førti": 40,
    "femti": 50, "seksti": 60, "sytti": 70, "åtti": 80, "nitti": 90,
}  # fmt: skip
_UNITS_EN = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
_TEENS_EN = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS_EN = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
# Units that may follow a tens word ("tjueen", "twenty one"); "en"/"ein"/"one" count here.
_TAIL_NO = {**{k: v for k, v in _UNITS_NO.items() if v}, "en": 1, "ein": 1}
_TAIL_EN = {k: v for k, v in _UNITS_EN.items() if v}

_DECIMAL = re.compile(r"(?<=\d)[.,](?=\d)")
_APOSTROPHE = re.compile(r"['’]")
_NOT_WORD = re.compile(r"[^\w.]+|(?<!\d)\.|\.(?!\d)|_")


def _tables(language: str) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    if language == "en":
        return {**_UNITS_EN, **_TEENS_EN, **_TENS_EN}, _TENS_EN, _TAIL_EN
    return {**_UNITS_NO, **_TEENS_NO, **_TENS_NO}, _TENS_NO, _TAIL_NO


def _compound(word: str, tens: dict[str, int], tail: dict[str, int]) -> int | None:
    """Norwegian one-word numbers: "tjuefem" (tens+unit) and "femogtjue" (unit+og+tens)."""
    for ten, value in tens.items():
        if word.startswith(ten) and word[len(ten) :] in tail:
            return value + tail[word[len(ten) :]]
        if word.endswith("og" + ten) and word[: -len(ten) - 2] in tail:
            return value + tail[word[: -len(ten) - 2]]
    return None


def _numbers(words: list[str], language: str) -> list[str]:
    single, tens, tail = _tables(language)
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in tens and i + 1 < len(words) and words[i + 1] in tail:
            out.append(str(tens[word] + tail[words[i + 1]]))
            i += 2
            continue
        value = single.get(word)
        if value is None and language != "en":
            value = _compound(word, tens, tail)
        out.append(word if value is None else str(value))
        i += 1
    return out


def normalise(text: str, language: str = "nb") -> list[str]:
    """The words compared: lower case, no punctuation, number words as digits."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _APOSTROPHE.sub("", _DECIMAL.sub(".", text))
    words = _NOT_WORD.sub(" ", text).split()
    return _numbers(words, language)


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Word-level Levenshtein distance: substitutions + deletions + insertions."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, start=1):
            current.append(
                min(
                    previous[j] + 1,  # deletion
                    current[j - 1] + 1,  # insertion
                    previous[j - 1] + (ref_word != hyp_word),  # substitution or match
                )
            )
        previous = current
    return previous[-1]


def wer(reference: str, hypothesis: str, language: str = "nb") -> float:
    ref, hyp = normalise(reference, language), normalise(hypothesis, language)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)


@dataclass(frozen=True)
class Result:
    name: str
    edits: int
    ref_words: int
    audio_s: float
    whisper_s: float
    hypothesis: str

    @property
    def wer(self) -> float:
        return self.edits / self.ref_words if self.ref_words else 0.0

    @property
    def rtf(self) -> float:
        return self.whisper_s / self.audio_s if self.audio_s else 0.0


def find_pairs(folder: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for media in sorted(folder.iterdir()):
        reference = media.with_suffix(".txt")
        if media.suffix.lower() in MEDIA_SUFFIXES and reference.is_file():
            pairs.append((media, reference))
    return pairs


def demo_pairs(folder: Path) -> list[tuple[Path, Path]]:
    from tests import factories

    texts = {"library": factories.ENGLISH_SPEECH, "planning": factories.LONG_ENGLISH_SPEECH}
    pairs = []
    for name, text in texts.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
        pairs.append((factories.speech_wav(folder / f"{name}.wav", text), folder / f"{name}.txt"))
    return pairs


def run(pairs, settings, language: str, terms: Sequence[str], scratch: Path) -> list[Result]:
    from server.pipeline.transcribe import FasterWhisperEngine

    engine = FasterWhisperEngine(settings)
    print(f"Modell: {engine.model_path} ({settings.whisper_device}, "
          f"{settings.whisper_compute_type}, beam {settings.whisper_beam_size})")  # fmt: skip
    return run_with(engine, pairs, language, terms, scratch)


def run_with(engine, pairs, language: str, terms: Sequence[str], scratch: Path) -> list[Result]:
    from server.pipeline import ffargs, runner

    results = []
    for media, reference in pairs:
        wav = scratch / f"{media.stem}.16k.wav"
        runner.run(ffargs.extract_audio(media, wav))  # as the worker does
        start = time.perf_counter()
        out = engine.transcribe(wav, language, 0.0, lambda share: None, vocabulary=terms)
        elapsed = time.perf_counter() - start
        ref = normalise(reference.read_text(encoding="utf-8"), language)
        hyp = normalise(out.text, language)
        results.append(
            Result(media.name, edit_distance(ref, hyp), len(ref), out.duration, elapsed, out.text)
        )
    return results


def report(results: list[Result]) -> None:
    print(f"{'fil':<28} {'WER':>7} {'ord':>6} {'lyd s':>7} {'RTF':>6}")
    for r in results:
        print(f"{r.name:<28} {r.wer:>7.1%} {r.ref_words:>6} {r.audio_s:>7.1f} {r.rtf:>6.3f}")
    edits = sum(r.edits for r in results)
    words = sum(r.ref_words for r in results)
    audio = sum(r.audio_s for r in results)
    spent = sum(r.whisper_s for r in results)
    overall = edits / words if words else 0.0
    rtf = spent / audio if audio else 0.0
    print(f"{'samlet':<28} {overall:>7.1%} {words:>6} {audio:>7.1f} {rtf:>6.3f}")


# --- --sweep: decoding options on Norwegian -----------------------------------------------

REAL_SAMPLE = Path("/work/shared/media/ub_erna.mp3")
NORWEGIAN_CLIPS = {
    "barnehage": (
        "Kommunen har tjueto barnehager, og alle barn som søker før første mars får plass. "
        "Foreldrene i Gjerdrum kan følge søknaden sin på nettsiden til kommunen."
    ),
    "vei": (
        "Veivesenet legger ny asfalt på riksveien gjennom Kongsberg i sommer. "
        "Arbeidet tar omtrent seks uker, og bussene kjører en annen vei i mellomtiden."
    ),
    "helse": (
        "Helsestasjonen tilbyr vaksiner til alle innbyggere over sytti år. "
        "Du bestiller time på telefon eller gjennom Helsenorge, og det koster ingenting."
    ),
    "bibliotek": (
        "Biblioteket låner ut elektriske sykler til alle som bor i kommunen. "
        "Syklene lades i kjelleren, og du kan låne en sykkel i to uker om gangen."
    ),
}
NORWEGIAN_TERMS = ("Gjerdrum", "Kongsberg", "Helsenorge")
VARIANTS: dict[str, dict] = {
    "standard": {},
    "beam1": {"whisper_beam_size": 1},
    "beam8": {"whisper_beam_size": 8},
    "no-fallback": {"whisper_temperature_fallback": False},
    "condition": {"whisper_condition_on_previous_text": True},
    "vad-500ms": {"whisper_vad_min_silence_ms": 500},
    "bokmål-prompt": {"whisper_language_prompt": True},
    "hotwords": {"_terms": True},
    "condition+vad500": {
        "whisper_condition_on_previous_text": True,
        "whisper_vad_min_silence_ms": 500,
    },
    "batch8": {"whisper_batch_size": 8},
    "batch16": {"whisper_batch_size": 16},
}


def norwegian_pairs(folder: Path) -> list[tuple[Path, Path]]:
    from tests import factories

    pairs = []
    for name, text in NORWEGIAN_CLIPS.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
        wav = factories.speech_wav(folder / f"{name}.wav", text, voice="nb")
        pairs.append((wav, folder / f"{name}.txt"))
    return pairs


# hunspell-no 7.5 lacks the "noe" family; counted as known so they do not blur the rate.
DICTIONARY_GAPS = {"noe", "noen", "noensinne", "noenlunde"}
WORD = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*")


def dictionary_words(text: str) -> list[str]:
    """The words of a text as written (case kept, so names pass), digits left out."""
    return WORD.findall(unicodedata.normalize("NFKC", text))


def unknown_words(words: Sequence[str]) -> list[str]:
    """The words neither the bokmål nor the nynorsk hunspell dictionary knows."""
    import shutil
    import subprocess

    if not shutil.which("hunspell") or not Path("/usr/share/hunspell/nb_NO.dic").is_file():
        raise SystemExit("Trenger hunspell og hunspell-no: apt-get install hunspell hunspell-no")
    out = subprocess.run(["hunspell", "-d", "nb_NO,nn_NO", "-l"], input="\n".join(words),
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return [w for w in out.split() if w.lower() not in DICTIONARY_GAPS]


@dataclass
class Row:
    variant: str
    wer: float
    clip_rtf: float
    ood: float
    real_rtf: float
    real_text: str
    unknown: list[str]


def _variant_settings(base, changes: dict):
    return base.replace(**{k: v for k, v in changes.items() if not k.startswith("_")})


def sweep_one(engine, name, pairs, real_wav, real_s, scratch, base) -> Row:
    changes = VARIANTS[name]
    engine.settings = _variant_settings(base, changes)
    terms = NORWEGIAN_TERMS if changes.get("_terms") else ()
    results = run_with(engine, pairs, "nb", terms, scratch) if pairs else []
    edits, words = sum(r.edits for r in results), sum(r.ref_words for r in results) or 1
    clip_rtf = sum(r.whisper_s for r in results) / (sum(r.audio_s for r in results) or 1)
    start = time.perf_counter()
    text = engine.transcribe(real_wav, "nb", real_s, lambda share: None).text
    real_rtf = (time.perf_counter() - start) / real_s
    counted = dictionary_words(text)
    unknown = unknown_words(counted)
    ood = len(unknown) / len(counted) if counted else 0.0
    return Row(name, edits / words, clip_rtf, ood, real_rtf, text, unknown)


def sweep(settings, real: Path, names: list[str], repeat: int, show: bool, clips: bool) -> int:
    from server.pipeline import ffargs, runner
    from server.pipeline.transcribe import FasterWhisperEngine

    engine = FasterWhisperEngine(settings)
    print(f"Modell: {engine.model_path} ({settings.whisper_compute_type}, "
          f"{os.cpu_count()} kjerner)")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        pairs = norwegian_pairs(scratch) if clips else []
        real_wav = scratch / "real.16k.wav"
        runner.run(ffargs.extract_audio(real, real_wav))
        real_s = _duration(real_wav)
        print(f"Norske espeak-klipp: {len(pairs)}; ekte opptak: {real.name}, {real_s:.0f} s")
        print(f"{'variant':<15} {'WER nb':>7} {'RTF':>6} {'OOD ekte':>9} {'RTF ekte':>9} "
              f"{'diff':>6}")  # fmt: skip
        first: str | None = None
        rows = []
        for _ in range(repeat):
            for name in names:
                row = sweep_one(engine, name, pairs, real_wav, real_s, scratch, settings)
                first = row.real_text if first is None else first
                diff = wer(first, row.real_text)
                print(f"{row.variant:<15} {row.wer:>7.1%} {row.clip_rtf:>6.3f} {row.ood:>9.1%} "
                      f"{row.real_rtf:>9.3f} {diff:>6.1%}", flush=True)  # fmt: skip
                rows.append(row)
    if show:
        for row in rows:
            print(f"\n{row.variant}: ukjente ord: {' '.join(row.unknown)}\n{row.real_text}")
    return 0


def _duration(wav: Path) -> float:
    import wave

    with wave.open(str(wav)) as handle:
        return handle.getnframes() / handle.getframerate()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=Path, help="folder with name.wav|mp3|mp4… + name.txt")
    parser.add_argument("--demo", action="store_true", help="two English espeak-ng clips")
    parser.add_argument("--model", help="model folder (default KTL_WHISPER_MODEL or base)")
    parser.add_argument("--language", choices=("nb", "nn", "en"), help="default nb (demo: en)")
    parser.add_argument("--term", action="append", default=[], help="vocabulary (repeatable)")
    parser.add_argument("--show", action="store_true", help="print each hypothesis too")
    parser.add_argument("--sweep", action="store_true", help="decoding options on Norwegian")
    parser.add_argument("--real", type=Path, default=REAL_SAMPLE, help="real Norwegian speech")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="for --sweep")
    parser.add_argument("--repeat", type=int, default=1, help="run the variants N times")
    parser.add_argument("--real-only", action="store_true", help="--sweep without the clips")
    args = parser.parse_args(argv)
    if args.sweep:
        from server.core.config import load_settings

        names = [n for n in args.variants.split(",") if n]
        if unknown := [n for n in names if n not in VARIANTS]:
            parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
        settings = load_settings(**({"whisper_model": args.model} if args.model else {}))
        return sweep(settings, args.real, names, args.repeat, args.show, not args.real_only)
    if not args.demo and not args.pairs:
        parser.error("give --pairs DIR, --demo or --sweep")

    from server.core.config import load_settings
    from server.pipeline.transcribe import ModelError

    overrides = {"whisper_model": args.model} if args.model else {}
    settings = load_settings(**overrides)
    language = args.language or ("en" if args.demo else "nb")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        pairs = demo_pairs(scratch) if args.demo else find_pairs(args.pairs)
        if not pairs:
            print(f"Fant ingen par (opptak + .txt med samme navn) i {args.pairs}", file=sys.stderr)
            return 2
        try:
            results = run(pairs, settings, language, args.term, scratch)
        except ModelError as exc:
            print(f"Feil: {exc}", file=sys.stderr)
            return 2
    report(results)
    if args.show:
        for r in results:
            print(f"\n{r.name}: {r.hypothesis}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
