"""Search latency on a synthetic index of (by default) a million transcript segments.

    python benchmarks/search_latency.py [--segments 1000000] [--db PATH]

Builds Norwegian-looking talks (Zipf-distributed vocabulary with inflections and
compounds) in a temporary SQLite file, or reuses --db when it already exists, then prints
build time, p50/p95 over ordinary words, the slowest of the 20 most frequent words,
compound substrings, phrases, and the naive `ORDER BY bm25` query for comparison.
`run(segments)` returns the same figures as a dict.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.catalogue import search, similar
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


def build(path: Path, segments: int) -> float:
    """Create talks and index `segments` synthetic segments; returns seconds."""
    rng = random.Random(42)
    started = time.perf_counter()
    dbmod.init(path)
    db = dbmod.connect(path)
    talks = -(-segments // SEGMENTS_PER_TALK)
    db.conn.executemany(
        "INSERT INTO talks (id, slug, title, speaker, department, starts_at, description,"
        " language, visibility, status, created_at, updated_at)"
        " VALUES (?, ?, ?, 'Kari Nordmann', ?, ?, ?, 'nb', ?, 'ready', ?, ?)",
        [
            (
                i,
                f"foredrag-{i}",
                f"Om {rng.choice(NOUNS)} og {rng.choice(NOUNS)}",
                rng.choice(DEPARTMENTS),
                f"{2015 + i * 11 // talks}-0{1 + i % 9}-15T11:30",
                f"Hvordan {rng.choice(DEPARTMENTS)} jobber med {rng.choice(NOUNS)}.",
                rng.choice(["public", "internal"]),
                "2024-01-01T00:00",
                "2024-01-01T00:00",
            )
            for i in range(1, talks + 1)
        ],
    )
    db.conn.commit()
    text = sentences(rng, vocabulary(rng), segments)

    def items() -> Iterator[tuple[int, list[Segment], str]]:
        for talk_id in range(1, talks + 1):
            n = min(SEGMENTS_PER_TALK, segments - (talk_id - 1) * SEGMENTS_PER_TALK)
            yield talk_id, [Segment(i * 5.0, i * 5.0 + 5, next(text)) for i in range(n)], "nb"

    search.index_many(db, items())
    for talk_id in range(1, talks + 1):
        search.index_talk_metadata(db, talk_id)
    db.execute("INSERT INTO search_segments_fts(search_segments_fts) VALUES ('optimize')")
    db.conn.commit()
    db.close()
    return time.perf_counter() - started


def timed(db, query: str, **filters) -> float:
    started = time.perf_counter()
    search.search(db, query, **filters)
    return (time.perf_counter() - started) * 1000


def frequent_words(db, n: int, count: int) -> list[str]:
    """The n most frequent words in a sample of about 10,000 segments of the index."""
    counts: dict[str, int] = {}
    stride = max(1, count // 10_000)
    for (text,) in db.execute("SELECT text FROM search_segments WHERE id % ? = 0", [stride]):
        for word in re.findall(r"[^\W_]+", text.lower()):
            counts[word] = counts.get(word, 0) + 1
    return sorted(counts, key=counts.get, reverse=True)[:n]


def naive_ms(db, word: str) -> float:
    expr = search.match_expression(search.parse_query(word))
    started = time.perf_counter()
    db.execute(
        "SELECT rowid FROM search_segments_fts WHERE search_segments_fts MATCH ?"
        " ORDER BY bm25(search_segments_fts) LIMIT 100",
        [expr],
    ).fetchall()
    return (time.perf_counter() - started) * 1000


def measure(path: Path) -> dict:
    db = dbmod.connect(path)
    count = db.execute("SELECT count(*) FROM search_segments").fetchone()[0]
    top = frequent_words(db, 400, count)
    rng = random.Random(7)
    pool = top[20:] or top  # a small index (--segments 1000) has few distinct words
    ordinary = rng.sample(pool, min(150, len(pool)))
    ordinary += [" ".join(rng.sample(pool, min(2, len(pool)))) for _ in range(50)]
    timed(db, "barnehage")  # warm the page cache
    times = sorted(timed(db, q) for q in ordinary)
    frequent = {word: timed(db, word) for word in top[:20]}
    slowest = max(frequent, key=frequent.get)
    rare = top[min(200, len(top) - 1)]
    figures = {
        "segments": count,
        "p50_ms": statistics.median(times),
        "p95_ms": times[int(len(times) * 0.95) - 1],
        "max_ordinary_ms": times[-1],
        "slowest_frequent_word": slowest,
        "slowest_frequent_ms": frequent[slowest],
        "substrings_ms": {q: timed(db, q) for q in SUBSTRINGS},
        "phrases_ms": {q: timed(db, q) for q in PHRASES},
        "filtered_ms": {
            f"{top[0]} department=NAV": timed(db, top[0], department="NAV"),
            f"{top[0]} year=2015": timed(db, top[0], year=2015),
            f"{top[0]} NAV 2015 public": timed(
                db, top[0], department="NAV", year=2015, visibilities=("public",)
            ),
            "hage department=NAV": timed(db, "hage", department="NAV"),
            f"{rare} year=2016": timed(db, rare, year=2016),
        },
        "hostile_ms": {q[:30]: timed(db, q) for q in HOSTILE},
        "naive_bm25_ms": {top[0]: naive_ms(db, top[0])},
        **forgiving(db, pool, rng),
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


def forgiving(db, pool: list[str], rng: random.Random) -> dict:
    """Near-spelling search: the vocabulary's first load (once per process and database),
    queries that are misspellings of indexed words (they find nothing exactly), and the
    near-word lookup alone in a vocabulary of 250,000 words (a large real archive)."""
    search._vocab_cache.clear()
    started = time.perf_counter()
    vocabulary = search._vocabulary(db)
    load_ms = (time.perf_counter() - started) * 1000
    words = [w for w in pool if len(w) >= 6]
    queries = [misspelled(w, rng) for w in rng.sample(words, min(100, len(words)))]
    times = sorted(timed(db, q) for q in queries if q not in vocabulary.words)
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


def print_figures(figures: dict) -> None:
    print(
        f"search over {figures['segments']:,} segments: p50 {figures['p50_ms']:.1f} ms, "
        f"p95 {figures['p95_ms']:.1f} ms; slowest of the 20 most frequent words "
        f"({figures['slowest_frequent_word']!r}) {figures['slowest_frequent_ms']:.1f} ms; "
        f"naive ORDER BY bm25 for the most frequent word "
        f"{next(iter(figures['naive_bm25_ms'].values())):.0f} ms"
    )
    print(json.dumps(figures, ensure_ascii=False, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()
    print_figures(run(args.segments, args.db))


if __name__ == "__main__":
    main()
