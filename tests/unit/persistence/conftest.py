"""A fresh SQLite metadata database on a temporary file for each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.persistence.sqlite import SqliteDatabase, SqliteMetadata


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "meta" / "metadata.db")


@pytest.fixture
def database(db_path: str) -> Iterator[SqliteDatabase]:
    database = SqliteDatabase(db_path)
    yield database
    database.close()


@pytest.fixture
def metadata(database: SqliteDatabase) -> SqliteMetadata:
    return SqliteMetadata(database, pin_seconds=3600.0)
