"""What changed between two versions of a transcript, word by word (difflib), for the
versions page. Plain data in, plain data out."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from server.transcript.model import Segment

SAME, ADDED, REMOVED = "same", "added", "removed"


@dataclass(frozen=True)
class Piece:
    kind: str  # SAME, ADDED or REMOVED
    text: str


@dataclass(frozen=True)
class Change:
    """One run of changed segments: where it is (in the newer version, or where the removed
    text was) and its words, marked."""

    start: float
    end: float
    pieces: tuple[Piece, ...]


def word_diff(old: str, new: str) -> tuple[Piece, ...]:
    """The words of `new` with those of `old` that were removed, in reading order."""
    before, after = old.split(), new.split()
    pieces: list[Piece] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            pieces.append(Piece(SAME, " ".join(after[j1:j2])))
            continue
        if i2 > i1:
            pieces.append(Piece(REMOVED, " ".join(before[i1:i2])))
        if j2 > j1:
            pieces.append(Piece(ADDED, " ".join(after[j1:j2])))
    return tuple(pieces)


def changes(old: Sequence[Segment], new: Sequence[Segment]) -> list[Change]:
    """The segments whose text differs, aligned by text (split, merged, added and removed
    segments included); segments whose only change is their times are left out."""
    texts_old, texts_new = [s.text for s in old], [s.text for s in new]
    matcher = difflib.SequenceMatcher(a=texts_old, b=texts_new, autojunk=False)
    found = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        where = new[j1:j2] or old[i1:i2]
        pieces = word_diff(" ".join(texts_old[i1:i2]), " ".join(texts_new[j1:j2]))
        found.append(Change(where[0].start, where[-1].end, pieces))
    return found
