"""Every persistence test runs against SQLite and against a real PostgreSQL.

SQLite: a fresh file per test. PostgreSQL: the session's server (``support.postgres``), one
database for this suite, emptied before each test. Each test gets one event loop (``run``),
because a PostgreSQL pool belongs to the loop it was opened in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dockyard.persistence.sql import Database, SqlMetadata
from dockyard.persistence.sqlite import SqliteDatabase
from support import postgres

T = TypeVar("T")
Run = Callable[[Awaitable[T]], T]
Rows = Callable[..., list[tuple[Any, ...]]]
TABLES = (
    "repositories",
    "blobs",
    "repository_blobs",
    "manifests",
    "manifest_refs",
    "tags",
    "outbox_events",
    "quota_alerts",
    "event_cursors",
    "mirror_tags",
    "mirror_upstreams",
    "event_deliveries",
    "delivery_cursors",
)


def postgres_url() -> str:
    return postgres.suite_database_url("unit")


@pytest.fixture
def pg_server() -> postgres.PostgresServer:
    """The session's PostgreSQL server (skips when PostgreSQL is not installed)."""
    postgres_url()
    return postgres.shared_server()


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "meta" / "metadata.db")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def open_database(backend: str, db_path: str, run: Run[Any]) -> Database:
    """A new handle on the test's database (a new SQLite connection, a new pool)."""
    if backend == "sqlite":
        return SqliteDatabase(db_path)
    from dockyard.persistence.postgres.database import PostgresDatabase

    database = PostgresDatabase(postgres_url())
    run(database.open())
    return database


def fresh_database(backend: str, db_path: str, run: Run[Any]) -> Iterator[Database]:
    database = open_database(backend, db_path, run)
    if backend == "postgres":
        run(database.execute(f"TRUNCATE {', '.join(TABLES)}, uploads RESTART IDENTITY CASCADE"))
    yield database
    run(database.aclose())


@pytest.fixture
def database(backend: str, db_path: str, run: Run[Any]) -> Iterator[Database]:
    yield from fresh_database(backend, db_path, run)


@pytest.fixture
def pg_database(db_path: str, run: Run[Any]) -> Iterator[Database]:
    """For the PostgreSQL-only tests: the suite's database, emptied."""
    yield from fresh_database("postgres", db_path, run)


@pytest.fixture
def open_again(
    database: Database, backend: str, db_path: str, run: Run[Any]
) -> Iterator[Callable[[], Database]]:
    """Open the same database once more (as after a restart, or from another node)."""
    opened: list[Database] = []

    def again() -> Database:
        opened.append(open_database(backend, db_path, run))
        return opened[-1]

    yield again
    for handle in opened:
        run(handle.aclose())


@pytest.fixture
def metadata(database: Database) -> SqlMetadata:
    return SqlMetadata(database, pin_seconds=3600.0)


@pytest.fixture
def rows(database: Database, run: Run[Any]) -> Rows:
    """``rows(sql, *params)``: run a query (``?`` placeholders) and return every row."""

    def query(sql: str, *params: object) -> list[tuple[Any, ...]]:
        return run(database.fetchall(sql, params))

    return query
