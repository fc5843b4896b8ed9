"""PostgreSQL's own search over the search tables of server.store.pg_migrations (one
migration, appended to that list): server.catalogue.search_pg reads and writes it.

- ``ktl_norwegian`` / ``ktl_english``: copies of the built-in ``norwegian`` and ``english``
  configurations whose words go through the same Snowball stemmers without the stop-word
  lists, so "det er" and "og" can be searched as on SQLite and phrase positions count
  every word. No ``unaccent``: æ, ø and å stay letters of their own ("første" is not
  "forste"); the parser lower-cases them.
- ``config``: the configuration of a row (English talks and the English machine
  translation: ktl_english; every other row: ktl_norwegian). A row inserted without one
  (``ktl migrate-to-postgres`` copies SQLite's columns only) gets it from its talk's
  language by a trigger.
- ``tsv``: the row's words stemmed by its configuration, a generated column (a COPY fills
  it too), GIN-indexed: whole words and "quoted phrases" (``<->``).
- pg_trgm GIN indexes on ``stems`` (the words Snowball-stemmed in Python, as on SQLite)
  and ``lower(text)``: a stem inside a compound ("barnehag" in "kommunebarnehag"), a word
  inside a word ("hage" in "barnehage"), through LIKE '%…%'; and on ``search_vocab.word``
  for near spellings (``word % query``).
"""

from __future__ import annotations

_CONFIGURATIONS = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TEXT SEARCH DICTIONARY ktl_norwegian_stem (TEMPLATE = snowball, Language = norwegian);
CREATE TEXT SEARCH CONFIGURATION ktl_norwegian (COPY = pg_catalog.norwegian);
ALTER TEXT SEARCH CONFIGURATION ktl_norwegian ALTER MAPPING FOR
    asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH ktl_norwegian_stem;
CREATE TEXT SEARCH DICTIONARY ktl_english_stem (TEMPLATE = snowball, Language = english);
CREATE TEXT SEARCH CONFIGURATION ktl_english (COPY = pg_catalog.english);
ALTER TEXT SEARCH CONFIGURATION ktl_english ALTER MAPPING FOR
    asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH ktl_english_stem;
CREATE FUNCTION search_row_config() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.config IS NULL THEN
        NEW.config := CASE WHEN TG_TABLE_NAME = 'search_translations'
            OR (SELECT language FROM talks WHERE id = NEW.talk_id) = 'en'
            THEN 'ktl_english' ELSE 'ktl_norwegian' END::regconfig;
    END IF;
    RETURN NEW;
END;
$$;
"""


def _rows_table(name: str, english: bool = False) -> str:
    """Configuration, tsvector and indexes for a table of searchable rows of talks."""
    language = "TRUE" if english else "t.language = 'en'"
    return f"""
ALTER TABLE {name} ADD COLUMN config regconfig;
UPDATE {name} s
    SET config = CASE WHEN {language} THEN 'ktl_english' ELSE 'ktl_norwegian' END::regconfig
    FROM talks t WHERE t.id = s.talk_id;
ALTER TABLE {name} ALTER COLUMN config SET NOT NULL;
CREATE TRIGGER {name}_config BEFORE INSERT ON {name}
    FOR EACH ROW EXECUTE FUNCTION search_row_config();
ALTER TABLE {name} ADD COLUMN tsv tsvector
    GENERATED ALWAYS AS (to_tsvector(config, text)) STORED;
CREATE INDEX {name}_tsv ON {name} USING gin (tsv);
CREATE INDEX {name}_stems ON {name} USING gin (stems gin_trgm_ops);
CREATE INDEX {name}_lower ON {name} USING gin (lower(text) gin_trgm_ops);
"""


SEARCH_MIGRATION = (
    _CONFIGURATIONS
    + _rows_table("search_segments")
    + _rows_table("search_slides")
    + _rows_table("search_translations", english=True)
    + "CREATE INDEX search_vocab_trgm ON search_vocab USING gin (word gin_trgm_ops);\n"
)


# LIKE '%…%' on text with no other statistics is estimated from a histogram of 100 values:
# a word in 1 % of the rows often looks like 100 rows, and the planner then filters the
# newest id range row by row instead of ANDing the trigram index with the primary key
# (server.catalogue.search_pg). A 1000-value histogram estimates such words closely.
STATISTICS_MIGRATION = """
ALTER TABLE search_segments ALTER COLUMN stems SET STATISTICS 1000;
ALTER INDEX search_segments_lower ALTER COLUMN 1 SET STATISTICS 1000;
ANALYZE search_segments;
"""
