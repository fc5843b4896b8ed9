"""Search on PostgreSQL: the same public functions and result records as server.catalogue.search
(SQLite FTS5), over the schema in server.store.pg_search. Domain code, no HTTP. Domain code
calls server.catalogue.search, which hands a PostgreSQL connection's psycopg connection
(`PgDatabase.raw`, rows read by name) to the functions here.

The query is parsed as for SQLite (``search_base.parse_query``: words and "quoted phrases" of
letters and digits only) and each term's needles become SQL, every value a bound parameter,
so nothing a person types ever reaches tsquery or LIKE syntax:
- a whole stem or a phrase (" nav ", " kommunal barnehag ") -> ``tsv @@ phraseto_tsquery(
  'simple', 'kommunal barnehag')``: the segment's words stemmed by ``ktl_norwegian`` (the
  built-in Norwegian Snowball stemmer, the same algorithm as PyStemmer's) and adjacent;
- a stem of >= 4 letters -> ``stems LIKE '%barnehag%'`` (pg_trgm GIN): inside compounds;
- a word whose stem is short -> ``lower(text) LIKE '%hage%'`` (pg_trgm GIN): "hage" in
  "barnehage" (lower() folds æ/ø/å by the database's locale: create it with a UTF-8 one).
Matching, ranking (Python ``_score``: equal stem, stem starting a word, substring), snippets,
filters and paging are those of the SQLite path, so both engines find the same talks in
the same order (tests/test_search_engines.py).

Candidates, bounded as on SQLite (<= ``_PER_TALK`` rows per talk, ``_MAX_ROWS`` in all,
newest first; GIN indexes return matches in no order, so "newest first" is built here): a
probe counts matches among the newest ``_PROBE_SPAN`` segments through the primary key.
A word matching >= 5 % of them walks the eligible talks newest (largest id) first, in
steps of 200, 400, ... talks, each talk's rows through its (talk_id, id) index with the
match as a filter (function forms no index serves, so the planner never builds a bitmap
of half the table per talk). Any other query reads the GIN indexes through bitmaps only:
ANDed with the eligible talks' index entries when the filters leave at most half of the
talks, otherwise with the primary key in id ranges, newest first, the first range sized
by the probe to hold enough rows and each next one four times larger; rows are numbered
and counted per talk by window functions. A shown talk whose count is unknown is counted
in one statement. At a million segments this costs about three times SQLite's time for
an ordinary word and less for phrases (benchmarks/search_latency.py --engine).

Near spellings: a query word matching fewer than ``_FEW`` rows looks among
``search_vocab``'s words that share trigrams with it (``word % query``, pg_trgm) and ranks
them with server.catalogue.similar as on SQLite; the rest is the logic both share
(server.catalogue.search_base).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from server.catalogue import search_base, similar
from server.catalogue.records import Talk
from server.catalogue.search_base import (
    _FEW,
    _MAX_ROWS,
    _NEAR_WORDS,
    _PER_TALK,
    _PROBE_DENSE,
    _PROBE_SPAN,
    _VOCAB_MIN,
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
)
from server.core.paths import transcript_file
from server.store import pg_search, pgconn
from server.transcript import model as transcript

Conn = Any  # a psycopg.Connection whose rows read by name (dict_row, or pgconn.Row: the
# store's connections reach this module through search.py as `db.raw`)

_CONFIG = {"en": "ktl_english"}  # every other language: ktl_norwegian
_YEAR_SQL = (
    "CAST(substring(CAST(coalesce(t.starts_at, t.created_at) AS text) FROM '^[0-9]{4}') AS integer)"
)
_LIVE = "t.status IN ('ready', 'processing')"


def _config(language: str) -> str:
    return _CONFIG.get(language, "ktl_norwegian")


def _nul_free(text: str) -> str:
    """NFC text without NUL (which PostgreSQL's text refuses); a TypeError for a non-string,
    as on SQLite (a unit of work that meets one is rolled back)."""
    return unicodedata.normalize("NFC", text).replace("\x00", " ").strip()


# ---------------------------------------------------------------- indexing


def _rows(talk_id: int, segments: Sequence, language: str, first: int) -> Iterator[tuple]:
    for idx, seg in enumerate(segments, start=first):
        text = _nul_free(seg.text)
        yield (talk_id, idx, seg.start, seg.end, text, _stems(_words(text), language))


def _insert(conn: Conn, talk_id: int, segments: Sequence, language: str, first: int = 0) -> int:
    rows = list(_rows(talk_id, segments, language, first))
    counts = Counter(
        w for row in rows for w in _words(row[4]) if w.isalpha() and len(w) >= _VOCAB_MIN
    )
    columns = 'talk_id, idx, start, "end", text, stems, config'
    with conn.cursor() as cur:
        with cur.copy(f"COPY search_segments ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((*row, _config(language)))
        words = sorted(counts)
        cur.execute(
            "INSERT INTO search_talk_vocab (talk_id, word, n)"
            " SELECT %s, word, n FROM unnest(%s::text[], %s::bigint[]) AS v (word, n)"
            " ON CONFLICT (talk_id, word) DO UPDATE SET n = search_talk_vocab.n + excluded.n",
            (talk_id, words, [counts[w] for w in words]),
        )
    return len(rows)


def _forget(conn: Conn, talk_id: int) -> None:
    conn.execute("DELETE FROM search_segments WHERE talk_id = %s", (talk_id,))
    conn.execute("DELETE FROM search_talk_vocab WHERE talk_id = %s", (talk_id,))


def index_talk(
    conn: Conn, talk_id: int, segments: Sequence[transcript.Segment], language: str
) -> None:
    """Replace the talk's segments (a partial index too) in the index, in one transaction."""
    with conn.transaction():
        _forget(conn, talk_id)
        _insert(conn, talk_id, segments, language)


def index_partial(
    conn: Conn,
    talk_id: int,
    segments: Sequence[transcript.Segment],
    first: int,
    language: str,
    allowed: Callable[[Conn], bool] = lambda conn: True,
) -> bool:
    """Add segments first.. of a talk still being transcribed (see search.index_partial)."""
    with conn.transaction():
        if not allowed(conn):
            return False
        if first == 0:
            _forget(conn, talk_id)
        _insert(conn, talk_id, segments, language, first)
    return True


def index_many(conn: Conn, items: Iterable[tuple[int, Sequence[transcript.Segment], str]]) -> int:
    """Add (talk_id, segments, language) items in one transaction; returns segments added."""
    with conn.transaction():
        return sum(_insert(conn, *item) for item in items)


def bulk_index(conn: Conn, items: Iterable[tuple[int, Sequence[transcript.Segment], str]]) -> int:
    """index_many for a large load (a reindex, a benchmark), in one transaction that holds
    the search tables to itself: the segments' GIN indexes are dropped and built again once
    at the end, and the vocabulary trigger is off while search_vocab is summed up once from
    search_talk_vocab (a trigger call per word and talk costs minutes at a million rows)."""
    with conn.transaction():
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'search_segments'"
            " AND indexdef LIKE '%USING gin%'"
        ).fetchall()
        for index in indexes:
            conn.execute(f'DROP INDEX "{index["indexname"]}"')
        conn.execute("ALTER TABLE search_talk_vocab DISABLE TRIGGER USER")
        count = index_many(conn, items)
        conn.execute("DELETE FROM search_vocab")
        conn.execute(
            "INSERT INTO search_vocab (word, n)"
            " SELECT word, sum(n) FROM search_talk_vocab GROUP BY word ORDER BY word"
        )
        conn.execute("ALTER TABLE search_talk_vocab ENABLE TRIGGER USER")
        conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
        for index in indexes:
            conn.execute(index["indexdef"])
        conn.execute(pg_search.STATISTICS_MIGRATION)  # the new index's target; fresh figures
    return count


def index_talk_metadata(conn: Conn, talk_id: int) -> None:
    """(Re)index title, speaker, department and description from the talks row."""
    with conn.transaction():
        conn.execute("DELETE FROM search_talks WHERE talk_id = %s", (talk_id,))
        row = conn.execute("SELECT * FROM talks WHERE id = %s", (talk_id,)).fetchone()
        if row is None:
            return
        talk = Talk.from_row(row)
        fields = [_nul_free(f or "") for f in (talk.title, talk.speaker, talk.department)]
        fields.append(_nul_free(talk.description or ""))
        # "|" between fields keeps a phrase from spanning two of them.
        stems = "|".join(_stems(_words(field), talk.language) for field in fields)
        conn.execute(
            "INSERT INTO search_talks (talk_id, text, stems) VALUES (%s, %s, %s)",
            (talk_id, "\n".join(fields), stems),
        )


def remove_talk(conn: Conn, talk_id: int) -> None:
    with conn.transaction():
        _forget(conn, talk_id)
        conn.execute("DELETE FROM search_talks WHERE talk_id = %s", (talk_id,))
        conn.execute("DELETE FROM search_slides WHERE talk_id = %s", (talk_id,))
        conn.execute("DELETE FROM search_translations WHERE talk_id = %s", (talk_id,))


def reindex_all(conn: Conn, transcripts_dir: Path) -> int:
    """Rebuild segments, vocabulary and metadata from transcripts/<id>/transcript.json and
    the talks table, in one transaction (unreadable files are skipped)."""
    with conn.transaction():
        conn.execute("DELETE FROM search_segments")
        conn.execute("DELETE FROM search_talk_vocab")
        ids = [row["id"] for row in conn.execute("SELECT id FROM talks ORDER BY id")]
        count = bulk_index(conn, _transcripts(ids, transcripts_dir))
        for talk_id in ids:
            index_talk_metadata(conn, talk_id)
    return count


def _transcripts(ids: list[int], transcripts_dir: Path) -> Iterator[tuple]:
    for talk_id in ids:
        path = transcript_file(transcripts_dir, talk_id)
        try:
            loaded = transcript.load(path) if path.is_file() else None
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if loaded is not None:
            yield talk_id, loaded.segments, loaded.language


def index_slides(
    conn: Conn, talk_id: int, slides: Sequence[tuple[int, float, str]], language: str
) -> None:
    """Replace the talk's slides (index, second, text) in the index."""
    with conn.transaction():
        conn.execute("DELETE FROM search_slides WHERE talk_id = %s", (talk_id,))
        rows = []
        for idx, at, text in slides:
            flat = " · ".join(line.strip() for line in text.splitlines() if line.strip())
            flat = _nul_free(flat)
            if flat:
                stems = _stems(_words(flat), language)
                rows.append((talk_id, idx, at, flat, stems, _config(language)))
        conn.cursor().executemany(
            "INSERT INTO search_slides (talk_id, idx, start, text, stems, config)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            rows,
        )


def index_translation(conn: Conn, talk_id: int, segments: Sequence[transcript.Segment]) -> None:
    """Replace the talk's English segments in the index."""
    with conn.transaction():
        conn.execute("DELETE FROM search_translations WHERE talk_id = %s", (talk_id,))
        rows = [(*row, _config("en")) for row in _rows(talk_id, segments, "en", 0)]
        conn.cursor().executemany(
            'INSERT INTO search_translations (talk_id, idx, start, "end", text, stems, config)'
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            rows,
        )


# ---------------------------------------------------------------- query to SQL


class _Sql:
    """Bound parameters collected while SQL text is built (psycopg's %(name)s style)."""

    def __init__(self, params: dict | None = None) -> None:
        self.params: dict[str, object] = dict(params or {})

    def bind(self, value: object) -> str:
        name = f"needle_{len(self.params)}"
        self.params[name] = value
        return f"%({name})s"


def _like(needle: str) -> str:
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _needle_sql(column: str, needle: str, alias: str, q: _Sql, indexed: bool, tsv: bool) -> str:
    """One needle as a condition; `indexed` False gives forms no index can serve (a filter
    on rows read another way); `tsv` False (metadata) matches whole words on stems."""
    whole = needle.startswith(" ") and needle.endswith(" ") and needle.strip()
    if whole and tsv and column == "stems":
        query = f"phraseto_tsquery('simple', {q.bind(needle.strip())})"
        return f"{alias}.tsv @@ {query}" if indexed else f"ts_match_vq({alias}.tsv, {query})"
    target = f"lower({alias}.text)" if column == "text" else f"{alias}.stems"
    pattern = q.bind(_like(needle))
    return f"{target} LIKE {pattern}" if indexed else f"textlike({target}, {pattern})"


def _match_sql(
    terms: Sequence[_Term], alias: str, q: _Sql, indexed: bool = True, tsv: bool = True
) -> str:
    """AND of terms, each an OR of its needles."""
    return " AND ".join(
        "(" + " OR ".join(_needle_sql(c, n, alias, q, indexed, tsv) for c, n in t.needles) + ")"
        for t in terms
    )


# A bare 1 or 0 standing as a whole condition ("(1)", "x OR 0"; not "IN (1)"): SQLite's
# truth values.
_BARE_TRUTH = re.compile(
    r"(^|(?<!\bIN)(?<!\bIN )\(|\bOR\b|\bAND\b|\bNOT\b)(\s*)([01])(\s*)(?=$|\)|\bOR\b|\bAND\b)",
    re.I,
)


def _pg(sql: str) -> str:
    """An SQL condition written in the dialect domain code shares (server.people.access:
    ':name' parameters) in psycopg's (pgconn.translate); a 1 or 0 that stands as a whole
    condition becomes TRUE or FALSE (compared values, `x = 1` on 0/1 columns, stay)."""
    sql = pgconn.translate(sql)
    return _BARE_TRUTH.sub(lambda m: m[1] + m[2] + ("TRUE" if m[3] == "1" else "FALSE") + m[4], sql)


def _filters(
    department: str | None,
    year: int | None,
    visibilities: Collection[str],
    allowed: tuple[str, dict] | None = None,
) -> tuple[str, dict]:
    params: dict = {"vis": list(visibilities)}
    sql = ["t.visibility = ANY(%(vis)s)"]
    if allowed is not None:  # the viewer's access rule, an SQL condition on talks t
        sql.append(f"({_pg(allowed[0])})")
        params.update(allowed[1])
    if department is not None:
        sql.append("t.department = %(department)s")
        params["department"] = department
    if year is not None:
        sql.append(f"{_YEAR_SQL} = %(year)s")
        params["year"] = int(year)
    return " AND ".join(sql), params


# ---------------------------------------------------------------- candidates

_ROWS_SQL = """
SELECT * FROM (
    SELECT s.id, s.talk_id, s.start, {end} AS "end", s.text, s.stems{kind},
        row_number() OVER (PARTITION BY s.talk_id ORDER BY s.id DESC) AS nth,
        count(*) OVER (PARTITION BY s.talk_id) AS total
    FROM {table} s JOIN talks t ON t.id = s.talk_id
    WHERE ({match}) AND s.id > %(lo)s AND s.id <= %(hi)s AND {live} AND {where}) found
WHERE nth <= {per_talk} ORDER BY id DESC LIMIT {limit}"""
_TALKS_ROWS_SQL = """
SELECT found.* FROM unnest(%(talks)s::bigint[]) WITH ORDINALITY AS e (id, n)
CROSS JOIN LATERAL (
    SELECT s.id, s.talk_id, s.start, s."end", s.text, s.stems FROM search_segments s
    WHERE s.talk_id = e.id AND {match} ORDER BY s.id DESC LIMIT {per_talk}) found
ORDER BY e.n, found.id DESC"""
_TABLES = {  # table: (its "end" column, its kind, an extra condition on t)
    "search_segments": ('s."end"', "", ""),
    "search_slides": ("s.start", ", 'slide' AS kind", ""),
    "search_translations": (
        's."end"',
        ", 'english' AS kind",
        " AND NOT EXISTS (SELECT 1 FROM translations w WHERE w.talk_id = t.id AND w.wanted = 0)",
    ),
}
_BITMAPS_ONLY = (
    "SELECT set_config('ktl.indexscan', current_setting('enable_indexscan'), true),"
    " set_config('ktl.seqscan', current_setting('enable_seqscan'), true),"
    " set_config('enable_indexscan', 'off', true), set_config('enable_seqscan', 'off', true)"
)
_PLANS_AS_BEFORE = (
    "SELECT set_config('enable_indexscan', current_setting('ktl.indexscan'), true),"
    " set_config('enable_seqscan', current_setting('ktl.seqscan'), true)"
)
_TOP = 1 << 62
_FIRST_TALKS = 200  # talks read in the first step of a frequent word (then 2x, 4x, ...)

Found = tuple[dict[int, list], dict[int, int | None]]  # rows by talk, their counts (None: unknown)


def _probe(conn: Conn, terms: Sequence[_Term]) -> tuple[int, int]:
    """The newest segment id and how many of the newest _PROBE_SPAN segments match (up
    to _PROBE_DENSE): the terms' density, read through the primary key only."""
    q = _Sql({"span": _PROBE_SPAN, "enough": _PROBE_DENSE})
    top = conn.execute("SELECT coalesce(max(id), 0) AS top FROM search_segments").fetchone()
    q.params["top"] = top["top"]
    sql = (
        "SELECT count(*) AS n FROM (SELECT 1 FROM search_segments s"
        " WHERE s.id > %(top)s - %(span)s"
        f" AND {_match_sql(terms, 's', q, indexed=False)} LIMIT %(enough)s) probe"
    )
    return top["top"], conn.execute(sql, q.params).fetchone()["n"]


def _segments(conn: Conn, terms: Sequence[_Term], where: str, params: dict) -> Found:
    """Matching segments: a frequent word (>= 5 % of the newest rows) through the eligible
    talks newest first; any other through the GIN indexes: restricted to the eligible
    talks (a BitmapAnd with the talk index) when the filters leave at most half of them,
    otherwise in id ranges newest first (a BitmapAnd with the primary key), the first
    sized by the probe to hold enough, each next one four times larger, so a common word
    never fetches every match."""
    talks, live = _eligible(conn, where, params)
    if not talks:
        return {}, {}
    top, seen = _probe(conn, terms)
    if seen >= _PROBE_DENSE:
        return _by_talk(conn, terms, talks)
    if len(talks) <= live / 2:
        where, params = f"{where} AND s.talk_id = ANY(%(eligible)s)", {**params, "eligible": talks}
        ranges = [(0, _TOP)]
    else:
        ranges = _ranges(top, _PROBE_SPAN * _MAX_ROWS * 3 // 2 // seen if seen else top)
    per_talk: dict[int, list] = {}
    totals: dict[int, int | None] = {}
    for lo, hi in ranges:
        rows = _matching(conn, "search_segments", terms, where, {**params, "lo": lo, "hi": hi})
        for row in rows:
            kept = per_talk.setdefault(row["talk_id"], [])
            if len(kept) < _PER_TALK:
                kept.append(row)
            known = totals.get(row["talk_id"], 0)
            if row["nth"] == 1:
                totals[row["talk_id"]] = None if known is None else known + row["total"]
        if sum(map(len, per_talk.values())) >= _MAX_ROWS and lo > 0:
            totals = dict.fromkeys(totals)  # older matches were not read: count if shown
            break
    return _capped(per_talk, totals)


def _ranges(top: int, span: int) -> list[tuple[int, int]]:
    """(lo, hi] id ranges newest first, each four times the one before, down to 0."""
    bounds = [_TOP]
    while bounds[-1] > 0:
        bounds.append(max(top - span, 0))
        top, span = bounds[-1], span * 4
    return list(zip(bounds[1:], bounds, strict=False))


def _eligible(conn: Conn, where: str, params: dict) -> tuple[list[int], int]:
    """The ids of the talks whose transcripts may match, newest first, and how many talks
    are ready or being transcribed in all."""
    sql = (
        f"SELECT array_agg(t.id ORDER BY t.id DESC) FILTER (WHERE {where}) AS ids,"
        f" count(*) AS n FROM talks t WHERE {_LIVE}"
    )
    row = conn.execute(sql, params).fetchone()
    return row["ids"] or [], row["n"]


def _capped(per_talk: dict[int, list], totals: dict[int, int | None]) -> Found:
    """At most _MAX_ROWS rows, newest first; a talk cut short is counted if shown."""
    rows = sorted((r for found in per_talk.values() for r in found), key=lambda r: -r["id"])
    if len(rows) <= _MAX_ROWS:
        return per_talk, totals
    kept: dict[int, list] = {}
    for row in rows[:_MAX_ROWS]:
        kept.setdefault(row["talk_id"], []).append(row)
    totals = {talk_id: totals.get(talk_id) for talk_id in kept}
    totals[rows[_MAX_ROWS - 1]["talk_id"]] = None
    return kept, totals


def _by_talk(conn: Conn, terms: Sequence[_Term], talks: list[int]) -> Found:
    """A frequent word: the eligible talks (newest first), each talk's newest matching
    rows through its (talk_id, id) index with the match as a filter, in steps of growing
    size until _MAX_ROWS rows."""
    q = _Sql()
    lateral = _TALKS_ROWS_SQL.format(
        match=_match_sql(terms, "s", q, indexed=False), per_talk=_PER_TALK
    )
    per_talk: dict[int, list] = {}
    done, step = 0, _FIRST_TALKS
    while done < len(talks) and sum(map(len, per_talk.values())) < _MAX_ROWS:
        rows = conn.execute(lateral, {**q.params, "talks": talks[done : done + step]})
        for row in rows:
            per_talk.setdefault(row["talk_id"], []).append(row)
        done, step = done + step, step * 2
    totals = {t: None if len(rows) >= _PER_TALK else len(rows) for t, rows in per_talk.items()}
    return _capped(per_talk, totals)


def _matching(conn: Conn, table: str, terms: Sequence[_Term], where: str, params: dict) -> list:
    """Matching rows of `table` in the id range params lo..hi, <= _PER_TALK per talk."""
    end, kind, extra = _TABLES[table]
    q = _Sql(params)
    sql = _ROWS_SQL.format(
        table=table, end=end, kind=kind, live=_LIVE, where=where + extra,
        match=_match_sql(terms, "s", q), per_talk=_PER_TALK, limit=_MAX_ROWS,
    )  # fmt: skip
    with conn.transaction():
        # Bitmaps only: the matches ANDed with the id range or the talks in the index,
        # never the whole id range read row by row with the match as a filter (which the
        # planner picks when it thinks LIKE '%…%' cheap: lower() per row is not).
        conn.execute(_BITMAPS_ONLY)
        rows = conn.execute(sql, q.params).fetchall()
        conn.execute(_PLANS_AS_BEFORE)
    return rows


def _counts(conn: Conn, terms: Sequence[_Term], talks: list[int]) -> dict[int, int]:
    """Matching segments of each of these talks (one statement)."""
    q = _Sql({"talks": talks})
    sql = (
        "SELECT s.talk_id, count(*) AS n FROM search_segments s"
        f" WHERE s.talk_id = ANY(%(talks)s) AND {_match_sql(terms, 's', q, indexed=False)}"
        " GROUP BY s.talk_id"
    )
    return {row["talk_id"]: row["n"] for row in conn.execute(sql, q.params)}


def _metadata(conn: Conn, terms: Sequence[_Term], where: str, params: dict) -> set[int]:
    q = _Sql(params)
    sql = (
        "SELECT m.talk_id FROM search_talks m JOIN talks t ON t.id = m.talk_id"
        f" WHERE ({_match_sql(terms, 'm', q, tsv=False)}) AND {where}"
        " ORDER BY m.talk_id DESC LIMIT 1000"
    )
    return {row["talk_id"] for row in conn.execute(sql, q.params)}


# ---------------------------------------------------------------- search


def search(conn: Conn, query: str, **options: Any) -> SearchResults:
    """Talks matching every word/phrase of the query, best first: search.search on
    PostgreSQL (the same options and results; this module's queries)."""
    return search_base.search(conn, query, engine=ENGINE, **options)


def _search(
    conn: Conn,
    terms: list[_Term],
    wheres: tuple[str, str],
    params: dict,
    limit: int,
    hits: int,
    offset: int = 0,
) -> tuple[list[TalkHits], list[int]]:
    """The groups of talks offset..offset+limit in rank order, and every ranked talk's id."""
    where, segment_where = wheres
    per_talk, totals = _segments(conn, terms, segment_where, params)
    for table in ("search_slides", "search_translations"):
        other = {**params, "lo": 0, "hi": _TOP}
        for row in _matching(conn, table, terms, _own_review(table, segment_where), other):
            per_talk[row["talk_id"]] = [*per_talk.get(row["talk_id"], []), row]
    meta = _metadata(conn, terms, where, params)
    ids = sorted(set(per_talk) | meta)
    talks = conn.execute("SELECT * FROM talks WHERE id = ANY(%s)", (ids,)).fetchall()

    def rank(talk: Talk) -> tuple:
        score = _talk_score(talk, per_talk.get(talk.id, []), terms, talk.id in meta)
        return -score, -_when(talk), talk.id

    ranked = sorted(map(Talk.from_row, talks), key=rank)
    shown = ranked[offset : offset + limit]
    unknown = [talk.id for talk in shown if talk.id in totals and totals[talk.id] is None]
    totals = {**totals, **(_counts(conn, terms, unknown) if unknown else {})}
    groups = []
    for talk in shown:
        rows = per_talk.get(talk.id, [])
        spoken = totals.get(talk.id) or 0
        total = spoken + sum(1 for r in rows if _kind(r) != "speech")
        groups.append(_group(talk, rows, terms, hits, total))
    return groups, [talk.id for talk in ranked]


def _own_review(table: str, where: str) -> str:
    """The English track has its own review state (search._translation_rows)."""
    if table == "search_translations" and "transcript_state" in where:
        own = "(SELECT review FROM translations r WHERE r.talk_id = t.id)"
        return where.replace("t.transcript_state", own)
    return where


# ---------------------------------------------------------------- near spellings


def _forgiving(
    conn: Conn,
    terms: list[_Term],
    wheres: tuple[str, str],
    params: dict,
    exact: Collection[int],
    hits: int,
) -> tuple[list[tuple[str, int]], list[TalkHits]]:
    """As search._forgiving: near spellings of words that match few segments, searched
    again under the same filters, their talks after the exact ones, marked approximate."""
    near: list[tuple[str, int]] = []
    seen = set(exact)
    found: list[TalkHits] = []
    for i, term in enumerate(terms):
        if not term.word or _count(conn, term) >= _FEW:
            continue
        for candidate in _near_words(conn, term.word):
            if _score(candidate.word, _stems(_words(candidate.word), "nb"), [term]):
                continue  # the exact search finds it already
            swapped = [*terms[:i], _near_term(candidate), *terms[i + 1 :]]
            groups = [g for g in _search(conn, swapped, wheres, params, 20, hits)[0] if g.hits]
            if groups:
                near.append((candidate.word, sum(g.total_hits for g in groups)))
            for group in groups:
                if group.talk_id not in seen:
                    seen.add(group.talk_id)
                    found.append(replace(group, approximate=True))
    return near, found


def _count(conn: Conn, term: _Term) -> int:
    """Segments matching the term, counted up to _FEW."""
    q = _Sql({"few": _FEW})
    sql = (
        "SELECT count(*) AS n FROM (SELECT 1 FROM search_segments s"
        f" WHERE {_match_sql([term], 's', q)} LIMIT %(few)s) probe"
    )
    return conn.execute(sql, q.params).fetchone()["n"]


def _near_words(conn: Conn, word: str) -> list[similar.Near]:
    """similar.Vocabulary.near over the transcript words that share trigrams with `word`
    (pg_trgm's `%`, similarity >= 0.3) and the words a split of it would need."""
    word = word.lower()
    if len(word) < similar.MIN_LENGTH:
        return []
    halves = {word[:at] for at in range(2, len(word) - 2)} | {
        word[at:] for at in range(3, len(word) - 2)
    }
    rows = conn.execute(
        "(SELECT word FROM search_vocab WHERE word %% %(word)s"
        " ORDER BY similarity(word, %(word)s) DESC, word LIMIT 60)"
        " UNION SELECT word FROM search_vocab WHERE word = ANY(%(halves)s)",
        {"word": word, "halves": sorted(halves)},
    ).fetchall()
    return similar.Vocabulary(row["word"] for row in rows).near(word, _NEAR_WORDS)


# ---------------------------------------------------------------- lists for the filters


def departments(conn: Conn, allowed: tuple[str, dict] = ("1 = 1", {})) -> list[str]:
    """Departments of the talks the viewer may see (`allowed` as in search)."""
    sql = (
        f"SELECT DISTINCT department FROM talks t WHERE department != '' AND ({_pg(allowed[0])})"
        " ORDER BY department"
    )
    return [row["department"] for row in conn.execute(sql, allowed[1])]


def years(conn: Conn, allowed: tuple[str, dict] = ("1 = 1", {})) -> list[int]:
    sql = (
        f"SELECT DISTINCT {_YEAR_SQL} AS y FROM talks t WHERE ({_pg(allowed[0])})"
        f" AND {_YEAR_SQL} > 0 ORDER BY y DESC"
    )
    return [row["y"] for row in conn.execute(sql, allowed[1])]


ENGINE = search_base.Engine(_filters, _search, _forgiving, _pg)
