"""The SQLite database: migrations, pragmas and transactions."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path

import pytest

from dockyard.persistence.schema import MIGRATIONS
from dockyard.persistence.sqlite import SqliteDatabase, SqliteMetadata

BLOB = "sha256:" + hashlib.sha256(b"x").hexdigest()


def user_version(database: SqliteDatabase) -> int:
    return int(database.connection.execute("PRAGMA user_version").fetchone()[0])


def test_fresh_database_is_fully_migrated(database: SqliteDatabase) -> None:
    assert user_version(database) == len(MIGRATIONS)
    tables = {
        row[0]
        for row in database.connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    expected = {"repositories", "blobs", "repository_blobs", "manifests", "manifest_refs", "tags"}
    assert expected | {"uploads"} <= tables


def test_pragmas(database: SqliteDatabase) -> None:
    conn = database.connection
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_migrate_is_idempotent(database: SqliteDatabase) -> None:
    assert database.migrate() == len(MIGRATIONS)
    assert database.migrate() == len(MIGRATIONS)
    assert user_version(database) == len(MIGRATIONS)


def test_reopening_keeps_version_and_data(db_path: str) -> None:
    first = SqliteDatabase(db_path)
    asyncio.run(SqliteMetadata(first).commit_blob("repo", BLOB, 1))
    first.close()
    second = SqliteDatabase(db_path)
    try:
        assert user_version(second) == len(MIGRATIONS)
        assert asyncio.run(SqliteMetadata(second).linked_blob("repo", BLOB)) is not None
    finally:
        second.close()


def test_two_connections_on_one_file(db_path: str) -> None:
    first = SqliteDatabase(db_path)
    second = SqliteDatabase(db_path)
    try:
        asyncio.run(SqliteMetadata(first).commit_blob("repo", BLOB, 1))
        assert asyncio.run(SqliteMetadata(second).any_blob(BLOB)) is not None
        assert user_version(second) == len(MIGRATIONS)
    finally:
        first.close()
        second.close()


def test_creates_parent_directory(tmp_path: Path) -> None:
    database = SqliteDatabase(str(tmp_path / "a" / "b" / "metadata.db"))
    database.close()
    assert (tmp_path / "a" / "b" / "metadata.db").is_file()


def test_failed_transaction_leaves_nothing(database: SqliteDatabase) -> None:
    with pytest.raises(RuntimeError), database.transaction() as conn:
        conn.execute("INSERT INTO repositories(name, created_at) VALUES ('ghost', 0)")
        conn.execute(
            "INSERT INTO blobs(digest, size, committed_at) VALUES (?, 1, 0)", (BLOB,)
        )
        raise RuntimeError("boom")
    conn = database.connection
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM repositories").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM blobs").fetchone()[0] == 0
    with database.transaction() as again:  # the connection is usable afterwards
        again.execute("INSERT INTO repositories(name, created_at) VALUES ('real', 0)")
    assert conn.execute("SELECT name FROM repositories").fetchall() == [("real",)]


def test_failed_statement_rolls_back_earlier_ones(database: SqliteDatabase) -> None:
    with pytest.raises(sqlite3.IntegrityError), database.transaction() as conn:
        conn.execute("INSERT INTO repositories(name, created_at) VALUES ('one', 0)")
        conn.execute("INSERT INTO repositories(name, created_at) VALUES ('one', 0)")
    assert database.connection.execute("SELECT count(*) FROM repositories").fetchone()[0] == 0


def test_memory_database() -> None:
    database = SqliteDatabase(":memory:")
    try:
        assert user_version(database) == len(MIGRATIONS)
    finally:
        database.close()
