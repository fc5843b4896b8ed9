"""Search that forgives the recogniser, and the editor's doubtful-word marks, measured.

    python benchmarks/near_words.py [--show]

Transcribes Norwegian espeak-ng clips with known text and the real sample
/work/shared/media/ub_erna.mp3 with the configured model (the packaged base by default).
Pairs of (word a person would search for, what the recogniser wrote) come from aligning
each clip's known text with its transcript (substitutions of words of 4+ letters), and,
for the real sample, from ``ERNA_PAIRS`` (read off its transcript by hand; ``--show``
prints the transcript and its words outside the dictionaries). Every transcript is
indexed as a talk; for each pair it reports whether exact search finds the talk where
the misspelling is, and whether forgiving search does (exact or approximate), and how
many other segments forgiving search adds (each segment is indexed as a talk of its own,
so that a pair counts only when the segment with the misspelling is found). Then, on
the clips with known text: the share of the recogniser's wrong words that the editor
marks, and the share of right words it marks too. Also usable as `run()` from Python.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import wer
from server.catalogue import search
from server.core.config import load_settings
from server.store import db as dbmod
from server.transcript import doubtful
from server.transcript.model import Segment
from tests import factories

CLIPS = {
    **wer.NORWEGIAN_CLIPS,
    "grenser": (
        "Flyktningene krysset landegrensene om natten. Barnehagene i kommunen tok imot "
        "barna dagen etter, og helsesykepleieren undersøkte alle."
    ),
    "budsjett": (
        "Bystyret vedtok budsjettet for neste år. Eldreomsorgen får mer penger, "
        "mens vedlikeholdet av skolebyggene må vente."
    ),
}
# (what a person would search for, what the base model wrote) in ub_erna.mp3, read off the
# transcript by hand (benchmarks/near_words.py --show); see the README's figures.
ERNA_PAIRS: list[tuple[str, str]] = [
    ("skapt", "skabt"), ("trenge", "trengke"), ("lesebøker", "lesebøkker"),
    ("bedrift", "bedrifft"), ("skolefag", "skolfak"), ("ungdommer", "ungdomar"),
    ("lengre", "længere"), ("skifte", "kifte"), ("tenker", "tænker"), ("tenke", "tænke"),
    ("arbeidsplass", "avesplass"), ("barrierene", "bargerende"), ("metode", "metod"),
    ("innovativt", "innvattigt"), ("ideene", "idéerne"), ("måten", "måden"),
    ("fremtidsløsning", "fremtinsløsning"), ("ungdomsbedrift", "ordensbedrift"),
    ("ungdomsbedrifter", "ordensbedrifter"), ("forståelse", "ståelse"), ("dere", "derer"),
    ("kunne", "kunde"), ("scene", "scen"),
]  # fmt: skip
MISSPELLING = 0.5  # a clip's pair counts as a misspelling above this edit-distance similarity
_WORD = re.compile(r"[^\W\d_]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def transcribe(engine, audio: Path, duration: float) -> list[Segment]:
    return list(engine.transcribe(audio, "nb", duration, lambda share: None).segments)


def clip_pairs(reference: str, hypothesis: str) -> tuple[list[tuple[str, str]], list[bool]]:
    """Substituted words (reference, hypothesis) of 4+ letters, and for each hypothesis word
    whether it is right (aligned equal to a reference word)."""
    ref, hyp = _words(reference), _words(hypothesis)
    right = [False] * len(hyp)
    pairs = []
    matcher = difflib.SequenceMatcher(a=ref, b=hyp, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            right[b1:b2] = [True] * (b2 - b1)
        elif op == "replace":
            for r, h in zip(ref[a1:a2], hyp[b1:b2], strict=False):
                if len(r) >= 4 and r != h:
                    pairs.append((r, h))
            if a2 - a1 == 1 and b2 - b1 == 2 and "".join(hyp[b1:b2]) != ref[a1]:
                pairs.append((ref[a1], " ".join(hyp[b1:b2])))  # a compound split in two
    return pairs, right


def recall(db, talks: dict[str, list[tuple[int, str]]], pairs: list[tuple[str, str, str]]) -> dict:
    """Per pair: is a segment that holds the misspelling found (each segment is indexed as
    a talk of its own, so other segments that happen to hold the word do not count)."""
    exact = forgiving = extra = 0
    rows = []
    for name, query, written in pairs:
        results = search.search(db, query, limit_talks=100)
        where = {i for i, text in talks[name] if f" {written} " in f" {' '.join(_words(text))} "}
        found_exact = any(g.talk_id in where and not g.approximate for g in results.groups)
        found_near = any(g.talk_id in where for g in results.groups)
        exact, forgiving = exact + found_exact, forgiving + found_near
        extra += sum(g.approximate and g.talk_id not in where for g in results.groups)
        rows.append({"query": query, "written": written, "exact": found_exact,
                     "forgiving": found_near, "similar": results.similar})  # fmt: skip
    n = len(pairs) or 1
    return {"pairs": len(pairs), "exact_recall": exact / n, "forgiving_recall": forgiving / n,
            "other_talks_added": extra, "rows": rows}  # fmt: skip


def marks(segments: list[Segment], right: list[bool]) -> dict:
    """Share of wrong words marked, share of right words marked."""
    marked = []
    for segment in segments:
        spans = {d.start for d in doubtful.doubts(segment, "nb")}
        marked += [m.start() in spans for m in _WORD.finditer(segment.text)]
    marked = marked[: len(right)]
    wrong = [m for m, ok in zip(marked, right, strict=False) if not ok]
    good = [m for m, ok in zip(marked, right, strict=False) if ok]
    return {"wrong_words": len(wrong), "wrong_marked": sum(wrong),
            "right_words": len(good), "right_marked": sum(good)}  # fmt: skip


def run(show: bool = False) -> dict:
    from server.pipeline.transcribe import FasterWhisperEngine

    engine = FasterWhisperEngine(load_settings(env={}))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        texts, rights, all_pairs = {}, {}, []
        for name, text in CLIPS.items():
            wav = factories.speech_wav(folder / f"{name}.wav", text, voice="nb")
            texts[name] = transcribe(engine, wav, 0.0)
            found, rights[name] = clip_pairs(text, " ".join(s.text for s in texts[name]))
            all_pairs += [(name, r, h) for r, h in found]
        texts["erna"] = transcribe(engine, wer.REAL_SAMPLE, 0.0)
        all_pairs += [("erna", r, h) for r, h in ERNA_PAIRS]
        if show:
            erna_text = " ".join(s.text for s in texts["erna"])
            print(erna_text)
            print("outside the dictionaries:", wer.unknown_words(_words(erna_text)))
        path = folder / "search.db"
        dbmod.init(path)
        db = dbmod.connect(path)
        talks: dict[str, list[tuple[int, str]]] = {}
        for name, segments in texts.items():
            for n, segment in enumerate(segments):
                talk_id = db["talks"].insert({
                    "slug": f"{name}-{n}", "title": "Klipp", "speaker": "", "department": "",
                    "description": "", "language": "nb", "visibility": "public",
                    "status": "ready", "created_at": "2026-01-01", "updated_at": "2026-01-01",
                }).last_pk  # fmt: skip
                search.index_talk(db, talk_id, [segment], "nb")
                talks.setdefault(name, []).append((talk_id, segment.text))
        from rapidfuzz.distance import Levenshtein

        def misspelt(pair: tuple[str, str, str]) -> bool:
            return Levenshtein.normalized_similarity(pair[1], pair[2]) >= MISSPELLING

        figures = {
            "recall": recall(db, talks, all_pairs),
            "recall_real_sample": recall(db, talks, [p for p in all_pairs if p[0] == "erna"]),
            "recall_clips_misspelt": recall(
                db, talks, [p for p in all_pairs if p[0] != "erna" and misspelt(p)]
            ),
            "marks": {name: marks(texts[name], rights[name]) for name in CLIPS},
        }
        db.close()
    total = {k: sum(m[k] for m in figures["marks"].values()) for k in next(
        iter(figures["marks"].values()))}  # fmt: skip
    figures["marks_total"] = total
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print the real sample's text")
    figures = run(parser.parse_args().show)
    m = figures["marks_total"]
    print(json.dumps(figures, ensure_ascii=False, indent=1))
    for key in ("recall", "recall_real_sample", "recall_clips_misspelt"):
        r = figures[key]
        print(
            f"{key}: {r['pairs']} pairs: exact search finds {r['exact_recall']:.0%}, forgiving "
            f"search {r['forgiving_recall']:.0%} ({r['other_talks_added']} other talks added)"
        )
    print(
        f"marks catch {m['wrong_marked']} of {m['wrong_words']} wrong words and flag "
        f"{m['right_marked']} of {m['right_words']} right ones"
    )


if __name__ == "__main__":
    main()
