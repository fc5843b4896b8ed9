"""Every migration of the database, in the order it runs (one SQL script each).

Append only: a migration that has shipped never changes. A new one goes at the END of
`all_migrations()`. The search index's tables are here too (queried by
server.catalogue.search), so the store never imports the code above it.
"""

from __future__ import annotations

# A migration is one SQL script; it runs in one transaction with the version bump.
_M001_CORE = """
        CREATE TABLE talks (
            id INTEGER PRIMARY KEY,
            slug TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            speaker TEXT NOT NULL DEFAULT '',
            department TEXT NOT NULL DEFAULT '',
            starts_at TEXT,
            description TEXT NOT NULL DEFAULT '',
            language TEXT NOT NULL DEFAULT 'nb',
            visibility TEXT NOT NULL DEFAULT 'internal',
            status TEXT NOT NULL DEFAULT 'planned',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE recordings (
            id INTEGER PRIMARY KEY,
            talk_id INTEGER NOT NULL UNIQUE REFERENCES talks(id) ON DELETE CASCADE,
            original_name TEXT NOT NULL,
            path TEXT NOT NULL,
            size INTEGER NOT NULL,
            duration REAL NOT NULL,
            has_video INTEGER NOT NULL,
            video_codec TEXT,
            pix_fmt TEXT,
            audio_codec TEXT,
            width INTEGER,
            height INTEGER,
            created_at TEXT NOT NULL
        );
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            talk_id INTEGER NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'queued',
            stage TEXT,
            stages_done TEXT NOT NULL DEFAULT '[]',
            progress REAL NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            worker TEXT,
            lease_until REAL,
            error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE INDEX jobs_state ON jobs(state, lease_until);
        CREATE INDEX jobs_talk ON jobs(talk_id);
        CREATE TABLE uploads (
            id TEXT PRIMARY KEY,
            length INTEGER NOT NULL,
            offset INTEGER NOT NULL DEFAULT 0,
            metadata TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL
        );
"""

_M002_ACCOUNTS = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL DEFAULT 'viewer',
    department TEXT NOT NULL DEFAULT '',
    password_hash TEXT,
    oidc_subject TEXT UNIQUE,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    last_login_at TEXT
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE TABLE password_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL
);
CREATE TABLE login_attempts (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX login_attempts_key ON login_attempts(key, at);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT ''
);
ALTER TABLE talks ADD COLUMN organiser_id INTEGER REFERENCES users(id) ON DELETE SET NULL;
"""


_M003_TRANSCRIPTS = """
ALTER TABLE talks ADD COLUMN transcript_state TEXT NOT NULL DEFAULT 'machine';
ALTER TABLE talks ADD COLUMN transcript_version INTEGER NOT NULL DEFAULT 0;
CREATE TABLE transcript_versions (
    id INTEGER PRIMARY KEY,
    talk_id INTEGER NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'old',
    author_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    author TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    UNIQUE (talk_id, version)
);
CREATE TABLE vocabulary (
    id INTEGER PRIMARY KEY,
    talk_id INTEGER REFERENCES talks(id) ON DELETE CASCADE,
    term TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX vocabulary_term ON vocabulary(COALESCE(talk_id, 0), term);
ALTER TABLE users ADD COLUMN locale TEXT NOT NULL DEFAULT 'nb';
"""


_M004_MODULES = """
ALTER TABLE talks ADD COLUMN room TEXT NOT NULL DEFAULT '';
ALTER TABLE talks ADD COLUMN capacity INTEGER;
ALTER TABLE talks ADD COLUMN attendance_code TEXT;
CREATE TABLE quizzes (
    talk_id INTEGER PRIMARY KEY REFERENCES talks(id) ON DELETE CASCADE,
    pass_mark INTEGER NOT NULL DEFAULT 80,
    retries_allowed INTEGER NOT NULL DEFAULT 1,
    published INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);
CREATE TABLE questions (
    id INTEGER PRIMARY KEY,
    talk_id INTEGER NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    explanation TEXT NOT NULL DEFAULT '',
    at_seconds REAL,
    options TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL
);
CREATE INDEX questions_talk ON questions(talk_id, position);
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY,
    talk_id INTEGER NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    started_at TEXT NOT NULL,
    submitted_at TEXT,
    score REAL,
    passed INTEGER,
    answers TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX attempts_user ON attempts(user_id, talk_id);
CREATE TABLE watch_progress (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    talk_id INTEGER NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    intervals TEXT NOT NULL DEFAULT '[]',
    watched_seconds REAL NOT NULL DEFAULT 0,
    duration REAL NOT NULL DEFAULT 0,
    position REAL NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, talk_id)
);
CREATE TABLE signups (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    talk_id INTEGER NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    mode TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, talk_id)
);
CREATE TABLE attendance (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    talk_id INTEGER NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    how TEXT NOT NULL,
    registered_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (user_id, talk_id)
);
CREATE TABLE completions (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    talk_id INTEGER NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    completed_at TEXT NOT NULL,
    PRIMARY KEY (user_id, talk_id)
);
"""


_M005_LIVE = """
CREATE TABLE broadcasts (
    talk_id INTEGER PRIMARY KEY REFERENCES talks(id) ON DELETE CASCADE,
    state TEXT NOT NULL DEFAULT 'idle',
    source TEXT NOT NULL DEFAULT '',
    srt_passphrase TEXT NOT NULL,
    srt_port INTEGER,
    parts INTEGER NOT NULL DEFAULT 0,
    started_at TEXT,
    interrupted_at TEXT,
    ended_at TEXT,
    message TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);
CREATE TABLE live_questions (
    id INTEGER PRIMARY KEY,
    talk_id INTEGER NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL,
    answered_at TEXT
);
CREATE INDEX live_questions_talk ON live_questions(talk_id, id);
"""

# users.locale defaults to 'nb', so whether a person chose a language is kept apart: an
# account that never chose takes the browser's language (cookie, Accept-Language) at its
# first sign-in (server.core.i18n.adopt_browser_language).
_M006_LOCALE_CHOSEN = """
ALTER TABLE users ADD COLUMN locale_chosen INTEGER NOT NULL DEFAULT 0;
UPDATE users SET locale_chosen = 1 WHERE locale != 'nb';
"""


# Operations (server.ops): the worker records each transcription's speed for /metrics (the
# worker is another process), and /readyz proves the database writable by writing one row.
_M_OPS = """
CREATE TABLE transcription_stats (
    id INTEGER PRIMARY KEY,
    talk_id INTEGER REFERENCES talks(id) ON DELETE SET NULL,
    model TEXT NOT NULL DEFAULT '',
    audio_seconds REAL NOT NULL,
    wall_seconds REAL NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE health_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at REAL NOT NULL
);
"""


# The search index (server.catalogue.search): segments and talks in FTS5 trigram tables.
_M_SEARCH_001 = """
CREATE TABLE search_segments (
    id INTEGER PRIMARY KEY, talk_id INTEGER NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL, start REAL NOT NULL, "end" REAL NOT NULL,
    text TEXT NOT NULL, stems TEXT NOT NULL);
CREATE INDEX search_segments_talk ON search_segments (talk_id);  -- (talk_id, rowid)
CREATE VIRTUAL TABLE search_segments_fts USING fts5(
    text, stems, content='search_segments', content_rowid='id', tokenize='trigram');
CREATE TRIGGER search_segments_ai AFTER INSERT ON search_segments BEGIN
    INSERT INTO search_segments_fts(rowid, text, stems) VALUES (new.id, new.text, new.stems);
END;
CREATE TRIGGER search_segments_ad AFTER DELETE ON search_segments BEGIN
    INSERT INTO search_segments_fts(search_segments_fts, rowid, text, stems)
    VALUES ('delete', old.id, old.text, old.stems);
END;
CREATE TABLE search_talks (
    talk_id INTEGER PRIMARY KEY REFERENCES talks(id) ON DELETE CASCADE,
    text TEXT NOT NULL, stems TEXT NOT NULL);
CREATE VIRTUAL TABLE search_talks_fts USING fts5(
    text, stems, content='search_talks', content_rowid='talk_id', tokenize='trigram');
CREATE TRIGGER search_talks_ai AFTER INSERT ON search_talks BEGIN
    INSERT INTO search_talks_fts(rowid, text, stems) VALUES (new.talk_id, new.text, new.stems);
END;
CREATE TRIGGER search_talks_ad AFTER DELETE ON search_talks BEGIN
    INSERT INTO search_talks_fts(search_talks_fts, rowid, text, stems)
    VALUES ('delete', old.talk_id, old.text, old.stems);
END;
"""

# The transcripts' vocabulary: each talk's distinct words with counts, and all talks'
# words (kept by triggers; ids only grow) for near spellings (server/catalogue/similar.py).
_M_SEARCH_002_VOCABULARY = """
CREATE TABLE search_vocab (
    id INTEGER PRIMARY KEY AUTOINCREMENT, word TEXT NOT NULL UNIQUE, n INTEGER NOT NULL);
CREATE TABLE search_talk_vocab (
    talk_id INTEGER NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    word TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (talk_id, word)) WITHOUT ROWID;
CREATE TRIGGER search_talk_vocab_ai AFTER INSERT ON search_talk_vocab BEGIN
    INSERT INTO search_vocab (word, n) VALUES (new.word, new.n)
    ON CONFLICT (word) DO UPDATE SET n = n + excluded.n;
END;
CREATE TRIGGER search_talk_vocab_au AFTER UPDATE ON search_talk_vocab BEGIN
    UPDATE search_vocab SET n = n + new.n - old.n WHERE word = new.word;
END;
CREATE TRIGGER search_talk_vocab_ad AFTER DELETE ON search_talk_vocab BEGIN
    UPDATE search_vocab SET n = n - old.n WHERE word = old.word;
    DELETE FROM search_vocab WHERE word = old.word AND n <= 0;
END;
"""


# Slides read from the recordings (server.catalogue.slides), the state of each talk's slide
# stage, chapters (server.catalogue.chapters), and the slides' text in the search index
# (a table of its own beside search_segments, whose rows stay contiguous per talk).
_M_SLIDES = """
CREATE TABLE slides (
    talk_id INTEGER NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL, at REAL NOT NULL, text TEXT NOT NULL, heading TEXT NOT NULL,
    thumb TEXT NOT NULL, PRIMARY KEY (talk_id, idx));
CREATE TABLE slide_scans (
    talk_id INTEGER PRIMARY KEY REFERENCES talks(id) ON DELETE CASCADE,
    state TEXT NOT NULL, slides INTEGER NOT NULL DEFAULT 0,
    candidates INTEGER NOT NULL DEFAULT 0, seconds REAL, error TEXT, updated_at TEXT NOT NULL);
CREATE TABLE chapters (
    id INTEGER PRIMARY KEY, talk_id INTEGER NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    at REAL NOT NULL, title TEXT NOT NULL, source TEXT NOT NULL);
CREATE INDEX chapters_talk ON chapters (talk_id, at);
CREATE TABLE search_slides (
    id INTEGER PRIMARY KEY, talk_id INTEGER NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL, start REAL NOT NULL, text TEXT NOT NULL, stems TEXT NOT NULL);
CREATE INDEX search_slides_talk ON search_slides (talk_id);
CREATE VIRTUAL TABLE search_slides_fts USING fts5(
    text, stems, content='search_slides', content_rowid='id', tokenize='trigram');
CREATE TRIGGER search_slides_ai AFTER INSERT ON search_slides BEGIN
    INSERT INTO search_slides_fts(rowid, text, stems) VALUES (new.id, new.text, new.stems);
END;
CREATE TRIGGER search_slides_ad AFTER DELETE ON search_slides BEGIN
    INSERT INTO search_slides_fts(search_slides_fts, rowid, text, stems)
    VALUES ('delete', old.id, old.text, old.stems);
END;
"""


# Personal notes at moments of a talk (server.learning.notes): private to their writer.
_M_NOTES = """
CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    talk_id INTEGER NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    at REAL NOT NULL, text TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX notes_user_talk ON notes (user_id, talk_id, at);
"""


# The English caption track (server.transcript.translation): its stage and review state,
# its versions, and its text in the search index (a table of its own, like the slides').
_M_TRANSLATIONS = """
CREATE TABLE translations (
    talk_id INTEGER PRIMARY KEY REFERENCES talks(id) ON DELETE CASCADE,
    wanted INTEGER, state TEXT NOT NULL DEFAULT 'none', review TEXT NOT NULL DEFAULT 'machine',
    version INTEGER NOT NULL DEFAULT 0, seconds REAL, model TEXT NOT NULL DEFAULT '',
    error TEXT, updated_at TEXT NOT NULL);
CREATE TABLE translation_versions (
    id INTEGER PRIMARY KEY, talk_id INTEGER NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    version INTEGER NOT NULL, author_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    author TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL,
    UNIQUE (talk_id, version));
CREATE TABLE search_translations (
    id INTEGER PRIMARY KEY, talk_id INTEGER NOT NULL REFERENCES talks(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL, start REAL NOT NULL, "end" REAL NOT NULL,
    text TEXT NOT NULL, stems TEXT NOT NULL);
CREATE INDEX search_translations_talk ON search_translations (talk_id);
CREATE VIRTUAL TABLE search_translations_fts USING fts5(
    text, stems, content='search_translations', content_rowid='id', tokenize='trigram');
CREATE TRIGGER search_translations_ai AFTER INSERT ON search_translations BEGIN
    INSERT INTO search_translations_fts(rowid, text, stems) VALUES (new.id, new.text, new.stems);
END;
CREATE TRIGGER search_translations_ad AFTER DELETE ON search_translations BEGIN
    INSERT INTO search_translations_fts(search_translations_fts, rowid, text, stems)
    VALUES ('delete', old.id, old.text, old.stems);
END;
"""


# Workers limited to some stages (server.pipeline.jobs): the stage each job needs next, so
# a claim can pick only jobs the worker takes, and which worker finished each stage.
_M_JOB_STAGES = """
ALTER TABLE jobs ADD COLUMN next_stage TEXT;
UPDATE jobs SET next_stage = CASE kind
    WHEN 'process' THEN CASE
        WHEN instr(stages_done, '"package"') = 0 THEN 'package'
        WHEN instr(stages_done, '"transcribe"') = 0 THEN 'transcribe'
        WHEN instr(stages_done, '"index"') = 0 THEN 'index'
        WHEN instr(stages_done, '"slides"') = 0 THEN 'slides'
        ELSE 'translate' END
    WHEN 'retranscribe' THEN 'transcribe'
    WHEN 'translate' THEN 'translate'
    WHEN 'slides' THEN 'slides'
    END;
CREATE INDEX jobs_claim ON jobs(state, next_stage, id);
CREATE TABLE job_stages (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    stage TEXT NOT NULL, worker TEXT NOT NULL, finished_at TEXT NOT NULL,
    PRIMARY KEY (job_id, stage));
"""


# Several `ktl serve` processes (server.live.events): what one process says about a
# broadcast (state, captions, questions) every process reads from here for its own event
# streams, and each process's viewers of a talk on air, so that every process counts all.
_M_LIVE_SHARED = """
CREATE TABLE live_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    talk_id INTEGER NOT NULL,
    origin TEXT NOT NULL,
    event TEXT NOT NULL,
    created_at REAL NOT NULL);
CREATE INDEX live_events_created ON live_events(created_at);
CREATE TABLE live_presence (
    process TEXT NOT NULL,
    talk_id INTEGER NOT NULL,
    viewers TEXT NOT NULL,
    present TEXT NOT NULL,
    seen_at REAL NOT NULL,
    PRIMARY KEY (process, talk_id));
"""


# The workers that run now (server.pipeline.presence): each says which stages it takes and
# when it was last seen, so `ktl doctor` can tell queued jobs no running worker takes.
_M_WORKERS = """
CREATE TABLE workers (
    name TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
    stages TEXT NOT NULL, started_at TEXT NOT NULL, seen_at REAL NOT NULL);
"""


def all_migrations() -> list[str]:
    """Every migration in the order it runs. Append only: a shipped migration never changes."""
    return [
        _M001_CORE, _M_SEARCH_001, _M002_ACCOUNTS, _M003_TRANSCRIPTS, _M004_MODULES,
        _M005_LIVE, _M006_LOCALE_CHOSEN, _M_OPS, _M_SEARCH_002_VOCABULARY, _M_SLIDES,
        _M_NOTES, _M_TRANSLATIONS, _M_JOB_STAGES, _M_LIVE_SHARED, _M_WORKERS,
    ]  # fmt: skip
