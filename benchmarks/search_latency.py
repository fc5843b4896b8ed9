"""Search latency on a synthetic index of (by default) a million transcript segments.

    python benchmarks/search_latency.py [--segments 1000000] [--db PATH]
    python benchmarks/search_latency.py --engine sqlite,postgres [--segments N]
        [--postgres-url URL]

Builds Norwegian-looking talks (Zipf-distributed vocabulary with inflections and
compounds) in a temporary SQLite file, or reuses --db when it already exists, then prints
build time, p50/p95 over ordinary words, the slowest of the 20 most frequent words,
compound substrings, phrases, and the naive `ORDER BY bm25` query for comparison.
`run(segments)` returns the same figures as a dict.

With ``--engine sqlite,postgres`` the same talks (same seed) are built in each engine
(PostgreSQL: --postgres-url, a database that is empty or reused as it is when it holds
segments, or else a throwaway cluster from Debian's PostgreSQL, tests/pgserver.py), the
same queries are timed through each engine's search (server.catalogue.search /
search_pg), and a table puts p50/p95 per query kind side by side.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.catalogue import search, search_pg, similar
from server.store import db as dbmod
from server.transcript.model import Segment


def words(text: str) -> list[str]:
    return text.split()


FUNCTION_WORDS = words(
    "og i det er som på en et til at for med har de ikke vi den av om så kan skal også "
    "men fra eller var må blir jeg du dere hvordan hva når der her mange mer litt bare alle"
)
NOUNS = words(
    "barn hage skole helse stasjon plan vei vann avløp budsjett økonomi tjeneste bruker "
    "pasient lærer elev leder arbeid tilskudd søknad vedtak sak politiker innbygger område "
    "bygg eiendom brann beredskap klima miljø natur kultur bibliotek idrett ungdom familie "
    "vern omsorg hjem sykepleier lege data system arkiv kommune fylke rett lov regel møte "
    "rapport prosjekt tilsyn kontor senter hus park buss sykkel skatt avgift gebyr strøm "
    "energi avfall kart personvern tannlege sjø fjell bru havn gård fisk skog"
)
ADJECTIVES = words(
    "kommunal viktig ny stor liten god første siste offentlig privat lokal nasjonal digital "
    "grønn trygg felles åpen særlig vanlig mulig"
)
VERBS = words(
    "jobber snakker lager bruker søker hjelper viser lærer planlegger bygger forteller "
    "trenger gjør får tar ser mener vet"
)
DEPARTMENTS = [
    "Oppvekst",
    "Helse og omsorg",
    "Teknisk",
    "Kultur",
    "Økonomi",
    "Plan og bygg",
    "NAV",
    "Personal",
    "IKT",
    "Miljø",
    "Barnevern",
    "Eiendom",
]
PHRASES = ['"kommunale barnehager"', '"offentlig tjeneste"', '"ny plan"', '"det er"']
SUBSTRINGS = ["hage", "skole", "helse", "tilsyn", "vern", "avfall"]
HOSTILE = ["en" * 250, "ene " * 100, "ere ene ner ren erer nene rene sene", 'AND ( "* NEAR(']
SEGMENTS_PER_TALK = 350


def vocabulary(rng: random.Random) -> list[str]:
    """Function words first (most frequent), then a shuffled long tail."""
    inflected = [n + suffix for n in NOUNS for suffix in ("", "en", "er", "ene", "et")]
    compounds = {
        a + link + b + suffix
        for a, b in itertools.permutations(NOUNS, 2)
        for link, suffix in [(rng.choice(["", "s", "e"]), rng.choice(["", "en", "er", "ene"]))]
    }
    adjectives = [a + suffix for a in ADJECTIVES for suffix in ("", "e")]
    syllables = [c + v for c in "bdfghjklmnprstv" for v in "aeiouyæøå"]
    tail = {"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(15000)}
    rest = inflected + sorted(compounds) + adjectives + VERBS + sorted(tail)
    rng.shuffle(rest)
    return FUNCTION_WORDS + list(dict.fromkeys(rest))


def sentences(rng: random.Random, words: list[str], count: int) -> Iterator[str]:
    weights = list(itertools.accumulate(1 / rank**1.05 for rank in range(1, len(words) + 1)))
    batch = 20000
    for done in range(0, count, batch):
        drawn = rng.choices(words, cum_weights=weights, k=18 * batch)
        for i in range(min(batch, count - done)):
            sentence = drawn[i * 18 : i * 18 + rng.randint(8, 18)]
            yield " ".join(sentence).capitalize() + "."


TALK_COLUMNS = (
    "id, slug, title, speaker, department, starts_at, description, language, visibility,"
    " status, created_at, updated_at"
)


def corpus(segments: int) -> tuple[list[tuple], Iterator[tuple[int, list[Segment], str]]]:
    """The talks rows and the (talk_id, segments, language) items: the same for a seed."""
    rng = random.Random(42)
    talks = -(-segments // SEGMENTS_PER_TALK)
    rows = [
        (
            i,
            f"foredrag-{i}",
            f"Om {rng.choice(NOUNS)} og {rng.choice(NOUNS)}",
            "Kari Nordmann",
            rng.choice(DEPARTMENTS),
            f"{2015 + i * 11 // talks}-0{1 + i % 9}-15T11:30",
            f"Hvordan {rng.choice(DEPARTMENTS)} jobber med {rng.choice(NOUNS)}.",
            "nb",
            rng.choice(["public", "internal"]),
            "ready",
            "2024-01-01T00:00",
            "2024-01-01T00:00",
        )
        for i in range(1, talks + 1)
    ]
    text = sentences(rng, vocabulary(rng), segments)

    def items() -> Iterator[tuple[int, list[Segment], str]]:
        for talk_id in range(1, talks + 1):
            n = min(SEGMENTS_PER_TALK, segments - (talk_id - 1) * SEGMENTS_PER_TALK)
            yield talk_id, [Segment(i * 5.0, i * 5.0 + 5, next(text)) for i in range(n)], "nb"

    return rows, items()


def build(path: Path, segments: int) -> float:
    """Create talks and index `segments` synthetic segments in SQLite; returns seconds."""
    started = time.perf_counter()
    dbmod.init(path)
    db = dbmod.connect(path)
    rows, items = corpus(segments)
    marks = ", ".join("?" * len(rows[0]))
    db.conn.executemany(f"INSERT INTO talks ({TALK_COLUMNS}) VALUES ({marks})", rows)
    search.index_many(db, items)
    for row in rows:
        search.index_talk_metadata(db, row[0])
    db.execute("INSERT INTO search_segments_fts(search_segments_fts) VALUES ('optimize')")
    db.close()
    return time.perf_counter() - started


def pg_connect(url: str) -> Any:
    """A connection as search_pg expects it (autocommit, dict rows), the schema migrated."""
    import psycopg
    from psycopg.rows import dict_row

    from server.store import postgres

    conn = psycopg.connect(url, autocommit=True)
    postgres.migrate(conn)
    conn.row_factory = dict_row
    return conn


def build_postgres(url: str, segments: int) -> float:
    """The same talks and segments in PostgreSQL (search_pg.bulk_index, as a reindex of a
    large archive does), then VACUUM ANALYZE; returns seconds."""
    started = time.perf_counter()
    conn = pg_connect(url)
    rows, items = corpus(segments)
    with conn.cursor() as cur, cur.copy(f"COPY talks ({TALK_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    conn.execute("SELECT setval(pg_get_serial_sequence('talks', 'id'), max(id)) FROM talks")
    search_pg.bulk_index(conn, items)
    for row in rows:
        search_pg.index_talk_metadata(conn, row[0])
    conn.execute("VACUUM ANALYZE")
    conn.close()
    return time.perf_counter() - started


@dataclass
class Target:
    """One engine's search module and its connection."""

    name: str
    module: ModuleType
    conn: Any

    def rows(self, sql: str, params: list) -> list:
        if self.name == "postgres":
            sql = sql.replace("%", "%%").replace("?", "%s")
        return self.conn.execute(sql, params).fetchall()


def timed(target: Target, query: str, **filters) -> float:
    started = time.perf_counter()
    target.module.search(target.conn, query, **filters)
    return (time.perf_counter() - started) * 1000


def frequent_words(target: Target, n: int, count: int) -> list[str]:
    """The n most frequent words in a sample of about 10,000 segments of the index."""
    counts: dict[str, int] = {}
    stride = max(1, count // 10_000)
    sql = "SELECT text FROM search_segments WHERE id % ? = 0"
    for row in target.rows(sql, [stride]):
        for word in re.findall(r"[^\W_]+", row["text"].lower()):
            counts[word] = counts.get(word, 0) + 1
    return sorted(counts, key=counts.get, reverse=True)[:n]


def naive_ms(target: Target, word: str) -> float:
    """Rank every match of the word (FTS5 bm25 / ts_rank), best 100: what the bounded
    candidate set avoids."""
    if target.name == "sqlite":
        sql = (
            "SELECT rowid FROM search_segments_fts WHERE search_segments_fts MATCH ?"
            " ORDER BY bm25(search_segments_fts) LIMIT 100"
        )
        params = [search.match_expression(search.parse_query(word))]
    else:
        sql = (
            "SELECT id FROM search_segments WHERE tsv @@ plainto_tsquery('ktl_norwegian', ?)"
            " ORDER BY ts_rank(tsv, plainto_tsquery('ktl_norwegian', ?)) DESC LIMIT 100"
        )
        params = [word, word]
    started = time.perf_counter()
    target.rows(sql, params)
    return (time.perf_counter() - started) * 1000


def plan(target: Target) -> dict[str, list[tuple[str, dict]]]:
    """The queries of each kind, (query, filters), drawn from the index's own words."""
    count = target.rows("SELECT count(*) AS n FROM search_segments", [])[0]["n"]
    top = frequent_words(target, 400, count)
    rng = random.Random(7)
    pool = top[20:] or top  # a small index (--segments 1000) has few distinct words
    ordinary = rng.sample(pool, min(150, len(pool)))
    pairs = [" ".join(rng.sample(pool, min(2, len(pool)))) for _ in range(50)]
    rare = top[min(200, len(top) - 1)]
    known = {row["word"] for row in target.rows("SELECT word FROM search_vocab", [])}
    long_words = [w for w in pool if len(w) >= 6]
    misspelt = [misspelled(w, rng) for w in rng.sample(long_words, min(100, len(long_words)))]
    plain = lambda queries: [(q, {}) for q in queries]  # noqa: E731
    return {
        "ordinary word": plain(ordinary),
        "two words": plain(pairs),
        "20 most frequent words": plain(top[:20]),
        "compound part": plain(SUBSTRINGS),
        "phrase": plain(PHRASES),
        "filtered": [
            (top[0], {"department": "NAV"}),
            (top[0], {"year": 2015}),
            (top[0], {"department": "NAV", "year": 2015, "visibilities": ("public",)}),
            ("hage", {"department": "NAV"}),
            (rare, {"year": 2016}),
        ],
        "hostile": plain(HOSTILE),
        "misspelt (near spellings)": plain(q for q in misspelt if q not in known),
        "_top": plain(top[:1]),
        "_pool": plain(long_words),
    }


def measure_target(target: Target, queries: dict[str, list[tuple[str, dict]]]) -> dict:
    """Each kind's timings (ms), with its p50, p95 and max."""
    timed(target, "barnehage")  # warm the caches
    kinds: dict[str, dict] = {}
    for kind, items in queries.items():
        if kind.startswith("_") or not items:
            continue
        times = [timed(target, q, **filters) for q, filters in items]
        ordered = sorted(times)
        kinds[kind] = {
            "n": len(times),
            "p50_ms": statistics.median(ordered),
            "p95_ms": ordered[max(int(len(ordered) * 0.95) - 1, 0)],
            "max_ms": ordered[-1],
            "times": times,
            "by_query": {
                q[:30] + (f" {f}" if f else ""): t for (q, f), t in zip(items, times, strict=True)
            },
        }
    found = sum(
        bool(target.module.search(target.conn, q).similar)
        for q, _ in queries["misspelt (near spellings)"][:50]
    )
    top = queries["_top"][0][0]
    return {"kinds": kinds, "near_word_found": found, "naive_rank_ms": {top: naive_ms(target, top)}}


def measure(path: Path) -> dict:
    """The SQLite figures as before (run(), benchmarks/pipeline.py)."""
    db = dbmod.connect(path)
    target = Target("sqlite", search, db)
    count = db.execute("SELECT count(*) FROM search_segments").fetchone()[0]
    queries = plan(target)
    kinds = measure_target(target, queries)["kinds"]
    times = sorted([*kinds["ordinary word"]["times"], *kinds["two words"]["times"]])
    frequent = kinds["20 most frequent words"]["by_query"]
    slowest = max(frequent, key=frequent.get)
    top = queries["_top"][0][0]
    figures = {
        "segments": count,
        "p50_ms": statistics.median(times),
        "p95_ms": times[int(len(times) * 0.95) - 1],
        "max_ordinary_ms": times[-1],
        "slowest_frequent_word": slowest,
        "slowest_frequent_ms": frequent[slowest],
        "substrings_ms": kinds["compound part"]["by_query"],
        "phrases_ms": kinds["phrase"]["by_query"],
        "filtered_ms": kinds["filtered"]["by_query"],
        "hostile_ms": kinds["hostile"]["by_query"],
        "naive_bm25_ms": {top: naive_ms(target, top)},
        **forgiving(target, [q for q, _ in queries["_pool"]], random.Random(7)),
    }
    db.close()
    return figures


def misspelled(word: str, rng: random.Random) -> str:
    """A recogniser-like misspelling: a doubled or single consonant, a dropped -e-, e/æ."""
    options = [re.sub(r"([bdfgklmnprst])\1", r"\1", word, count=1),
               re.sub(r"(?<=[^aeiouyæøå])e(?=[^aeiouyæøå])", "", word, count=1),
               re.sub(r"([lmnst])(?=[aeiouyæøå])", r"\1\1", word, count=1),
               word.replace("æ", "e", 1)]  # fmt: skip
    changed = [w for w in options if w != word]
    return rng.choice(changed) if changed else word[:-1] + "x"


def forgiving(target: Target, words: list[str], rng: random.Random) -> dict:
    """Near-spelling search on SQLite: the vocabulary's first load (once per process and
    database), queries that are misspellings of indexed words (they find nothing exactly),
    and the near-word lookup alone in a vocabulary of 250,000 words (a large real archive)."""
    db = target.conn
    search._vocab_cache.clear()
    started = time.perf_counter()
    vocabulary = search._vocabulary(db)
    load_ms = (time.perf_counter() - started) * 1000
    queries = [misspelled(w, rng) for w in rng.sample(words, min(100, len(words)))]
    times = sorted(timed(target, q) for q in queries if q not in vocabulary.words)
    found = sum(bool(search.search(db, q).similar) for q in queries[:50])
    big = similar.Vocabulary(
        "".join(rng.choice("abdefghiklmnoprstuvyæøå") for _ in range(rng.randint(4, 14)))
        for _ in range(250_000)
    )
    lookups = sorted(_ms(big.near, misspelled(w, rng)) for w in words[:100])
    return {
        "vocabulary_words": len(vocabulary),
        "vocabulary_first_load_ms": load_ms,
        "forgiving_p50_ms": statistics.median(times) if times else None,
        "forgiving_max_ms": times[-1] if times else None,
        "forgiving_found_near_word": f"{found} of {min(50, len(queries))}",
        "near_lookup_250k_words_p50_ms": statistics.median(lookups),
        "near_lookup_250k_words_max_ms": lookups[-1],
    }


def _ms(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return (time.perf_counter() - started) * 1000


def run(segments: int, db_path: Path | None = None) -> dict:
    """Build (unless db_path exists) and measure; returns the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        path = db_path or Path(tmp) / "search.db"
        build_s = None if path.exists() else build(path, segments)
        return {"build_s": build_s, **measure(path)}


def compare(
    engines: list[str], segments: int, db_path: Path | None, postgres_url: str | None
) -> dict:
    """Build the same index in each engine, time the same queries; figures per engine."""
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp, _postgres(engines, postgres_url) as url:
        targets: list[tuple[Target, float | None]] = []
        if "sqlite" in engines:
            path = db_path or Path(tmp) / "search.db"
            build_s = None if path.exists() else build(path, segments)
            targets.append((Target("sqlite", search, dbmod.connect(path)), build_s))
        if "postgres" in engines:
            conn = pg_connect(url)
            built = conn.execute("SELECT EXISTS (SELECT 1 FROM search_segments) AS e").fetchone()
            conn.close()
            build_s = None if built["e"] else build_postgres(url, segments)
            targets.append((Target("postgres", search_pg, pg_connect(url)), build_s))
        queries = plan(targets[0][0])
        for target, build_s in targets:
            count = target.rows("SELECT count(*) AS n FROM search_segments", [])[0]["n"]
            figures[target.name] = {
                "segments": count,
                "build_s": build_s,
                **measure_target(target, queries),
            }
            target.conn.close()
    return figures


class _postgres:
    """The given URL, or a throwaway cluster's database for the run (tests/pgserver.py)."""

    def __init__(self, engines: list[str], url: str | None) -> None:
        self.url, self.server = url, None
        if url is None and "postgres" in engines:
            from tests.pgserver import PgServer

            self.server = PgServer()

    def __enter__(self) -> str | None:
        if self.server is not None:
            self.server.__enter__()
            self.url = self.server.create_database("ktl_bench")
        return self.url

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.__exit__(*exc)


def print_figures(figures: dict) -> None:
    print(
        f"search over {figures['segments']:,} segments: p50 {figures['p50_ms']:.1f} ms, "
        f"p95 {figures['p95_ms']:.1f} ms; slowest of the 20 most frequent words "
        f"({figures['slowest_frequent_word']!r}) {figures['slowest_frequent_ms']:.1f} ms; "
        f"naive ORDER BY bm25 for the most frequent word "
        f"{next(iter(figures['naive_bm25_ms'].values())):.0f} ms"
    )
    print(json.dumps(figures, ensure_ascii=False, indent=1))


def print_comparison(figures: dict) -> None:
    names = list(figures)
    shown = {
        name: {
            **f,
            "kinds": {
                kind: {
                    k: v
                    for k, v in cell.items()
                    if k != "times" and (cell["n"] <= 20 or k != "by_query")
                }
                for kind, cell in f["kinds"].items()
            },
        }
        for name, f in figures.items()
    }
    print(json.dumps(shown, ensure_ascii=False, indent=1))
    for name in names:
        f = figures[name]
        build_s = "reused" if f["build_s"] is None else f"built in {f['build_s']:.0f} s"
        ((word, naive),) = f["naive_rank_ms"].items()
        print(f"{name}: {f['segments']:,} segments, {build_s}; naive full ranking of "
              f"{word!r}: {naive:.0f} ms; near word found for {f['near_word_found']} "
              f"of 50 misspellings")  # fmt: skip
    header = f"{'query kind':28} {'n':>4}" + "".join(f" {n + ' p50/p95 ms':>24}" for n in names)
    print(header)
    for kind in figures[names[0]]["kinds"]:
        cells = [figures[n]["kinds"].get(kind) for n in names]
        line = f"{kind:28} {cells[0]['n']:>4}"
        for cell in cells:
            line += f" {cell['p50_ms']:>11.1f} / {cell['p95_ms']:>8.1f}" if cell else " " * 25
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (reused if present)")
    parser.add_argument("--engine", default=None, help="sqlite,postgres: side by side")
    parser.add_argument("--postgres-url", default=None, help="an empty PostgreSQL database")
    args = parser.parse_args()
    if args.engine is None:
        print_figures(run(args.segments, args.db))
        return
    engines = [name.strip() for name in args.engine.split(",") if name.strip()]
    if not engines or set(engines) - {"sqlite", "postgres"}:
        parser.error("--engine takes sqlite, postgres or both, comma-separated")
    print_comparison(compare(engines, args.segments, args.db, args.postgres_url))


if __name__ == "__main__":
    main()
