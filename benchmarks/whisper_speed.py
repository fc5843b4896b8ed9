"""What Whisper's time goes to, and which decoding variant is fastest at equal quality.

    .venv/bin/python benchmarks/whisper_speed.py [--real FILE] [--rounds 2]
                                                 [--variants a,b,...] [--no-clips] [--show]

Runs the variants below interleaved (each round: ``sequential`` first, then the others, the
list rotated by one each round) in one process on the real Norwegian sample (default
/work/shared/media/ub_erna.mp3, extracted to 16 kHz mono as the worker does), so a busy
machine slows them alike; the figures to trust are the ratios to ``sequential`` within a
round, not the absolute real-time factors. For each run it prints:

- RTF: wall-clock Whisper time / audio time (model already loaded);
- CPU: process CPU seconds / audio seconds (all threads), less sensitive to other
  people's load than wall time, but it counts spinning threads too;
- tråd: CPU seconds of the busiest thread / audio seconds (from /proc): a lower bound of
  the real-time factor on an idle machine, and close to it when the threads do not spin
  (KTL_WHISPER_WORKERS > 1: one CTranslate2 thread per replica);
- where the wall time went, by wrapping the model's CTranslate2 calls and faster-whisper's
  helpers: audio decoding, VAD (Silero), mel features, encoder, decoder (``generate``, all
  attempts), word alignment (``align``, the word timestamps), the rest (Python);
  (with KTL_WHISPER_WORKERS > 1 the phases overlap, so they add up to more than the wall);
- windows decoded and how many of them were decoded again at a higher temperature
  (temperature fallback; the batched pipeline has none and counts no windows);
- quality: the out-of-dictionary rate on the real sample (benchmarks/wer.py: words neither
  hunspell bokmål nor nynorsk knows), how far its text is from ``sequential``'s text in
  the same round ("diff", a WER), and with clips the WER on the four Norwegian espeak-ng
  clips with known text from benchmarks/wer.py and the CPU seconds they took per second of
  audio (hard audio, where temperature fallback decodes windows again).

Each variant is spelled out in full (batch size, and the faster-whisper arguments it
changes), so its figures keep their meaning when the defaults change. ``sequential`` is
the decoding the worker did until batching became the default: one 30-second window after
the other, beam 5, temperature fallback, word timestamps, VAD; the other sequential
variants change one thing against it. ``batch8-ts-ngram6`` is today's default
(KTL_WHISPER_BATCH_SIZE=8, server.pipeline.transcribe.decode_options); ``default`` is
whatever the KTL_* settings in the environment say. The wrapping is measurement only: the
same calls run with the same arguments.

Not a test: it prints figures; nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import wer

BASE = "sequential"
_SEQ = {"whisper_batch_size": 0}
_TS, _NO_TS = {"without_timestamps": False}, {"without_timestamps": True}


def _batched(size: int, ngram: int, beam: int = 5, workers: int = 1, **extra) -> tuple[dict, dict]:
    changes = {"whisper_batch_size": size, "whisper_beam_size": beam, "whisper_workers": workers}
    return changes, {**_TS, "no_repeat_ngram_size": ngram, **extra}


def _vad(silence_ms: int, **more) -> dict:
    return {"vad_parameters": {"min_silence_duration_ms": silence_ms, **more}}


# name: (Settings changes, extra faster-whisper keyword arguments)
VARIANTS: dict[str, tuple[dict, dict]] = {
    "sequential": (_SEQ, {}),
    "no-fallback": ({**_SEQ, "whisper_temperature_fallback": False}, {}),
    "fallback-on-loops": (_SEQ, {"log_prob_threshold": None}),
    "beam1": ({**_SEQ, "whisper_beam_size": 1}, {}),
    "beam3": ({**_SEQ, "whisper_beam_size": 3}, {}),
    "no-word-times": (_SEQ, {"word_timestamps": False}),
    "no-vad": (_SEQ, {"vad_filter": False}),
    "no-timestamp-tokens": (_SEQ, _NO_TS),
    "threads1": ({**_SEQ, "whisper_threads": 1}, {}),
    "threads2": ({**_SEQ, "whisper_threads": 2}, {}),
    "threads4": ({**_SEQ, "whisper_threads": 4}, {}),
    "int8_float32": ({**_SEQ, "whisper_compute_type": "int8_float32"}, {}),
    "float32": ({**_SEQ, "whisper_compute_type": "float32"}, {}),
    "batch8": ({"whisper_batch_size": 8}, {**_NO_TS, "no_repeat_ngram_size": 3}),
    "batch8-timestamps": _batched(8, 3),
    "batch8-ts-ngram6": _batched(8, 6),
    "batch8-ts-ngram0": _batched(8, 0),
    "batch4-ts-ngram6": _batched(4, 6),
    "batch16-ts-ngram6": _batched(16, 6),
    "batch8-beam1": _batched(8, 6, beam=1),
    "batch8-beam2": _batched(8, 6, beam=2),
    "batch8-beam3": _batched(8, 6, beam=3),
    "batch8-beam4": _batched(8, 6, beam=4),
    "batch8-words-only": _batched(8, 6, **_NO_TS),
    "batch8-vad500": _batched(8, 6, **_vad(500)),
    "batch8-vad160": _batched(8, 6, **_vad(160)),
    "batch8-pad100": _batched(8, 6, **_vad(2000, speech_pad_ms=100)),
    "batch8-workers2": _batched(8, 6, workers=2),  # two batches of 4 at once
    "batch16-workers2": _batched(16, 6, workers=2),
    "batch8-workers2-beam3": _batched(8, 6, beam=3, workers=2),
    "batch8-threads1": ({**_batched(8, 6)[0], "whisper_threads": 1}, _batched(8, 6)[1]),
    "batch8-threads2": ({**_batched(8, 6)[0], "whisper_threads": 2}, _batched(8, 6)[1]),
    "batch8-threads4": ({**_batched(8, 6)[0], "whisper_threads": 4}, _batched(8, 6)[1]),
    "default": ({}, {}),
}
DEFAULT_VARIANTS = ("sequential", "no-fallback", "beam1", "batch8-timestamps",
                    "batch8-ts-ngram6", "batch8-ts-ngram0")  # fmt: skip
PHASES = ("audio", "vad", "mel", "encode", "decode", "align")


@dataclass
class Clock:
    """Wall seconds per phase and counters, filled by the wrappers."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def timed(self, phase: str, func):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds[phase] += time.perf_counter() - start
                self.counts[phase] += 1

        return wrapper


class _Proxy:
    """Delegates every attribute to `inner`, except the ones set on the proxy."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)


class _TimedFeatures(_Proxy):
    def __init__(self, inner, clock: Clock) -> None:
        super().__init__(inner)
        self._call = clock.timed("mel", inner.__call__)

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)


def instrument(model, clock: Clock):
    """Route a WhisperModel's heavy calls through `clock` (same calls, same arguments)."""
    import faster_whisper.transcribe as fw

    ct2 = _Proxy(model.model)
    ct2.encode = clock.timed("encode", model.model.encode)
    ct2.generate = clock.timed("decode", model.model.generate)
    ct2.align = clock.timed("align", model.model.align)
    model.model = ct2
    model.feature_extractor = _TimedFeatures(model.feature_extractor, clock)
    fallback = model.generate_with_fallback

    def counted(*args, **kwargs):
        result = fallback(*args, **kwargs)
        clock.counts["windows"] += 1
        clock.counts["fallback"] += result[2] > 0  # the temperature it ended at
        return result

    model.generate_with_fallback = counted
    fw.get_speech_timestamps = clock.timed("vad", fw.get_speech_timestamps)
    fw.decode_audio = clock.timed("audio", fw.decode_audio)


def uninstrument(model, originals) -> None:
    import faster_whisper.transcribe as fw

    model.model, model.feature_extractor = originals[0], originals[1]
    del model.generate_with_fallback
    fw.get_speech_timestamps, fw.decode_audio = originals[2], originals[3]


@dataclass
class Run:
    variant: str
    round: int
    rtf: float
    cpu: float
    phases: dict[str, float]
    windows: int
    fallback: int
    segments: int
    text: str
    ood: float = 0.0
    diff: float = 0.0
    clip_wer: float | None = None
    clip_cpu: float | None = None  # CPU seconds per second of clip audio
    busiest: float = 0.0  # CPU seconds of the busiest thread per second of audio


def thread_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of each thread of this process, from /proc (Linux)."""
    tick, seconds = os.sysconf("SC_CLK_TCK"), {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        seconds[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick
    return seconds


class Models:
    """One loaded WhisperModel per (compute type, threads, workers), loaded as the worker does."""

    def __init__(self, settings) -> None:
        from server.pipeline.transcribe import resolve_model

        self.path = resolve_model(settings)
        self.loaded: dict[tuple, object] = {}

    def get(self, settings):
        from server.pipeline.transcribe import load_model, load_workers

        key = (settings.whisper_compute_type, settings.whisper_threads, load_workers(settings))
        if key not in self.loaded:
            self.loaded[key] = load_model(self.path, settings)
        return self.loaded[key]


def transcribe(model, settings, wav: Path, extra: dict, clock: Clock | None = None):
    """faster-whisper as the worker calls it (decode_options), plus the variant's extras."""
    import faster_whisper.transcribe as fw

    from server.pipeline.transcribe import batched_pipeline, decode_options

    options = {**decode_options(settings, "no", None), **extra}
    originals = (model.model, model.feature_extractor, fw.get_speech_timestamps, fw.decode_audio)
    if clock is not None:
        instrument(model, clock)
    try:
        batched = settings.whisper_batch_size > 0
        runner = batched_pipeline(model, settings) if batched else model
        segments, info = runner.transcribe(str(wav), **options)
        return list(segments), info
    finally:
        if clock is not None:
            uninstrument(model, originals)


def clip_wer(model, settings, extra: dict, clips) -> tuple[float, float]:
    """WER over the clips, and CPU seconds per second of clip audio."""
    edits = words = 0
    cpu, audio = time.process_time(), 0.0
    for wav, reference in clips:
        segments, info = transcribe(model, settings, wav, extra)
        audio += info.duration
        ref = wer.normalise(reference.read_text(encoding="utf-8"))
        hyp = wer.normalise(" ".join(s.text.strip() for s in segments))
        edits, words = edits + wer.edit_distance(ref, hyp), words + len(ref)
    cpu = time.process_time() - cpu
    return (edits / words if words else 0.0), (cpu / audio if audio else 0.0)


def measure(models: Models, base, name: str, rnd: int, wav: Path, audio_s: float, clips) -> Run:
    changes, extra = VARIANTS[name]
    settings = base.replace(**changes)
    model = models.get(settings)
    clock = Clock()
    wall, cpu, threads = time.perf_counter(), time.process_time(), thread_cpu()
    segments, _ = transcribe(model, settings, wav, extra, clock)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = thread_cpu()
    busiest = max((after[t] - threads.get(t, 0.0) for t in after), default=0.0)
    text = " ".join(s.text.strip() for s in segments)
    counted = wer.dictionary_words(text)
    phases = {p: clock.seconds[p] for p in PHASES}
    phases["rest"] = max(0.0, wall - sum(phases.values()))
    run = Run(name, rnd, wall / audio_s, cpu / audio_s, phases, clock.counts["windows"],
              clock.counts["fallback"], len(segments), text)  # fmt: skip
    run.ood = len(wer.unknown_words(counted)) / len(counted) if counted else 0.0
    run.busiest = busiest / audio_s
    if clips:
        run.clip_wer, run.clip_cpu = clip_wer(model, settings, extra, clips)
    return run


def print_run(run: Run, audio_s: float) -> None:
    shares = " ".join(f"{p} {run.phases[p] / audio_s:.3f}" for p in (*PHASES, "rest"))
    clips = f"{run.clip_wer:>7.1%} {run.clip_cpu:>6.3f}" if run.clip_wer is not None else " " * 14
    print(f"{run.round:>2} {run.variant:<20} {run.rtf:>6.3f} {run.cpu:>6.3f} {run.busiest:>6.3f} "
          f"{run.windows:>4}/{run.fallback:<3} {run.segments:>4} {run.ood:>6.1%} "
          f"{run.diff:>6.1%} {clips}  | {shares}", flush=True)  # fmt: skip


def summary(runs: list[Run]) -> None:
    """Median per variant, and its time as a share of the base's in the same round."""
    base = {r.round: r for r in runs if r.variant == BASE}
    print(
        "\nvariant               RTF(med) CPU(med) ×sequential(wall) ×seq.(cpu) OOD    diff"
        "   WER klipp"
    )
    for name in dict.fromkeys(r.variant for r in runs):
        mine = [r for r in runs if r.variant == name]
        wall = [r.rtf / base[r.round].rtf for r in mine if r.round in base]
        cpu = [r.cpu / base[r.round].cpu for r in mine if r.round in base]
        wers = [r.clip_wer for r in mine if r.clip_wer is not None]
        print(f"{name:<21} {statistics.median(r.rtf for r in mine):>8.3f} "
              f"{statistics.median(r.cpu for r in mine):>8.3f} "
              f"{_span(wall):>15} {_span(cpu):>14} "
              f"{statistics.mean(r.ood for r in mine):>6.1%} "
              f"{statistics.mean(r.diff for r in mine):>6.1%} "
              f"{(f'{statistics.mean(wers):.1%}' if wers else '-'):>8}")  # fmt: skip


def _span(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):.2f}–{max(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", type=Path, default=wer.REAL_SAMPLE)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                        help=f"known: {', '.join(VARIANTS)}")  # fmt: skip
    parser.add_argument("--no-clips", action="store_true", help="skip the espeak-ng WER")
    parser.add_argument("--show", action="store_true", help="print each variant's text")
    args = parser.parse_args(argv)
    names = [n for n in args.variants.split(",") if n]
    if unknown := [n for n in names if n not in VARIANTS]:
        parser.error(f"unknown variants {unknown}")
    if BASE not in names:
        names.insert(0, BASE)

    from server.core.config import load_settings
    from server.pipeline import ffargs, runner

    settings = load_settings()
    models = Models(settings)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        wav = scratch / "real.16k.wav"
        runner.run(ffargs.extract_audio(args.real, wav))
        audio_s = wer._duration(wav)
        clips = []
        if not args.no_clips:
            for media, reference in wer.norwegian_pairs(scratch):
                clip = scratch / f"{media.stem}.16k.wav"
                runner.run(ffargs.extract_audio(media, clip))
                clips.append((clip, reference))
        print(f"Modell: {models.path}; {args.real.name}: {audio_s:.0f} s; {os.cpu_count()} kjerner;"
              f" belastning {os.getloadavg()[0]:.1f}; klipp: {len(clips)}")  # fmt: skip
        print(f"{'r':>2} {'variant':<20} {'RTF':>6} {'CPU':>6} {'tråd':>6} {'vind/fb':>8} "
              f"{'seg':>4} {'OOD':>6} {'diff':>6} {'WERklip':>7} {'CPUklip':>6} "
              "| tid/lyd-s")  # fmt: skip
        runs: list[Run] = []
        others = [n for n in names if n != BASE]
        for rnd in range(1, args.rounds + 1):
            shift = (rnd - 1) % max(1, len(others))
            reference = ""
            for name in [BASE, *others[shift:], *others[:shift]]:
                run = measure(models, settings, name, rnd, wav, audio_s, clips)
                runs.append(run)
                reference = run.text if name == BASE else reference
                run.diff = wer.wer(reference, run.text)
                print_run(run, audio_s)
    summary(runs)
    if args.show:
        for run in runs:
            print(f"\n{run.variant} (runde {run.round}):\n{run.text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
