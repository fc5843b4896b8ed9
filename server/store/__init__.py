"""The one door to the data: SQLite connections, migrations and write units."""
