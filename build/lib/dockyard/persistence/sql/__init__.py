"""The stores, written once for every SQL backend (SQLite embedded, PostgreSQL scaled out)."""

from dockyard.persistence.sql.gc import SqlGarbageStore
from dockyard.persistence.sql.metadata import SqlMetadata
from dockyard.persistence.sql.outbox import SqlOutbox
from dockyard.persistence.sql.session import Database, Session
from dockyard.persistence.sql.uploads import SqlUploadStore

__all__ = ["Database", "Session", "SqlGarbageStore", "SqlMetadata", "SqlOutbox", "SqlUploadStore"]
