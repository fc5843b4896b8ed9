"""Near spellings of a word among the transcripts' words (domain code, no SQL, no HTTP).

The recogniser's typical mistakes in Norwegian are small and regular: æ written e,
double consonants single (or the other way), an -e- dropped or added inside a compound
("barnehager" -> "barnhager"), Danish spellings (b/d/g for p/t/k after a vowel, "ld" for
"ll", c for s or k), a compound split in two or two words joined. ``skeleton`` folds
those differences away; ``similarity`` weighs the edit distance of the skeletons
(rapidfuzz, Levenshtein) most, with the plain edit distance and the trigram overlap of
the words as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

MIN_LENGTH = 4  # shorter words have too many neighbours to be useful
MIN_SCORE = 0.72
_SKELETON_CUTOFF = 0.6
_PREFILTER = 60
_FOLD = str.maketrans({"æ": "e", "ä": "e", "ö": "ø", "é": "e", "è": "e", "ü": "y"})
_DANISH = (
    (re.compile(r"aa"), "å"), (re.compile(r"ld"), "ll"), (re.compile(r"nd"), "nn"),
    (re.compile(r"c(?=[eiy])"), "s"), (re.compile(r"ck?"), "k"),  # "cykler" for "sykler"
)  # fmt: skip
_SOFT = str.maketrans({"b": "p", "d": "t", "g": "k"})
_DOUBLE = re.compile(r"(.)\1+")
_VOWELS = "aeiouy" + "".join(map(chr, (0xE6, 0xF8, 0xE5)))  # and the three Norwegian ones
_INNER_E = re.compile(f"(?<=[^{_VOWELS}])e(?=[^{_VOWELS}])")


@dataclass(frozen=True)
class Near:
    word: str  # as it occurs in the transcripts
    score: float  # 0..1, higher is nearer
    parts: tuple[str, ...] = ()  # a compound the recogniser split: its two words


def skeleton(word: str) -> str:
    """The word with the recogniser's usual Norwegian confusions folded away."""
    word = word.lower().translate(_FOLD)
    for pattern, replacement in _DANISH:
        word = pattern.sub(replacement, word)
    word = word[:1] + word[1:].translate(_SOFT)  # Danish soft consonants (not the first)
    word = _DOUBLE.sub(r"\1", word)
    return _INNER_E.sub("", word[:-1]) + word[-1:] if word else word


def _trigrams(word: str) -> set[str]:
    padded = f"  {word} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def similarity(query: str, word: str) -> float:
    """0..1: how likely `word` is the recogniser's spelling of `query`."""
    folded = Levenshtein.normalized_similarity(skeleton(query), skeleton(word))
    plain = Levenshtein.normalized_similarity(query, word)
    a, b = _trigrams(query), _trigrams(word)
    trigram = len(a & b) / len(a | b)
    return 0.6 * folded + 0.2 * plain + 0.2 * trigram


class Vocabulary:
    """Distinct transcript words with their skeletons, built once and queried many times."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words: set[str] = set()
        self._keys: list[str] = []
        self._skeletons: list[str] = []
        self.add(words)

    def add(self, words: Iterable[str]) -> None:
        for word in words:
            if word not in self.words:
                self.words.add(word)
                if len(word) >= MIN_LENGTH - 1:
                    self._keys.append(word)
                    self._skeletons.append(skeleton(word))

    def __len__(self) -> int:
        return len(self.words)

    def near(self, query: str, limit: int = 3) -> list[Near]:
        """The words nearest to `query` (itself excluded), best first; a two-part split
        of the query whose halves are both words is proposed first ("barne hager")."""
        query = query.lower()
        if len(query) < MIN_LENGTH:
            return []
        found = process.extract(
            skeleton(query),
            self._skeletons,
            scorer=Levenshtein.normalized_similarity,
            score_cutoff=_SKELETON_CUTOFF,
            limit=_PREFILTER,
        )
        near = {}
        for _, _, i in found:
            word = self._keys[i]
            if word != query and abs(len(word) - len(query)) <= max(3, len(query) // 3):
                score = similarity(query, word)
                if score >= MIN_SCORE:
                    near[word] = Near(word, round(score, 3))
        ranked = sorted(near.values(), key=lambda n: (-n.score, n.word))
        split = _split(query, self.words)
        return ([split] if split else []) + ranked[: limit - (1 if split else 0)]


def _split(query: str, words: set[str]) -> Near | None:
    """A compound written as two words: both halves (>= 3 letters) are transcript words."""
    for at in range(3, len(query) - 2):
        head, tail = query[:at], query[at:]
        for left in (head, head[:-1] if head.endswith(("e", "s")) else None):
            if left and len(left) >= 3 and left in words and tail in words:
                return Near(f"{left} {tail}", 0.9, (left, tail))
    return None
