"""The one door to the data: SQLite connections, migrations and write units.

`Store` lends connections (server.store.store); `write(db)` is the one way to commit.
"""

from server.store.store import Store, write

__all__ = ["Store", "write"]
