"""The embedded SQLite implementation of the metadata stores (stdlib ``sqlite3``, inline)."""

from dockyard.persistence.sqlite.database import SqliteDatabase
from dockyard.persistence.sqlite.metadata import SqliteMetadata

__all__ = ["SqliteDatabase", "SqliteMetadata"]
