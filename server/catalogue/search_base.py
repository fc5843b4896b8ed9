"""What search on SQLite (server.catalogue.search) and on PostgreSQL
(server.catalogue.search_pg) share: word analysis (NFC, lower case, Snowball stems), query
parsing into terms and their needles, scoring, snippets, the result records, and `search`,
which puts an engine's own parts (`Engine`: filters, candidates, near spellings) together
the same way for both. Domain code, no HTTP; it touches no database itself. How matching
and ranking work is described in server.catalogue.search.
"""

from __future__ import annotations

import html
import math
import re
import threading
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import Stemmer

from server.catalogue import similar
from server.catalogue.records import Talk
from server.core.i18n import N_
from server.core.paging import Page

# Messages are msgids (the query filled in), translated where they are shown.
MSG_EMPTY = N_("Skriv ett eller flere ord for å søke.")
MSG_NOTHING = N_("Fant ingenting for «{query}». Prøv et annet ord eller fjern filtrene.")


_TOKEN = re.compile(r"[^\W_]+")
_MAX_QUERY_CHARS, _MAX_TERMS, _MAX_NEEDLE = 500, 8, 32
_SUBSTRING_MIN = 4  # shorter words/stems match whole words only ("nav" must not find "navn")
_PER_TALK, _MAX_ROWS = 12, 2000
_PROBE_SPAN, _PROBE_DENSE = 10_000, 500  # >= 5 % of the newest rows match: a frequent word
_DESCRIPTION_WORDS = 30
_VOCAB_MIN = 3  # shorter words are not kept in the vocabulary
_FEW = 3  # a query word with fewer matching segments also looks for near spellings
_NEAR_WORDS = 3
_local = threading.local()  # PyStemmer objects are not thread-safe: one pair per thread
_SLIDE_WORDS = 24  # a slide hit shows about this many words around what matched


@dataclass(frozen=True)
class Hit:
    start: float
    end: float
    snippet_html: str
    url: str
    kind: str = "speech"  # "slide": on the slide shown from `start`; "english": in the
    # English machine translation (its url selects the English captions)


@dataclass(frozen=True)
class TalkHits:
    talk_id: int
    slug: str
    title: str
    speaker: str
    department: str
    starts_at: str | None
    title_html: str
    description_html: str  # a snippet around the first match, or ""
    hits: list[Hit]
    total_hits: int
    transcribing: bool = False  # the talk is still being transcribed: more may come
    approximate: bool = False  # found through a near spelling of a query word


@dataclass(frozen=True)
class SearchResults:
    query: str  # the query as searched (cleaned); plain text
    groups: list[TalkHits]
    message: str | None  # plain text for the page, escape it when rendering
    similar: list[tuple[str, int]] = field(default_factory=list)  # near words, their hits
    page: Page = field(default_factory=lambda: Page(1, 20, 0))  # where among all talks found


@dataclass(frozen=True)
class _Term:
    """A word or phrase: it matches when any (column, needle) alternative is a substring."""

    needles: tuple[tuple[str, str], ...]
    word: str = ""  # the query word (a single-word term), for near spellings


# ---------------------------------------------------------------- analysis


def _stemmer(language: str) -> Stemmer.Stemmer:
    name = "english" if language == "en" else "norwegian"
    if not hasattr(_local, name):
        setattr(_local, name, Stemmer.Stemmer(name))
    return getattr(_local, name)


def _words(text: str) -> list[str]:
    return _TOKEN.findall(unicodedata.normalize("NFC", text).lower())


def _stems(words: list[str], language: str) -> str:
    return " " + " ".join(_stemmer(language).stemWords(words)) + " "


# ---------------------------------------------------------------- query parsing


def _clean(query: str) -> str:
    """Drop control characters and lone surrogates; collapse spaces; cap the length."""
    query = unicodedata.normalize("NFC", query[: _MAX_QUERY_CHARS * 2])
    kept = "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in query)
    return " ".join(kept.split())[:_MAX_QUERY_CHARS]


def _word_term(word: str) -> _Term:
    needles = []
    for language in ("nb", "en"):
        stem = _stemmer(language).stemWord(word)
        needles.append(("stems", stem if len(stem) >= _SUBSTRING_MIN else f" {stem} "))
    if len(word) >= _SUBSTRING_MIN and needles[0][1].startswith(" "):
        needles.append(("text", word))  # "hage" (stem "hag") inside "barnehage"
    return _term(needles, word)


def _term(needles: list[tuple[str, str]], word: str = "") -> _Term:
    """Cut needles to _MAX_NEEDLE (a prefix still matches) and drop one that contains
    another needle of its column (it adds no match)."""
    unique = dict.fromkeys((col, needle[:_MAX_NEEDLE]) for col, needle in needles)
    kept = [(c, n) for c, n in unique if not any(c == d and m != n and m in n for d, m in unique)]
    return _Term(tuple(kept), word)


def parse_query(query: str) -> list[_Term]:
    """Words and "quoted phrases" (an unbalanced quote is ignored); at most _MAX_TERMS."""
    parts = _clean(query).split('"')
    terms: list[_Term] = []
    for i, part in enumerate(parts):
        words = _words(part)
        if i % 2 == 1 and i < len(parts) - 1 and len(words) > 1:
            terms.append(_term([("stems", _stems(words, lang)) for lang in ("nb", "en")]))
        else:
            terms.extend(_word_term(word) for word in words)
    return list(dict.fromkeys(terms))[:_MAX_TERMS]


# ---------------------------------------------------------------- scoring and snippets


def _score(text: str, stems: str, terms: Sequence[_Term]) -> float:
    """Per term its best needle: an equal stem 3, a stem starting a word 2, a substring 1."""
    text, total = text.lower(), 0.0
    for term in terms:
        best = 0.0
        for column, needle in term.needles:
            if column == "text":
                best = max(best, 1.0 if needle in text else 0.0)
            elif f" {needle.strip()} " in stems:
                best = 3.0
            elif " " + needle.lstrip() in stems:
                best = max(best, 2.0)
            elif needle in stems:
                best = max(best, 1.0)
        total += best
    return total


def _marked(tokens: list[re.Match[str]], language: str, terms: Sequence[_Term]) -> set[int]:
    """Indexes of the tokens that a needle touches (the same substring test as MATCH)."""
    words = [m.group().lower() for m in tokens]
    marked: set[int] = set()
    for column, items in (("text", words), ("stems", _stemmer(language).stemWords(words))):
        hay = " " + " ".join(items) + " "
        starts = list(accumulate((len(item) + 1 for item in items), initial=1))[:-1]
        for needle in (n for term in terms for c, n in term.needles if c == column):
            at = hay.find(needle)
            while at >= 0:
                first = max(bisect_right(starts, at) - 1, 0)
                last = bisect_right(starts, at + len(needle) - 1)
                marked.update(i for i in range(first, last) if starts[i] + len(items[i]) > at)
                at = hay.find(needle, at + 1)
    return marked


def highlight(text: str, language: str, terms: Sequence[_Term], window: int = 0) -> str:
    """Escaped text with matching words in <mark>; window > 0 cuts around the first match."""
    text = unicodedata.normalize("NFC", text)
    tokens = list(_TOKEN.finditer(text))
    marked = _marked(tokens, language, terms)
    lo, hi = 0, len(tokens)
    if window and len(tokens) > window:
        lo = max(min(marked, default=0) - window // 3, 0)
        hi = min(lo + window, len(tokens))
    cut_from = tokens[lo].start() if lo else 0
    cut_to = tokens[hi].start() if hi < len(tokens) else len(text)
    out, pos = [], cut_from
    for i in range(lo, hi):
        start, end = tokens[i].span()
        word = html.escape(text[start:end])
        out += [html.escape(text[pos:start]), f"<mark>{word}</mark>" if i in marked else word]
        pos = end
    body = ("".join(out) + html.escape(text[pos:cut_to])).strip()
    return ("… " if cut_from else "") + body + (" …" if cut_to < len(text) else "")


# ---------------------------------------------------------------- search


@dataclass(frozen=True)
class Engine:
    """The parts of `search` that each database does its own way."""

    filters: Callable[..., tuple[str, dict]]  # (department, year, visibilities, allowed)
    search: Callable[..., tuple[list, list]]  # exact hits: (groups, ranked talk ids)
    forgiving: Callable[..., tuple[list, list]]  # near spellings: (near words, groups)
    sql: Callable[[str], str] = str  # an access rule's SQLite text in this engine's dialect


def search(
    db: Any,
    query: str,
    *,
    engine: Engine,
    department: str | None = None,
    year: int | None = None,
    visibilities: Collection[str] = ("public", "internal"),
    allowed: tuple[str, dict] | None = None,
    transcripts_allowed: tuple[str, dict] | None = None,
    limit_talks: int = 20,
    hits_per_talk: int = 5,
    page: int = 1,
) -> SearchResults:
    """Talks matching every word/phrase of the query, best first (server.catalogue.search
    describes how), through `engine`, the database's own parts (its connection is `db`).

    `allowed` is an extra SQL condition on the talks table (alias t) with named parameters:
    the viewer's access rule (server.people.access.Visibility.visible_sql). `transcripts_allowed`
    narrows further which talks' transcripts may give hits (unreviewed transcripts when
    captions are published only after review); titles and descriptions still match.
    `page` (from 1) of `limit_talks` talks each: exact matches first, then near spellings.
    """
    shown, terms = _clean(query), parse_query(query)
    if not terms:
        return SearchResults(shown, [], MSG_EMPTY)
    groups, found = [], 0
    offset = (page - 1) * limit_talks
    if visibilities:
        where, params = engine.filters(department, year, visibilities, allowed)
        segment_where = where
        if transcripts_allowed is not None:
            segment_where = f"{where} AND ({engine.sql(transcripts_allowed[0])})"
            params = {**params, **transcripts_allowed[1]}
        wheres = (where, segment_where)
        groups, ranked = engine.search(
            db, terms, wheres, params, limit_talks, hits_per_talk, offset
        )
        near, approximate = engine.forgiving(db, terms, wheres, params, ranked, hits_per_talk)
        start, stop = (max(n - len(ranked), 0) for n in (offset, offset + limit_talks))
        groups += approximate[start:stop]
        found = len(ranked) + len(approximate)
    where = Page(page, limit_talks, found)
    if not found:
        short = shown if len(shown) <= 60 else shown[:59] + "…"
        return SearchResults(shown, [], MSG_NOTHING.format(query=short), page=where)
    return SearchResults(shown, groups, None, near, where)


def _near_term(near: similar.Near) -> _Term:
    if near.parts:  # a split compound: the two words as a phrase
        return _term([("stems", _stems(list(near.parts), lang)) for lang in ("nb", "en")])
    return _word_term(near.word)


def _talk_score(talk: Talk, rows: list, terms: Sequence[_Term], meta: bool) -> float:
    """Best segment, a little for many segments, and a metadata match (title most)."""
    score = max((_score(r["text"], r["stems"], terms) for r in rows), default=0.0)
    score += math.log1p(len(rows)) / 2
    if meta:
        title = _words(talk.title)
        in_title = _score(" ".join(title), _stems(title, talk.language), terms)
        score += 4.0 + in_title if in_title else 2.0
    return score


def _group(talk: Talk, rows: list, terms: Sequence[_Term], hits: int, total: int) -> TalkHits:
    best = sorted(rows, key=lambda r: -_score(r["text"], r["stems"], terms))[:hits]
    language, slug = talk.language, talk.slug
    description = highlight(talk.description, language, terms, _DESCRIPTION_WORDS)
    return TalkHits(
        talk_id=talk.id,
        slug=slug,
        title=talk.title,
        speaker=talk.speaker,
        department=talk.department,
        starts_at=talk.starts_at,
        title_html=highlight(talk.title, language, terms),
        description_html=description if "<mark>" in description else "",
        hits=[
            Hit(
                r["start"],
                r["end"],
                highlight(
                    r["text"],
                    _row_language(r, language),
                    terms,
                    _SLIDE_WORDS if _kind(r) == "slide" else 0,
                ),
                _hit_url(slug, r),
                _kind(r),
            )
            for r in sorted(best, key=lambda r: r["start"])
        ],
        total_hits=total,
        transcribing=talk.status == "processing",
    )


def _hit_url(slug: str, row: Any) -> str:
    """The talk at the hit's moment; an English hit also selects the English captions
    (?tekst=en, read by the player)."""
    english = "&tekst=en" if _kind(row) == "english" else ""
    return f"/talks/{slug}?t={int(row['start'])}{english}"


def _when(talk: Talk) -> float:
    """starts_at (or created_at) as a sortable number."""
    return float(re.sub(r"\D", "", talk.starts_at or talk.created_at or "")[:12] or 0)


def _kind(row: Any) -> str:
    return row["kind"] if "kind" in row.keys() else "speech"  # noqa: SIM118 (Row: in = values)


def _row_language(row: Any, language: str) -> str:
    return "en" if _kind(row) == "english" else language
