"""The one door to the data: SQLite connections, migrations and write units.

`Store` lends connections (server.store.store); `write(db)` is the one way to commit.
"""

from server.store.pgconn import DatabaseError, IntegrityError, inserted_id, is_postgres
from server.store.store import PgStore, Store, open_store, write

__all__ = [
    "DatabaseError", "IntegrityError", "PgStore", "Store", "inserted_id", "is_postgres",
    "open_store", "write",
]  # fmt: skip
