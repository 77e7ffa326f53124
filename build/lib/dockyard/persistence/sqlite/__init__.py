"""The embedded SQLite backend (stdlib ``sqlite3``, called inline on the event loop)."""

from dockyard.persistence.sqlite.database import SqliteDatabase

__all__ = ["SqliteDatabase"]
