"""Search over transcript segments and talk metadata (domain code, no HTTP).

Index: each segment keeps its NFC ``text`` and ``stems``, its words lower-cased,
Snowball-stemmed (English for English talks, else Norwegian) and joined by single spaces
with a space at each end (" kommunal barnehag "). Both columns live in one FTS5
``trigram`` table, so one MATCH expression mixes per term (all terms must match in one
segment, or in the talk's title/speaker/department/description, indexed alike):
- equal stems, " barnehag " in ``stems``: "barnehagen" finds "barnehager";
- compounds: a stem of >= 4 letters inside ``stems`` ("barnehagen" finds
  "kommunebarnehager") or, when the stem is shorter, the word inside ``text`` ("hage"
  finds "barnehage"); shorter words match whole words only ("nav" never finds "navn");
- "quoted phrases": the stems joined, " kommunal barnehag " (adjacent words).
Each query word is stemmed both ways (Norwegian OR English). Trigram keeps æ/ø/å apart
(this tokenizer has no diacritic folding) and folds case. The query is parsed here; MATCH
only ever sees quoted strings of letters, digits and spaces.

Performance: ranking all matches of a word found in half of a million segments (bm25 or
otherwise) takes ~0.7 s, so only a bounded candidate set is ranked: <= ``_PER_TALK``
segments per talk and ``_MAX_ROWS`` in all, read newest first (FTS5 walks doclists by
rowid descending and stops early; after ``_PER_TALK`` hits it jumps below the talk's first
rowid, since a talk's segments are inserted in one transaction and are contiguous).
Queries with fewer matches are ranked completely; for very frequent words the best of the
~170 most recently indexed matching talks are shown. When filters leave under half of the
talks and the words are frequent (>= 5 % of the newest ``_PROBE_SPAN`` rows), each
eligible talk's rowid range is read instead of wading through everyone else's matches.
Ranking (Python): an equal stem 3, a stem starting a longer word 2, a substring 1, per
term; a talk adds a metadata match (title most) and a little for many hits. A talk shows
its best ``hits_per_talk`` segments in time order.

Near spellings: indexing keeps each talk's distinct words with counts
(``search_talk_vocab``) and, through triggers, all talks' words (``search_vocab``). A
query word that matches fewer than ``_FEW`` segments is looked up among those words
(server/similar.py, the list cached per process and topped up by id); the search runs
again with each near word in its place, under the same filters, and talks found only so
come after the exact ones, marked approximate, with the near words and their hit counts.
While a talk is transcribed its segments come in batches (``index_partial``, status
'processing', marked ``transcribing``); ``index_talk`` replaces them at the end.
"""

from __future__ import annotations

import html
import logging
import math
import re
import sqlite3
import threading
import unicodedata
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import accumulate
from pathlib import Path
from types import ModuleType

import sqlite_utils
import Stemmer

from server.catalogue import similar
from server.catalogue.records import Talk, talk_or_none
from server.core.i18n import N_
from server.core.paging import Page
from server.core.paths import transcript_file
from server.store import is_postgres, write
from server.transcript import model as transcript

# The index's tables are created by server.store.migrations (_M_SEARCH_*).

# Messages are msgids (the query filled in), translated where they are shown.
MSG_EMPTY = N_("Skriv ett eller flere ord for å søke.")
MSG_NOTHING = N_("Fant ingenting for «{query}». Prøv et annet ord eller fjern filtrene.")

_TOKEN = re.compile(r"[^\W_]+")
_MAX_QUERY_CHARS, _MAX_TERMS, _MAX_NEEDLE = 500, 8, 32
_SUBSTRING_MIN = 4  # shorter words/stems match whole words only ("nav" must not find "navn")
_PER_TALK, _MAX_ROWS = 12, 2000
_SKIP_RUN = 64  # rows of talks that have enough, read past before a new statement pays
_PROBE_SPAN, _PROBE_DENSE = 10_000, 500  # >= 5 % of the newest rows match: a frequent word
_DESCRIPTION_WORDS = 30
_VOCAB_MIN = 3  # shorter words are not kept in the vocabulary
_FEW = 3  # a query word with fewer matching segments also looks for near spellings
_NEAR_WORDS = 3
_local = threading.local()  # PyStemmer objects are not thread-safe: one pair per thread
log = logging.getLogger(__name__)


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


# ---------------------------------------------------------------- analysis and indexing


def _stemmer(language: str) -> Stemmer.Stemmer:
    name = "english" if language == "en" else "norwegian"
    if not hasattr(_local, name):
        setattr(_local, name, Stemmer.Stemmer(name))
    return getattr(_local, name)


def _words(text: str) -> list[str]:
    return _TOKEN.findall(unicodedata.normalize("NFC", text).lower())


def _stems(words: list[str], language: str) -> str:
    return " " + " ".join(_stemmer(language).stemWords(words)) + " "


def _insert(
    conn: sqlite3.Connection, talk_id: int, segments: Sequence, language: str, first: int = 0
) -> int:
    rows, counts = [], Counter()
    for idx, seg in enumerate(segments, start=first):
        text = unicodedata.normalize("NFC", seg.text).strip()
        words = _words(text)
        counts.update(w for w in words if w.isalpha() and len(w) >= _VOCAB_MIN)
        rows.append((talk_id, idx, seg.start, seg.end, text, _stems(words, language)))
    sql = 'INSERT INTO search_segments (talk_id, idx, start, "end", text, stems) VALUES '
    conn.executemany(sql + "(?, ?, ?, ?, ?, ?)", rows)
    conn.executemany(
        "INSERT INTO search_talk_vocab (talk_id, word, n) VALUES (?, ?, ?)"
        " ON CONFLICT (talk_id, word) DO UPDATE SET n = n + excluded.n",
        [(talk_id, word, n) for word, n in counts.items()],
    )
    return len(rows)


def _pg() -> ModuleType:
    """server.catalogue.search_pg, which serves a PostgreSQL connection (`is_postgres(db)`)
    through its psycopg connection, `db.raw`; imported when first needed, since it imports
    this module."""
    from server.catalogue import search_pg

    return search_pg


def _forget(conn: sqlite3.Connection, talk_id: int) -> None:
    conn.execute("DELETE FROM search_segments WHERE talk_id = ?", (talk_id,))
    conn.execute("DELETE FROM search_talk_vocab WHERE talk_id = ?", (talk_id,))


def index_talk(
    db: sqlite_utils.Database, talk_id: int, segments: Sequence[transcript.Segment], language: str
) -> None:
    """Replace the talk's segments (a partial index too) in the index, in one transaction."""
    if is_postgres(db):
        return _pg().index_talk(db.raw, talk_id, segments, language)
    with write(db) as conn:
        _forget(conn, talk_id)
        _insert(conn, talk_id, segments, language)


def index_partial(
    db: sqlite_utils.Database,
    talk_id: int,
    segments: Sequence[transcript.Segment],
    first: int,
    language: str,
    allowed: Callable[[sqlite3.Connection], bool] = lambda conn: True,
) -> bool:
    """Add segments first.. of a talk still being transcribed (first == 0 starts over,
    dropping what an earlier attempt left); index_talk replaces them all at the end.
    Nothing is written, and False returned, unless `allowed` holds inside the transaction."""
    if is_postgres(db):  # `allowed` asks in the shared dialect, through db
        return _pg().index_partial(
            db.raw, talk_id, segments, first, language, lambda _: allowed(db)
        )
    with write(db) as conn:
        if not allowed(conn):
            return False
        if first == 0:
            _forget(conn, talk_id)
        _insert(conn, talk_id, segments, language, first)
    return True


def index_many(
    db: sqlite_utils.Database, items: Iterable[tuple[int, Sequence[transcript.Segment], str]]
) -> int:
    """Add (talk_id, segments, language) items in one transaction; returns segments added."""
    if is_postgres(db):
        return _pg().index_many(db.raw, items)
    with write(db) as conn:
        return sum(_insert(conn, *item) for item in items)


def index_talk_metadata(db: sqlite_utils.Database, talk_id: int) -> None:
    """(Re)index title, speaker, department and description from the talks row."""
    if is_postgres(db):
        return _pg().index_talk_metadata(db.raw, talk_id)
    talk = talk_or_none(db.execute("SELECT * FROM talks WHERE id = ?", [talk_id]).fetchone())
    with write(db) as conn:
        conn.execute("DELETE FROM search_talks WHERE talk_id = ?", (talk_id,))
        if talk is None:
            return
        fields = [talk.title, talk.speaker, talk.department, talk.description]
        text = unicodedata.normalize("NFC", "\n".join(fields))
        # "|" between fields keeps a phrase from spanning two of them.
        stems = "|".join(_stems(_words(field), talk.language) for field in fields)
        sql = "INSERT INTO search_talks (talk_id, text, stems) VALUES (?, ?, ?)"
        conn.execute(sql, (talk_id, text, stems))


def remove_talk(db: sqlite_utils.Database, talk_id: int) -> None:
    if is_postgres(db):
        return _pg().remove_talk(db.raw, talk_id)
    with write(db) as conn:
        _forget(conn, talk_id)
        conn.execute("DELETE FROM search_talks WHERE talk_id = ?", (talk_id,))


def _transcripts(db: sqlite_utils.Database, transcripts_dir: Path) -> Iterator[tuple]:
    for (talk_id,) in db.execute("SELECT id FROM talks ORDER BY id").fetchall():
        path = transcript_file(transcripts_dir, talk_id)
        try:
            loaded = transcript.load(path) if path.is_file() else None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("reindex: skipping unreadable %s: %s", path, exc)
            continue
        if loaded is not None:
            yield talk_id, loaded.segments, loaded.language


def reindex_all(db: sqlite_utils.Database, transcripts_dir: Path) -> int:
    """Rebuild the index from transcripts/<id>/transcript.json and the talks table.

    One transaction. The segment and vocabulary triggers are dropped around the bulk load
    and re-created from their own SQL in the schema; the FTS index and the vocabulary are
    rebuilt once (faster than a million trigger calls). Unreadable transcript files are
    logged and skipped. PostgreSQL: search_pg.reindex_all (its own bulk load), then the
    slides and the English tracks as here, in the same transaction.
    """
    if is_postgres(db):
        with write(db):
            count = _pg().reindex_all(db.raw, transcripts_dir)
            _reindex_slides(db)
            _reindex_translations(db, transcripts_dir)
        return count
    with write(db) as conn:
        sql = (
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
            " AND tbl_name IN ('search_segments', 'search_talk_vocab')"
        )
        triggers = conn.execute(sql).fetchall()
        for name, _ in triggers:
            conn.execute(f'DROP TRIGGER "{name}"')
        conn.execute("DELETE FROM search_segments")
        conn.execute("DELETE FROM search_talk_vocab")
        count = index_many(db, _transcripts(db, transcripts_dir))
        conn.execute("INSERT INTO search_segments_fts(search_segments_fts) VALUES ('rebuild')")
        conn.execute("DELETE FROM search_vocab")
        conn.execute(
            "INSERT INTO search_vocab (word, n)"
            " SELECT word, sum(n) FROM search_talk_vocab GROUP BY word ORDER BY word"
        )
        for _, trigger_sql in triggers:
            conn.execute(trigger_sql)
        conn.execute("DELETE FROM search_talks")
        for (talk_id,) in conn.execute("SELECT id FROM talks").fetchall():
            index_talk_metadata(db, talk_id)
        _reindex_slides(db)
        _reindex_translations(db, transcripts_dir)
    return count


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


def match_expression(terms: Sequence[_Term]) -> str:
    """FTS5 MATCH text: AND of terms, each an OR of column-filtered quoted strings (needles
    hold only letters, digits and spaces; quotes are doubled all the same)."""
    quote = lambda needle: '"' + needle.replace('"', '""') + '"'  # noqa: E731
    alternatives = (" OR ".join(f"{c} : {quote(n)}" for c, n in t.needles) for t in terms)
    return " AND ".join(f"({a})" for a in alternatives)


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


# ---------------------------------------------------------------- candidates

_ROWS_SQL = """
SELECT s.id, s.talk_id, s.start, s."end", s.text, s.stems FROM search_segments_fts f
CROSS JOIN search_segments s ON s.id = f.rowid CROSS JOIN talks t ON t.id = s.talk_id
WHERE search_segments_fts MATCH :expr AND f.rowid BETWEEN :lo AND :hi
    AND t.status IN ('ready', 'processing') AND {where}
ORDER BY f.rowid DESC LIMIT :limit"""
_TALKS_SQL = """
SELECT m.talk_id FROM search_talks_fts f
CROSS JOIN search_talks m ON m.talk_id = f.rowid CROSS JOIN talks t ON t.id = m.talk_id
WHERE search_talks_fts MATCH :expr AND {where} ORDER BY f.rowid DESC LIMIT 1000"""
_RANGES_SQL = """
SELECT t.id, (SELECT min(id) FROM search_segments WHERE talk_id = t.id) AS lo,
    (SELECT max(id) FROM search_segments WHERE talk_id = t.id) AS hi
FROM talks t WHERE t.status IN ('ready', 'processing') AND {where} AND lo IS NOT NULL
ORDER BY hi DESC"""
_COUNT_SQL = """
SELECT count(*) FROM search_segments_fts WHERE search_segments_fts MATCH ?
    AND rowid BETWEEN (SELECT min(id) FROM search_segments WHERE talk_id = ?)
    AND (SELECT max(id) FROM search_segments WHERE talk_id = ?)"""
_YEAR_SQL = "CAST(substr(coalesce(t.starts_at, t.created_at), 1, 4) AS INTEGER)"


def _filters(
    department: str | None,
    year: int | None,
    visibilities: Collection[str],
    allowed: tuple[str, dict] | None = None,
) -> tuple[str, dict]:
    params: dict = {f"vis{i}": v for i, v in enumerate(visibilities)}
    sql = [f"t.visibility IN ({', '.join(':' + name for name in params)})"]
    if allowed is not None:  # the viewer's access rule, an SQL condition on talks t
        sql.append(f"({allowed[0]})")
        params.update(allowed[1])
    if department is not None:
        sql.append("t.department = :department")
        params["department"] = department
    if year is not None:
        sql.append(f"{_YEAR_SQL} = :year")
        params["year"] = int(year)
    return " AND ".join(sql), params


def _candidates(db: sqlite_utils.Database, where: str, params: dict) -> tuple[dict, set]:
    """Matching segments by talk (bounded) and the talks whose rows may be incomplete."""
    sql = _ROWS_SQL.format(where=where)
    if _dense(db, params["expr"]):
        ready = "SELECT count(*) FROM talks t WHERE t.status IN ('ready', 'processing')"
        eligible = db.execute(f"{ready} AND {where}", params).fetchone()[0]
        if eligible < db.execute(ready).fetchone()[0] / 2:
            talks = db.execute(_RANGES_SQL.format(where=where), params).fetchall()
            return _scan_talks(db, sql, params, talks)
    return _scan_newest(db, sql, params)


def _dense(db: sqlite_utils.Database, expr: str) -> bool:
    top = db.execute("SELECT max(id) FROM search_segments").fetchone()[0] or 0
    sql = (
        "SELECT count(*) FROM (SELECT 1 FROM search_segments_fts"
        " WHERE search_segments_fts MATCH ? AND rowid > ? LIMIT ?)"
    )
    return db.execute(sql, [expr, top - _PROBE_SPAN, _PROBE_DENSE]).fetchone()[0] >= _PROBE_DENSE


def _scan_newest(db: sqlite_utils.Database, sql: str, params: dict) -> tuple[dict, set]:
    """Matching rows newest first, at most _PER_TALK per talk. The rows of a talk that has
    enough are skipped in the same statement while that is cheaper than a new one (a run of
    up to _SKIP_RUN rows); a longer run jumps below the talk's first rowid."""
    per_talk: dict[int, list] = {}
    partial: set[int] = set()
    hi, fetched, last = 1 << 62, 0, None
    while hi > 0 and fetched < _MAX_ROWS:
        limit = _MAX_ROWS - fetched + _SKIP_RUN
        query, hi, read, skipped = {**params, "lo": 0, "hi": hi, "limit": limit}, 0, 0, 0
        for row in db.execute(sql, query):
            read += 1
            if row["talk_id"] in partial:
                skipped += 1
                if skipped > _SKIP_RUN:  # a long run: jump below the talk's first rowid
                    first = "SELECT min(id) FROM search_segments WHERE talk_id = ?"
                    hi = db.execute(first, [row["talk_id"]]).fetchone()[0] - 1
                    break
                continue
            skipped, fetched, last = 0, fetched + 1, row["talk_id"]
            per_talk.setdefault(last, []).append(row)
            if len(per_talk[last]) >= _PER_TALK:  # enough of this talk
                partial.add(last)
            if fetched >= _MAX_ROWS:
                break
        else:
            if read == limit:  # the LIMIT ended the statement, not the matches: go on below
                hi = row["id"] - 1
    if fetched >= _MAX_ROWS and last is not None:
        partial.add(last)
    return per_talk, partial


def _scan_talks(db: sqlite_utils.Database, sql: str, params: dict, talks: list) -> tuple[dict, set]:
    per_talk: dict[int, list] = {}
    fetched = 0
    for talk_id, lo, hi in talks:
        rows = db.execute(sql, {**params, "lo": lo, "hi": hi, "limit": _PER_TALK}).fetchall()
        if rows:
            per_talk[talk_id] = rows
            fetched += len(rows)
        if fetched >= _MAX_ROWS:
            break
    return per_talk, {talk_id for talk_id, rows in per_talk.items() if len(rows) >= _PER_TALK}


# ---------------------------------------------------------------- search


@dataclass(frozen=True)
class Engine:
    """The parts of `search` that each database does its own way."""

    filters: Callable[..., tuple[str, dict]]  # (department, year, visibilities, allowed)
    search: Callable[..., tuple[list, list]]  # exact hits: (groups, ranked talk ids)
    forgiving: Callable[..., tuple[list, list]]  # near spellings: (near words, groups)
    sql: Callable[[str], str] = str  # an access rule's SQLite text in this engine's dialect


def search(
    db: sqlite_utils.Database,
    query: str,
    *,
    department: str | None = None,
    year: int | None = None,
    visibilities: Collection[str] = ("public", "internal"),
    allowed: tuple[str, dict] | None = None,
    transcripts_allowed: tuple[str, dict] | None = None,
    limit_talks: int = 20,
    hits_per_talk: int = 5,
    page: int = 1,
    engine: Engine | None = None,
) -> SearchResults:
    """Talks matching every word/phrase of the query, best first (see the module doc).

    `allowed` is an extra SQL condition on the talks table (alias t) with named parameters:
    the viewer's access rule (server.people.access.Visibility.visible_sql). `transcripts_allowed`
    narrows further which talks' transcripts may give hits (unreviewed transcripts when
    captions are published only after review); titles and descriptions still match.
    `page` (from 1) of `limit_talks` talks each: exact matches first, then near spellings.
    `engine`: the database's own parts of the search (by default the connection's: SQLite's
    here, PostgreSQL's in server.catalogue.search_pg); how they are put together is the
    same on both.
    """
    if engine is None and is_postgres(db):
        db, engine = db.raw, _pg().ENGINE
    engine = engine or SQLITE
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


def _forgiving(
    db: sqlite_utils.Database,
    terms: list[_Term],
    wheres: tuple[str, str],
    params: dict,
    exact: Collection[int],
    hits: int,
) -> tuple[list[tuple[str, int]], list[TalkHits]]:
    """Near spellings of the query words that match few segments: each near word with its
    number of hits the viewer may see, and the talks found only through them (after the
    exact ones, marked approximate). The search runs again with the word replaced, under
    the same filters, so a word from a talk the viewer may not see is never named."""
    near: list[tuple[str, int]] = []
    seen = set(exact)  # the talks the exact search found
    found: list[TalkHits] = []
    for i, term in enumerate(terms):
        if not term.word or _count(db, term) >= _FEW:
            continue
        for candidate in _vocabulary(db).near(term.word, _NEAR_WORDS):
            alternative = _near_term(candidate)
            if _score(candidate.word, _stems(_words(candidate.word), "nb"), [term]):
                continue  # the exact search finds it already
            swapped = [*terms[:i], alternative, *terms[i + 1 :]]
            groups = [g for g in _search(db, swapped, wheres, params, 20, hits)[0] if g.hits]
            if groups:
                near.append((candidate.word, sum(g.total_hits for g in groups)))
            for group in groups:
                if group.talk_id not in seen:
                    seen.add(group.talk_id)
                    found.append(replace(group, approximate=True))
    return near, found


def _near_term(near: similar.Near) -> _Term:
    if near.parts:  # a split compound: the two words as a phrase
        return _term([("stems", _stems(list(near.parts), lang)) for lang in ("nb", "en")])
    return _word_term(near.word)


def _count(db: sqlite_utils.Database, term: _Term) -> int:
    """Segments matching the term, counted up to _FEW (all talks: it only decides whether
    to look for near spellings)."""
    sql = (
        "SELECT count(*) FROM (SELECT 1 FROM search_segments_fts"
        " WHERE search_segments_fts MATCH ? LIMIT ?)"
    )
    return db.execute(sql, [match_expression([term]), _FEW]).fetchone()[0]


_vocab_lock = threading.Lock()
_vocab_cache: dict[str, tuple[int, similar.Vocabulary]] = {}


def _vocabulary(db: sqlite_utils.Database) -> similar.Vocabulary:
    """All talks' words, cached per database file and topped up with new words (ids only
    grow); a word whose talks were all removed stays in the cache, which is harmless: a
    near word is only named when the viewer's own search finds it."""
    path = db.execute("PRAGMA database_list").fetchone()[2] or f":memory:{id(db)}"
    with _vocab_lock:
        top, vocabulary = _vocab_cache.get(path, (0, None))
        newest = db.execute("SELECT coalesce(max(id), 0) FROM search_vocab").fetchone()[0]
        if vocabulary is None or newest < top:
            top, vocabulary = 0, similar.Vocabulary(())
        if newest > top:
            sql = "SELECT word FROM search_vocab WHERE id > ?"
            vocabulary.add(row[0] for row in db.execute(sql, [top]))
        _vocab_cache[path] = (newest, vocabulary)
        return vocabulary


def _search(
    db: sqlite_utils.Database,
    terms: list[_Term],
    wheres: tuple[str, str],
    params: dict,
    limit: int,
    hits: int,
    offset: int = 0,
) -> tuple[list[TalkHits], list[int]]:
    """The groups of talks offset..offset+limit in rank order, and every ranked talk's id."""
    where, segment_where = wheres  # talks in general / talks whose transcripts may match
    expr = match_expression(terms)
    params = {**params, "expr": expr}
    per_talk, partial = _candidates(db, segment_where, params)
    for talk_id, rows in _slide_rows(db, segment_where, params).items():
        per_talk[talk_id] = [*per_talk.get(talk_id, []), *rows]
    for talk_id, rows in _translation_rows(db, segment_where, params).items():
        per_talk[talk_id] = [*per_talk.get(talk_id, []), *rows]
    meta = {row[0] for row in db.execute(_TALKS_SQL.format(where=where), params)}
    ids = sorted(set(per_talk) | meta)
    talks = db.execute(f"SELECT * FROM talks WHERE id IN ({','.join('?' * len(ids))})", ids)

    def rank(talk: Talk) -> tuple:
        score = _talk_score(talk, per_talk.get(talk.id, []), terms, talk.id in meta)
        return -score, -_when(talk), talk.id

    ranked = sorted(map(Talk.from_row, talks.fetchall()), key=rank)
    groups = []
    for talk in ranked[offset : offset + limit]:
        rows = per_talk.get(talk.id, [])
        total = len(rows)
        if talk.id in partial:
            spoken = db.execute(_COUNT_SQL, [expr, talk.id, talk.id]).fetchone()[0]
            total = spoken + sum(1 for r in rows if _kind(r) != "speech")
        groups.append(_group(talk, rows, terms, hits, total))
    return groups, [talk.id for talk in ranked]


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


def _hit_url(slug: str, row: sqlite3.Row) -> str:
    """The talk at the hit's moment; an English hit also selects the English captions
    (?tekst=en, read by the player)."""
    english = "&tekst=en" if _kind(row) == "english" else ""
    return f"/talks/{slug}?t={int(row['start'])}{english}"


def _when(talk: Talk) -> float:
    """starts_at (or created_at) as a sortable number."""
    return float(re.sub(r"\D", "", talk.starts_at or talk.created_at or "")[:12] or 0)


def departments(db: sqlite_utils.Database, allowed: tuple[str, dict] = ("1 = 1", {})) -> list[str]:
    """Departments of the talks the viewer may see (`allowed` as in search)."""
    if is_postgres(db):
        return _pg().departments(db.raw, allowed)
    sql = (
        f"SELECT DISTINCT department FROM talks t WHERE department != '' AND ({allowed[0]}) "
        "ORDER BY department"
    )
    return [row[0] for row in db.execute(sql, allowed[1])]


def years(db: sqlite_utils.Database, allowed: tuple[str, dict] = ("1 = 1", {})) -> list[int]:
    if is_postgres(db):
        return _pg().years(db.raw, allowed)
    sql = (
        f"SELECT DISTINCT {_YEAR_SQL} AS y FROM talks t WHERE y > 0 AND ({allowed[0]}) "
        "ORDER BY y DESC"
    )
    return [row[0] for row in db.execute(sql, allowed[1])]


# ---------------------------------------------------------------- slides

# A slide's text (server.catalogue.slides) is indexed like a segment, in a table of its
# own: a hit says it is on a slide and leads to the second the slide appeared. The same
# filters apply (the viewer's access rule and whether the talk's transcript may be shown).
_SLIDE_ROWS_SQL = """
SELECT s.id, s.talk_id, s.start, s.start AS "end", s.text, s.stems, 'slide' AS kind
FROM search_slides_fts f CROSS JOIN search_slides s ON s.id = f.rowid
CROSS JOIN talks t ON t.id = s.talk_id
WHERE search_slides_fts MATCH :expr AND t.status IN ('ready', 'processing') AND {where}
ORDER BY f.rowid DESC LIMIT :limit"""
_SLIDE_WORDS = 24  # a slide hit shows about this many words around what matched


def index_slides(
    db: sqlite_utils.Database, talk_id: int, slides: Sequence[tuple[int, float, str]], language: str
) -> None:
    """Replace the talk's slides (index, second, text) in the index."""
    if is_postgres(db):
        return _pg().index_slides(db.raw, talk_id, slides, language)
    with write(db) as conn:
        conn.execute("DELETE FROM search_slides WHERE talk_id = ?", (talk_id,))
        rows = []
        for idx, at, text in slides:
            flat = " · ".join(line.strip() for line in text.splitlines() if line.strip())
            flat = unicodedata.normalize("NFC", flat)
            if flat:
                rows.append((talk_id, idx, at, flat, _stems(_words(flat), language)))
        sql = "INSERT INTO search_slides (talk_id, idx, start, text, stems) VALUES (?, ?, ?, ?, ?)"
        conn.executemany(sql, rows)


def _reindex_slides(db: sqlite_utils.Database) -> None:
    sql = (
        "SELECT s.talk_id, s.idx, s.at, s.text, t.language FROM slides s"
        " JOIN talks t ON t.id = s.talk_id ORDER BY s.talk_id, s.idx"
    )
    by_talk: dict[int, tuple[str, list]] = {}
    for row in db.execute(sql).fetchall():
        by_talk.setdefault(row["talk_id"], (row["language"], []))[1].append(
            (row["idx"], row["at"], row["text"])
        )
    with write(db) as conn:
        conn.execute("DELETE FROM search_slides")
        for talk_id, (language, slides) in by_talk.items():
            index_slides(db, talk_id, slides, language)


def _slide_rows(db: sqlite_utils.Database, where: str, params: dict) -> dict[int, list]:
    """Matching slides by talk, at most _PER_TALK each."""
    per_talk: dict[int, list] = {}
    query = {**params, "limit": _MAX_ROWS}
    for row in db.execute(_SLIDE_ROWS_SQL.format(where=where), query):
        rows = per_talk.setdefault(row["talk_id"], [])
        if len(rows) < _PER_TALK:
            rows.append(row)
    return per_talk


def _kind(row: sqlite3.Row) -> str:
    return row["kind"] if "kind" in row.keys() else "speech"  # noqa: SIM118 (Row: in = values)


# ---------------------------------------------------------------- English (machine translation)

# The English caption track (server.transcript.translation) is indexed in a table of its
# own, stemmed as English: an English query finds a Norwegian talk through it, and the hit
# says it is in the English machine translation (kind "english").
_TRANSLATION_ROWS_SQL = """
SELECT s.id, s.talk_id, s.start, s."end", s.text, s.stems, 'english' AS kind
FROM search_translations_fts f CROSS JOIN search_translations s ON s.id = f.rowid
CROSS JOIN talks t ON t.id = s.talk_id
WHERE search_translations_fts MATCH :expr AND t.status IN ('ready', 'processing') AND {where}
AND NOT EXISTS (SELECT 1 FROM translations w WHERE w.talk_id = t.id AND w.wanted = 0)
ORDER BY f.rowid DESC LIMIT :limit"""


def index_translation(
    db: sqlite_utils.Database, talk_id: int, segments: Sequence[transcript.Segment]
) -> None:
    """Replace the talk's English segments in the index."""
    if is_postgres(db):
        return _pg().index_translation(db.raw, talk_id, segments)
    with write(db) as conn:
        conn.execute("DELETE FROM search_translations WHERE talk_id = ?", (talk_id,))
        rows = []
        for idx, seg in enumerate(segments):
            text = unicodedata.normalize("NFC", seg.text).strip()
            rows.append((talk_id, idx, seg.start, seg.end, text, _stems(_words(text), "en")))
        conn.executemany(
            'INSERT INTO search_translations (talk_id, idx, start, "end", text, stems)'
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )


def _reindex_translations(db: sqlite_utils.Database, transcripts_dir: Path) -> None:
    """Rebuild the English rows from transcripts/<id>/en/transcript.json (done tracks only)."""
    with write(db) as conn:
        conn.execute("DELETE FROM search_translations")
        sql = "SELECT talk_id FROM translations WHERE state = 'done' ORDER BY talk_id"
        for (talk_id,) in conn.execute(sql).fetchall():
            path = transcript_file(transcripts_dir, talk_id, "en")
            try:
                loaded = transcript.load(path)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("reindex: skipping unreadable %s: %s", path, exc)
                continue
            index_translation(db, talk_id, loaded.segments)


def _translation_rows(db: sqlite_utils.Database, where: str, params: dict) -> dict[int, list]:
    """Matching English segments by talk, at most _PER_TALK each; only tracks the viewer
    may see (made, not turned off, and reviewed where captions wait for review: the same
    condition as the original transcript's, `where`, plus the English track's own review
    state; server.transcript.translation.visible)."""
    per_talk: dict[int, list] = {}
    query = {**params, "limit": _MAX_ROWS}
    own = "(SELECT review FROM translations r WHERE r.talk_id = t.id)"
    if "transcript_state" in where:  # captions wait for review: the English track's own
        where = where.replace("t.transcript_state", own)
    for row in db.execute(_TRANSLATION_ROWS_SQL.format(where=where), query):
        rows = per_talk.setdefault(row["talk_id"], [])
        if len(rows) < _PER_TALK:
            rows.append(row)
    return per_talk


def _row_language(row: sqlite3.Row, language: str) -> str:
    return "en" if _kind(row) == "english" else language


SQLITE = Engine(_filters, _search, _forgiving)
