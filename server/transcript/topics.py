"""Shifts of topic in a transcript, for the chapters of a talk without slides.

TextTiling-like (Hearst 1997): the words of the transcript, Snowball-stemmed (PyStemmer,
Norwegian or English) without stop words, are compared across every gap between two
segments: the BLOCK_WORDS content words before the gap against the BLOCK_WORDS after it
(cosine of their counts). Where the talk moves to another topic the likeness dips; a dip's
depth is how far it lies below the nearest peaks on both sides. The deepest dips become
chapter starts, never closer than MIN_CHAPTER_SECONDS to each other or to either end, at
most one per TARGET_CHAPTER_SECONDS of talk. Each chapter is titled by its key terms: the
stems most frequent in it and rare in the other chapters, shown as the word form said most.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import cache
from itertools import pairwise

import Stemmer

from server.core.resources import LOCALE_DIR
from server.transcript.model import Segment

BLOCK_WORDS = 60
MIN_CHAPTER_SECONDS = 60.0
TARGET_CHAPTER_SECONDS = 180.0
TITLE_TERMS = 3
MIN_WORD = 3
_TOKEN = re.compile(r"[^\W\d_]+")


@cache
def stop_words() -> frozenset[str]:
    """The words skipped as carrying no topic (locale/stopwords.txt, shipped with the code)."""
    text = (LOCALE_DIR / "stopwords.txt").read_text(encoding="utf-8")
    lines = (line for line in text.splitlines() if not line.startswith("#"))
    return frozenset(word for line in lines for word in line.split())


def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english" if language == "en" else "norwegian")


def _content(text: str) -> list[str]:
    words = _TOKEN.findall(unicodedata.normalize("NFC", text).lower())
    return [w for w in words if len(w) >= MIN_WORD and w not in stop_words()]


def _cosine(a: Counter, b: Counter) -> float:
    dot = sum(n * b[w] for w, n in a.items() if w in b)
    norm = math.sqrt(sum(n * n for n in a.values()) * sum(n * n for n in b.values()))
    return dot / norm if norm else 0.0


def _block(units: list[list[str]], start: int, step: int) -> Counter:
    """BLOCK_WORDS content words from units[start] on, forwards (step 1) or backwards (-1)."""
    words: Counter = Counter()
    taken, i = 0, start
    while 0 <= i < len(units) and taken < BLOCK_WORDS:
        words.update(units[i])
        taken += len(units[i])
        i += step
    return words


def _peak(values: list[float], i: int, step: int) -> float:
    """The top of the rise from values[i] going left (step -1) or right (step 1)."""
    peak, j = values[i], i + step
    while 0 <= j < len(values) and values[j] >= peak:
        peak, j = values[j], j + step
    return peak


def _depths(likeness: list[float]) -> list[float]:
    return [
        _peak(likeness, i, -1) + _peak(likeness, i, 1) - 2 * value
        for i, value in enumerate(likeness)
    ]


def boundaries(segments: Sequence[Segment], language: str, duration: float) -> list[int]:
    """Indexes of the segments that start a new topic (never the first)."""
    stem = _stemmer(language)
    units = [stem.stemWords(_content(s.text)) for s in segments]
    if len(units) < 4 or duration < 2 * MIN_CHAPTER_SECONDS:
        return []
    gaps = list(range(1, len(units)))
    likeness = [_cosine(_block(units, g - 1, -1), _block(units, g, 1)) for g in gaps]
    depths = _depths(likeness)
    mean = sum(depths) / len(depths)
    spread = math.sqrt(sum((d - mean) ** 2 for d in depths) / len(depths))
    wanted = max(0, int(duration // TARGET_CHAPTER_SECONDS) - 1)
    chosen: list[int] = []
    for depth, gap in sorted(zip(depths, gaps, strict=True), reverse=True):
        if len(chosen) >= wanted or depth <= 0 or depth < mean + spread / 2:
            break
        at = segments[gap].start
        near = [segments[c].start for c in chosen] + [0.0, duration]
        if all(abs(at - other) >= MIN_CHAPTER_SECONDS for other in near):
            chosen.append(gap)
    return sorted(chosen)


def key_terms(parts: Sequence[Sequence[Segment]], language: str) -> list[str]:
    """A title for each part: its TITLE_TERMS key terms, the most said word form of each."""
    stem = _stemmer(language)
    counts, forms = [], Counter()
    for part in parts:
        words = [w for s in part for w in _content(s.text)]
        stems = stem.stemWords(words)
        counts.append(Counter(stems))
        forms.update(zip(stems, words, strict=True))
    spoken: dict[str, str] = {}
    for (stemmed, word), _ in forms.most_common():
        spoken.setdefault(stemmed, word)
    titles = []
    for count in counts:
        found_in = {s: sum(1 for c in counts if s in c) for s in count}
        weight = {s: n * math.log(1 + len(counts) / found_in[s]) for s, n in count.items()}
        best = sorted(weight, key=lambda s: (-weight[s], s))[:TITLE_TERMS]
        words = [spoken[s] for s in best]
        title = ", ".join(words)
        titles.append(title[:1].upper() + title[1:])
    return titles


def chapters(
    segments: Sequence[Segment], language: str, duration: float
) -> list[tuple[float, str]]:
    """(start, title) of each chapter; empty when the talk has no clear shifts of topic."""
    cuts = boundaries(segments, language, duration)
    if not cuts:
        return []
    edges = [0, *cuts, len(segments)]
    parts = [segments[a:b] for a, b in pairwise(edges)]
    starts = [0.0, *(segments[c].start for c in cuts)]
    return list(zip(starts, key_terms(parts, language), strict=True))
