"""Named locks for write units that read, decide and then write (check-then-act).

On SQLite a write unit holds the whole database from its first statement (BEGIN IMMEDIATE):
what it reads cannot change under it until it commits, so a check followed by a write is
safe. On PostgreSQL write units run side by side (READ COMMITTED): two units can both read
"no open attempt" and both insert one. `serialize(db, name)` called first thing inside the
write unit makes units that name the same thing wait for each other there, until the one
holding it commits or rolls back (a transaction-scoped advisory lock); on SQLite it does
nothing, the unit is already alone.
"""

from __future__ import annotations

import hashlib
from typing import Any

from server.store.pgconn import is_postgres


def lock_key(name: str) -> int:
    """The signed 64-bit advisory lock key for a name (the same in every process)."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def serialize(db: Any, name: str) -> None:
    """Inside a write unit: wait for any other unit holding `name`, then hold it until this
    unit ends. Names are what is decided on, e.g. f"attempt:{user_id}:{talk_id}"."""
    if not db.conn.in_transaction:
        raise RuntimeError("serialize() belongs inside a write unit")
    if is_postgres(db):
        db.execute("SELECT pg_advisory_xact_lock(CAST(? AS bigint))", [lock_key(name)])
