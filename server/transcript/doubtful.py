"""Doubtful words in a transcript, for review (domain code, no HTTP).

A word is doubtful when the recogniser was unsure of it (its probability in
transcript.json is below ``LOW_PROBABILITY``) or, in a bokmål or nynorsk talk, when
neither Debian's bokmål nor its nynorsk hunspell dictionary (package ``hunspell-no``,
read with the ``hunspell`` binding) knows it. English talks, and a server without the
dictionaries (a warning is logged), get the probability mark only. Dictionary
suggestions are slow for Norwegian compounds (~0.5 s a word), so they are made one word
at a time, when the reviewer gets to it, and cached.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from server.catalogue import similar
from server.core.i18n import N_
from server.transcript.model import Segment

LOW_PROBABILITY = 0.5
DICTIONARY_DIR = Path("/usr/share/hunspell")
DICTIONARIES = {"nb": ("nb_NO", "nn_NO"), "nn": ("nn_NO", "nb_NO")}
MAX_SUGGESTIONS = 5
LOW = N_("Talegjenkjenningen var usikker på dette ordet")
UNKNOWN = N_("Ordet står ikke i ordboka")
_WORD = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*")
_lock = threading.Lock()
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Doubt:
    word: str
    start: int  # character offset in the segment's text
    reasons: tuple[str, ...]  # msgids: LOW and/or UNKNOWN
    probability: float | None


class Speller:
    """The talk language's dictionaries (its own first); a word is known if any knows it."""

    def __init__(self, names: Sequence[str], folder: Path = DICTIONARY_DIR) -> None:
        import hunspell

        self.dictionaries = []
        for name in names:
            dic, aff = folder / f"{name}.dic", folder / f"{name}.aff"
            if dic.is_file() and aff.is_file():
                self.dictionaries.append(hunspell.HunSpell(str(dic), str(aff)))
            else:
                log.warning("No dictionary %s: install Debian's hunspell-no", dic)

    def known(self, word: str) -> bool:
        with _lock:  # one hunspell handle is not safe to share between threads
            return any(d.spell(word) for d in self.dictionaries)

    def suggest(self, word: str) -> list[str]:
        with _lock:
            found = [s for d in self.dictionaries[:1] for s in d.suggest(word)]
        return list(dict.fromkeys(found))[:MAX_SUGGESTIONS]


@functools.cache
def speller(language: str) -> Speller | None:
    """The speller for a talk language; None where none is installed for it (English)."""
    names = DICTIONARIES.get(language)
    found = Speller(names) if names else None
    return found if found is not None and found.dictionaries else None


def doubts(segment: Segment, language: str) -> list[Doubt]:
    """The segment's doubtful words, in order. Word probabilities come from the recogniser's
    words whose text is still the same (an edited word has none)."""
    probabilities = _probabilities(segment)
    check = speller(language)
    found = []
    for match in _WORD.finditer(unicodedata.normalize("NFC", segment.text)):
        word = match.group()
        probability = probabilities.get((match.start(), word))
        reasons = []
        if probability is not None and probability < LOW_PROBABILITY:
            reasons.append(LOW)
        if check is not None and not check.known(word):
            reasons.append(UNKNOWN)
        if reasons:
            found.append(Doubt(word, match.start(), tuple(reasons), probability))
    return found


def _probabilities(segment: Segment) -> dict[tuple[int, str], float]:
    """(offset in the text, word) -> probability, for the recogniser's words found in order."""
    text, at, out = unicodedata.normalize("NFC", segment.text), 0, {}
    for word in segment.words:
        for match in _WORD.finditer(unicodedata.normalize("NFC", word.word)):
            where = text.find(match.group(), at)
            if where < 0:
                break
            out[(where, match.group())] = word.probability
            at = where + len(match.group())
    return out


def suggestions(word: str, language: str, vocabulary: Iterable[str]) -> dict[str, list[str]]:
    """Dictionary suggestions and near words from the talk's own vocabulary (its terms
    and the words of its transcript)."""
    near = [n.word for n in similar.Vocabulary(vocabulary).near(word, MAX_SUGGESTIONS)]
    check = speller(language)
    return {
        "dictionary": _suggest(word, language) if check is not None else [],
        "vocabulary": [w for w in near if w != word.lower()],
    }


@functools.lru_cache(maxsize=2048)
def _suggest(word: str, language: str) -> list[str]:
    check = speller(language)
    return check.suggest(word) if check is not None else []
