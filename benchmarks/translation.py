"""English machine translation of Norwegian speech (Whisper's translate task): quality and
the processing time it adds.

    .venv/bin/python benchmarks/translation.py [--model PATH] [--voice nb] [--no-transcribe]

Makes Norwegian espeak-ng clips (voice ``nb``) of the sentences below, whose English
reference translations are known, and runs each through the worker's own translate path
(server.pipeline.translate.translate_audio, the KTL_* decoding settings). Prints per clip
the English Whisper wrote and its chrF, then the corpus chrF and BLEU (sacrebleu, a dev
dependency) and the time: translate seconds per audio second (real-time factor, model
loaded, audio extraction not counted) and what that adds per 30 minutes of recording.
Unless --no-transcribe, it also transcribes the same clips (Norwegian, the transcribe
stage) so the two stages' times can be compared on the same machine and load.

Synthetic speech is a floor, not a forecast: espeak-ng's Norwegian is hard to hear even
for people, and the packaged model is the small multilingual ``base``. Run it with
--model pointing at a larger model (or NB-Whisper converted to CTranslate2) to compare.
Not a test: it prints figures; nothing asserts a quality.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sacrebleu

from server.core.config import load_settings
from server.pipeline.transcribe import FasterWhisperEngine
from server.pipeline.translate import translate_audio

PAIRS = (
    ("Velkommen til lunsjforedraget fra byggesaksavdelingen.",
     "Welcome to the lunch talk from the building department."),
    ("Hver vår får vi mer enn fire hundre byggesøknader.",
     "Every spring we receive more than four hundred building applications."),
    ("Naboene får beskjed, og de har to uker på seg til å sende kommentarer.",
     "The neighbours are notified, and they have two weeks to send comments."),
    ("Små tilbygg og hageboder blir vanligvis avgjort innen tre uker.",
     "Small extensions and garden sheds are usually decided within three weeks."),
    ("Biblioteket låner ut elektriske sykler til alle innbyggere.",
     "The library lends electric bicycles to all residents."),
    ("Syklene lades i kjelleren hver natt.",
     "The bicycles are charged in the basement every night."),
    ("Takk for at dere hørte på, og god lunsj.",
     "Thank you for listening, and enjoy your lunch."),
)  # fmt: skip


def clip(folder: Path, index: int, text: str, voice: str) -> tuple[Path, float]:
    """16 kHz mono WAV of `text` spoken by espeak-ng, and its length in seconds."""
    raw, wav = folder / f"{index}.raw.wav", folder / f"{index}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "140", "-w", str(raw), text], check=True)
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(raw),
                    "-ac", "1", "-ar", "16000", str(wav)], check=True)  # fmt: skip
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(wav)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return wav, float(probe.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a CTranslate2 Whisper folder, or 'base'")
    parser.add_argument("--voice", default="nb", help="espeak-ng voice (default nb)")
    parser.add_argument("--no-transcribe", action="store_true", help="skip the comparison")
    args = parser.parse_args()
    settings = load_settings(whisper_model=args.model)
    started = time.monotonic()
    engine = FasterWhisperEngine(settings)
    print(f"model {engine.model_path} loaded in {time.monotonic() - started:.1f} s")
    hypotheses, references = [], []
    audio = translate_time = transcribe_time = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for index, (norwegian, english) in enumerate(PAIRS):
            wav, seconds = clip(Path(tmp), index, norwegian, args.voice)
            started = time.monotonic()
            result = translate_audio(engine, wav, "nb", seconds, lambda share: None)
            translate_time += time.monotonic() - started
            if not args.no_transcribe:
                started = time.monotonic()
                engine.transcribe(wav, "nb", seconds, lambda share: None)
                transcribe_time += time.monotonic() - started
            audio += seconds
            hypothesis = " ".join(seg.text for seg in result.segments).strip()
            hypotheses.append(hypothesis)
            references.append(english)
            score = sacrebleu.sentence_chrf(hypothesis, [english]).score
            print(f"[{index + 1}] {seconds:4.1f} s  chrF {score:5.1f}  {hypothesis!r}")
            print(f"          reference: {english!r}")
    chrf = sacrebleu.corpus_chrf(hypotheses, [references]).score
    bleu = sacrebleu.corpus_bleu(hypotheses, [references]).score
    rtf = translate_time / audio
    print(f"\nclips {len(PAIRS)}, audio {audio:.1f} s, model {Path(engine.model_path).name}")
    print(f"chrF {chrf:.1f}   BLEU {bleu:.1f}   (sacrebleu {sacrebleu.__version__})")
    print(f"translate: {translate_time:.1f} s, RTF {rtf:.2f}, "
          f"adds ~{rtf * 1800 / 60:.0f} min per 30 min of recording")  # fmt: skip
    if not args.no_transcribe:
        print(f"transcribe (same clips): {transcribe_time:.1f} s, RTF {transcribe_time / audio:.2f}"
              f"; translate / transcribe = {translate_time / transcribe_time:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
