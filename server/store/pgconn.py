"""A PostgreSQL connection that domain code uses as it uses SQLite's (server.store.store).

Domain code is written once, in the SQL both engines share: `?` and `:name` parameters,
`ON CONFLICT … DO NOTHING/UPDATE`, `RETURNING id`, 0/1 flags compared explicitly (`active = 1`).
`PgDatabase` gives it what it uses of a `sqlite_utils.Database` (`execute`, `executemany`,
`conn`, `in_transaction`, `close`) on a psycopg connection in autocommit mode (a transaction
exists only inside `write(db)`, as on SQLite), turns the parameter markers into psycopg's
(`%s`, `%(name)s`; a literal `%` doubled) and answers rows that read both by position and by
column name, as `sqlite3.Row` does. The engine-specific parts (search, migrations) have
modules of their own; `is_postgres(db)` tells them apart.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

# What domain code catches, whichever engine answered.
IntegrityError = (sqlite3.IntegrityError, psycopg.IntegrityError)
DatabaseError = (sqlite3.Error, psycopg.Error)


class Row(tuple):
    """A row read by position (`row[0]`, unpacking) or by column (`row["title"]`, `dict(row)`)."""

    _names: dict[str, int]

    def __new__(cls, values: Sequence[Any], names: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._names else default

    def items(self) -> list[tuple[str, Any]]:
        return [(name, tuple.__getitem__(self, i)) for name, i in self._names.items()]


def _row_factory(cursor: psycopg.Cursor) -> Any:
    if cursor.description is None:
        return tuple
    names = {column.name: i for i, column in enumerate(cursor.description)}
    return lambda values: Row(values, names)


@functools.lru_cache(maxsize=2048)
def translate(sql: str) -> str:
    """SQL with SQLite's parameter markers (`?`, `:name`) in psycopg's (`%s`, `%(name)s`);
    every literal `%` doubled. Quoted strings and identifiers, `::` casts and comments are
    left as they are."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        char = sql[i]
        if char in "'\"":
            end = _closing(sql, i, char)
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif char == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif char == "%":
            out.append("%%")
            i += 1
        elif char == "?":
            out.append("%s")
            i += 1
        elif char == ":" and sql.startswith("::", i):
            out.append("::")
            i += 2
        elif char == ":" and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_"):
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            out.append(f"%({sql[i + 1 : j]})s")
            i = j
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _closing(sql: str, start: int, quote: str) -> int:
    """The index after the quoted part that starts at `start` ('' or "" inside it doubled)."""
    i = start + 1
    while i < len(sql):
        if sql[i] == quote:
            if sql.startswith(quote * 2, i):
                i += 2
                continue
            return i + 1
        i += 1
    return len(sql)


def _params(params: Any) -> Any:
    if params is None:
        return None
    if isinstance(params, dict):
        return params
    return list(params)


class PgDatabase:
    """One PostgreSQL connection, used as domain code uses a SQLite one."""

    is_postgres = True

    def __init__(self, conn: psycopg.Connection) -> None:
        conn.autocommit = True
        conn.row_factory = _row_factory
        self.raw = conn

    @property
    def conn(self) -> PgDatabase:
        """What `write(db)` yields and domain code calls `execute`/`executemany` on."""
        return self

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, params: Any = None) -> psycopg.Cursor:
        return self.raw.execute(translate(sql), _params(params))

    def executemany(self, sql: str, rows: Iterable[Any]) -> psycopg.Cursor:
        cursor = self.raw.cursor()
        cursor.executemany(translate(sql), [_params(row) for row in rows])
        return cursor

    def query(self, sql: str, params: Any = None) -> Iterator[dict]:
        for row in self.execute(sql, params):
            yield dict(row)

    def close(self) -> None:
        self.raw.close()


def inserted_id(cursor: Any) -> int:
    """The id an `INSERT … RETURNING id` gave, read to the statement's end (SQLite cannot
    commit while a write statement is still stepping)."""
    return int(cursor.fetchall()[0][0])


def is_postgres(db: Any) -> bool:
    """Whether `db` (a connection as domain code receives it) is PostgreSQL's."""
    return getattr(db, "is_postgres", False)
