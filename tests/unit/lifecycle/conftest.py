"""Lifecycle store and service tests run against SQLite and a real PostgreSQL.

SQLite: a fresh file per test. PostgreSQL: the session's server, one database for this
suite, emptied before each test. Each test gets one event loop (``run``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dockyard.persistence.sql import Database, SqlMetadata
from dockyard.persistence.sql.lifecycle import SqlLifecycleStore
from dockyard.persistence.sql.lifecycle_schema import LIFECYCLE_TABLES
from dockyard.persistence.sqlite import SqliteDatabase
from support import postgres

T = TypeVar("T")
Run = Callable[[Awaitable[T]], T]
BASE_TABLES = (
    "repositories",
    "blobs",
    "repository_blobs",
    "manifests",
    "manifest_refs",
    "tags",
    "outbox_events",
    "quota_alerts",
    "event_cursors",
)


def _postgres_url() -> str:
    return postgres.suite_database_url("lifecycle")


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path, run: Run[Any]) -> Iterator[Database]:
    if request.param == "sqlite":
        database: Database = SqliteDatabase(str(tmp_path / "metadata.db"))
    else:
        from dockyard.persistence.postgres.database import PostgresDatabase

        database = PostgresDatabase(_postgres_url())
        run(database.open())
        tables = ", ".join((*BASE_TABLES, "uploads", *LIFECYCLE_TABLES))
        run(database.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield database
    run(database.aclose())


@pytest.fixture
def store(database: Database) -> SqlLifecycleStore:
    return SqlLifecycleStore(database)


@pytest.fixture
def metadata(database: Database) -> SqlMetadata:
    return SqlMetadata(database, pin_seconds=3600.0)
