"""Draft quiz questions from a talk's own transcript, with no external service.

Fill in the blank: the key terms of a talk are words that are frequent in this talk and
rare in the rest of the archive (TF-IDF over the search index, one document per talk,
compared by stem so that inflections count together). For each key term, a sentence of
the talk that contains it becomes the question with the term blanked out; the answer
options are the term and other key terms of the same talk. Everything here is pure except
`suggest`, which reads the search index once.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlite_utils

from server.catalogue.records import Talk
from server.catalogue.search_base import _stemmer, _words

BLANK = "_____"
MIN_LENGTH = 4  # shorter words are almost never key terms
MIN_COUNT = 2  # a key term is said at least twice in the talk
MIN_WORDS, MAX_WORDS = 5, 40  # a question sentence: long enough to give context, not a wall
DISTRACTORS = 3
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_STOPWORDS_TEXT = """
    alle allerede alltid andre annen annet også altså bare både blant bort ble bli blir
    blitt borte bruke bruker brukes brukte dere deres dette disse eller ellers enda eneste
    enn etter fikk finne finnes flere fordi foran først fram fremdeles frem gjennom gjorde
    gjøre gjør godt gang gikk hadde halvt har have heller hele helt henne hennes her hva
    hvem hver hvilke hvilken hvis hvor hvordan hvorfor ikke ingen inne inni jeg kanskje
    kommer komme kunne lage lenger litt mange mellom mens mere mest mindre mine mitt mye
    måtte nede noen noe nokså ned ofte også oss over rundt sånn seg selv selve sine sitt
    skal skulle slik slike som store stort står sånt tilbake under uten veldig verdt vil
    ville vært være vår våre våres dere deres akkurat egentlig faktisk liksom bestemt ganske
    derfor likevel sammen sier sagt sagde tror tenker tenkte ting litt godt bra takk hei
    dag dager året fortsatt kanskje gjerne nettopp virkelig viktig viktige
    about after again also because been before being between both could does doing down
    during each from further have having here itself just more most other over same should
    some such than that their theirs them then there these they this those through under
    until very were what when where which while will with would your yours thank thanks
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


@dataclass(frozen=True)
class Sentence:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Term:
    stem: str
    word: str  # the surface form said most often
    count: int
    score: float


@dataclass(frozen=True)
class Suggestion:
    text: str  # the sentence with the term blanked out
    answer: str
    options: tuple[str, ...]  # the answer and the distractors, in alphabetical order
    correct: int  # index of the answer in options
    explanation: str  # the sentence as said
    at_seconds: float  # the end of the sentence: a moment after the term was said

    @property
    def key(self) -> str:
        return self.answer.lower()


def sentences(segments: Iterable[tuple[float, float, str]]) -> list[Sentence]:
    """Segments split at sentence ends; each piece keeps its segment's times."""
    result = []
    for start, end, text in segments:
        for piece in _SENTENCE.split(" ".join(text.split())):
            if piece.strip():
                result.append(Sentence(start, end, piece.strip()))
    return result


def _candidate(word: str) -> bool:
    return len(word) >= MIN_LENGTH and not word.isdigit() and word not in STOPWORDS


def term_counts(texts: Iterable[str], language: str) -> tuple[Counter, dict[str, str]]:
    """(count per stem, the most frequent surface form of each stem) of candidate words."""
    stemmer = _stemmer(language)
    counts: Counter = Counter()
    forms: dict[str, Counter] = defaultdict(Counter)
    for text in texts:
        words = [w for w in _words(text) if _candidate(w)]
        for word, stem in zip(words, stemmer.stemWords(words), strict=True):
            counts[stem] += 1
            forms[stem][word] += 1
    return counts, {stem: c.most_common(1)[0][0] for stem, c in forms.items()}


def document_frequencies(
    documents: Iterable[tuple[int, str]], stems: set[str]
) -> tuple[dict[str, int], int]:
    """How many documents (other talks) contain each of `stems`, and how many there are.
    `documents` is (talk id, space-separated stems) rows, several rows per talk allowed."""
    seen: dict[int, set[str]] = defaultdict(set)
    for talk_id, text in documents:
        seen[talk_id].update(stems.intersection(text.split()))
    frequencies: Counter = Counter()
    for found in seen.values():
        frequencies.update(found)
    return dict(frequencies), len(seen)


def rank_terms(
    counts: Counter, forms: dict[str, str], frequencies: dict[str, int], documents: int
) -> list[Term]:
    """Key terms, best first: said often here (count >= MIN_COUNT), rare elsewhere."""
    terms = []
    for stem, count in counts.items():
        if count < MIN_COUNT:
            continue
        idf = math.log((1 + documents) / (1 + frequencies.get(stem, 0))) + 1
        terms.append(Term(stem, forms[stem], count, (1 + math.log(count)) * idf))
    return sorted(terms, key=lambda t: (-t.score, t.word))


def _blank(sentence: str, word: str) -> str:
    pattern = re.compile(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])", re.IGNORECASE)
    return pattern.sub(BLANK, sentence, count=1)


def _sentence_for(
    term: Term, listed: Sequence[Sentence], language: str, used: set[int]
) -> tuple[int, str, set[str]] | None:
    """(index, the word as said, the sentence's stems) of the first fitting sentence."""
    stemmer = _stemmer(language)
    for index, sentence in enumerate(listed):
        words = _words(sentence.text)
        if index in used or not MIN_WORDS <= len(words) <= MAX_WORDS:
            continue
        stems = stemmer.stemWords(words)
        if term.stem in stems:
            return index, words[stems.index(term.stem)], set(stems)
    return None


def build(
    listed: Sequence[Sentence],
    terms: Sequence[Term],
    limit: int = 5,
    skip: Iterable[str] = (),
    language: str = "nb",
) -> list[Suggestion]:
    """Fill-in-the-blank drafts for the best terms, one per sentence; the distractors are
    other key terms that the sentence does not contain."""
    skipped = {s.lower() for s in skip}
    used: set[int] = set()
    result = []
    for term in terms:
        if len(result) >= limit:
            break
        found = _sentence_for(term, listed, language, used)
        if found is None:
            continue
        index, word, stems = found
        if word in skipped or term.word in skipped:
            continue
        others = [t.word for t in terms if t.stem not in stems and t.word != word]
        if not others:
            continue
        used.add(index)
        sentence = listed[index]
        options = tuple(sorted([word, *others[:DISTRACTORS]], key=str.lower))
        result.append(Suggestion(_blank(sentence.text, word), word, options, options.index(word),
                                 sentence.text, round(sentence.end, 1)))  # fmt: skip
    return result


def suggest(
    db: sqlite_utils.Database, talk: Talk, limit: int = 5, skip: Iterable[str] = ()
) -> list[Suggestion]:
    """Draft questions for a talk from its indexed transcript (the one database read)."""
    own = db.execute(
        'SELECT start, "end", text FROM search_segments WHERE talk_id = ? ORDER BY idx',
        [talk.id],
    ).fetchall()
    listed = sentences((row[0], row[1], row[2]) for row in own)
    language = talk.language or "nb"
    counts, forms = term_counts((s.text for s in listed), language)
    if not counts:
        return []
    others = db.execute("SELECT talk_id, stems FROM search_segments WHERE talk_id != ?", [talk.id])
    frequencies, documents = document_frequencies(((r[0], r[1]) for r in others), set(counts))
    terms = rank_terms(counts, forms, frequencies, documents)
    return build(listed, terms, limit, skip, language)
