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

import logging
import sqlite3
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import sqlite_utils

from server.catalogue import search_base, search_pg, similar
from server.catalogue.records import Talk, talk_or_none
from server.catalogue.search_base import (  # noqa: F401 (also this module's public names)
    _FEW,
    _MAX_ROWS,
    _NEAR_WORDS,
    _PER_TALK,
    _PROBE_DENSE,
    _PROBE_SPAN,
    _VOCAB_MIN,
    MSG_EMPTY,
    MSG_NOTHING,
    Engine,
    Hit,
    SearchResults,
    TalkHits,
    _group,
    _kind,
    _near_term,
    _score,
    _stems,
    _talk_score,
    _Term,
    _when,
    _words,
    highlight,
    parse_query,
)
from server.core.paths import transcript_file
from server.store import is_postgres, write
from server.transcript import model as transcript

# The index's tables are created by server.store.migrations (_M_SEARCH_*). What both
# engines share is in server.catalogue.search_base; PostgreSQL's own parts are in
# server.catalogue.search_pg, which every public function here hands a PostgreSQL
# connection to (`is_postgres(db)`: its psycopg connection, `db.raw`).

_SKIP_RUN = 64  # rows of talks that have enough, read past before a new statement pays
log = logging.getLogger(__name__)


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


def _forget(conn: sqlite3.Connection, talk_id: int) -> None:
    conn.execute("DELETE FROM search_segments WHERE talk_id = ?", (talk_id,))
    conn.execute("DELETE FROM search_talk_vocab WHERE talk_id = ?", (talk_id,))


def index_talk(
    db: sqlite_utils.Database, talk_id: int, segments: Sequence[transcript.Segment], language: str
) -> None:
    """Replace the talk's segments (a partial index too) in the index, in one transaction."""
    if is_postgres(db):
        return search_pg.index_talk(db.raw, talk_id, segments, language)
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
        return search_pg.index_partial(
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
        return search_pg.index_many(db.raw, items)
    with write(db) as conn:
        return sum(_insert(conn, *item) for item in items)


def index_talk_metadata(db: sqlite_utils.Database, talk_id: int) -> None:
    """(Re)index title, speaker, department and description from the talks row."""
    if is_postgres(db):
        return search_pg.index_talk_metadata(db.raw, talk_id)
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
        return search_pg.remove_talk(db.raw, talk_id)
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
            count = search_pg.reindex_all(db.raw, transcripts_dir)
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


# ---------------------------------------------------------------- query to FTS5


def match_expression(terms: Sequence[_Term]) -> str:
    """FTS5 MATCH text: AND of terms, each an OR of column-filtered quoted strings (needles
    hold only letters, digits and spaces; quotes are doubled all the same)."""
    quote = lambda needle: '"' + needle.replace('"', '""') + '"'  # noqa: E731
    alternatives = (" OR ".join(f"{c} : {quote(n)}" for c, n in t.needles) for t in terms)
    return " AND ".join(f"({a})" for a in alternatives)


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


def search(db: sqlite_utils.Database, query: str, **options: Any) -> SearchResults:
    """Talks matching every word/phrase of the query, best first (see the module doc), on
    the connection's engine; the options are search_base.search's: department, year,
    visibilities, allowed (the viewer's access rule, an SQL condition on talks t),
    transcripts_allowed, limit_talks, hits_per_talk, page, and engine (the database's own
    parts: by default SQLite's here, or PostgreSQL's for a PostgreSQL connection)."""
    engine = options.pop("engine", None)
    if engine is None and is_postgres(db):
        db, engine = db.raw, search_pg.ENGINE
    return search_base.search(db, query, engine=engine or SQLITE, **options)


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


def departments(db: sqlite_utils.Database, allowed: tuple[str, dict] = ("1 = 1", {})) -> list[str]:
    """Departments of the talks the viewer may see (`allowed` as in search)."""
    if is_postgres(db):
        return search_pg.departments(db.raw, allowed)
    sql = (
        f"SELECT DISTINCT department FROM talks t WHERE department != '' AND ({allowed[0]}) "
        "ORDER BY department"
    )
    return [row[0] for row in db.execute(sql, allowed[1])]


def years(db: sqlite_utils.Database, allowed: tuple[str, dict] = ("1 = 1", {})) -> list[int]:
    if is_postgres(db):
        return search_pg.years(db.raw, allowed)
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


def index_slides(
    db: sqlite_utils.Database, talk_id: int, slides: Sequence[tuple[int, float, str]], language: str
) -> None:
    """Replace the talk's slides (index, second, text) in the index."""
    if is_postgres(db):
        return search_pg.index_slides(db.raw, talk_id, slides, language)
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
        return search_pg.index_translation(db.raw, talk_id, segments)
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


SQLITE = Engine(_filters, _search, _forgiving)
