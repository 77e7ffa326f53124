"""The databases: migrations, transactions; SQLite's pragmas and files."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dockyard.persistence.postgres import schema as postgres_schema
from dockyard.persistence.sql import Database, Session, SqlMetadata
from dockyard.persistence.sqlite import SqliteDatabase
from dockyard.persistence.sqlite.schema import MIGRATIONS

Run = Callable[[Awaitable[Any]], Any]
BLOB = "sha256:" + hashlib.sha256(b"x").hexdigest()
TABLES = ("repositories", "blobs", "repository_blobs", "manifests", "manifest_refs", "tags")


def test_both_backends_have_the_same_migrations() -> None:
    assert len(MIGRATIONS) == len(postgres_schema.MIGRATIONS)


def test_fresh_database_is_fully_migrated(run: Run, database: Database) -> None:
    assert run(database.migrate()) == len(MIGRATIONS)
    for table in (*TABLES, "uploads"):
        assert run(database.fetchone(f"SELECT count(*) FROM {table}")) == (0,)  # noqa: S608


def test_migrate_is_idempotent(run: Run, database: Database) -> None:
    assert run(database.migrate()) == len(MIGRATIONS)
    assert run(database.migrate()) == len(MIGRATIONS)


def test_failed_transaction_leaves_nothing(run: Run, database: Database) -> None:
    async def work(session: Session) -> None:
        await session.execute("INSERT INTO repositories(name, created_at) VALUES ('ghost', 0)")
        await session.execute(
            "INSERT INTO blobs(digest, size, committed_at) VALUES (?, 1, 0)", (BLOB,)
        )
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run(database.transaction(work))
    assert run(database.fetchone("SELECT count(*) FROM repositories")) == (0,)
    assert run(database.fetchone("SELECT count(*) FROM blobs")) == (0,)

    async def again(session: Session) -> int:
        sql = "INSERT INTO repositories(name, created_at) VALUES ('real', 0)"
        return await session.execute(sql)

    assert run(database.transaction(again)) == 1, "the database is usable afterwards"
    assert run(database.fetchall("SELECT name FROM repositories")) == [("real",)]


def test_failed_statement_rolls_back_earlier_ones(run: Run, database: Database) -> None:
    async def work(session: Session) -> None:
        await session.execute("INSERT INTO repositories(name, created_at) VALUES ('one', 0)")
        await session.execute("INSERT INTO repositories(name, created_at) VALUES ('one', 0)")

    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        run(database.transaction(work))
    assert run(database.fetchone("SELECT count(*) FROM repositories")) == (0,)


def test_transaction_returns_the_work_result(run: Run, database: Database) -> None:
    async def work(session: Session) -> list[tuple[Any, ...]]:
        await session.executemany(
            "INSERT INTO repositories(name, created_at) VALUES (?, ?)", [("b", 1.5), ("a", 2.5)]
        )
        return await session.fetchall("SELECT name, created_at FROM repositories ORDER BY name")

    assert run(database.transaction(work)) == [("a", 2.5), ("b", 1.5)]


def test_reopening_keeps_data(
    run: Run, database: Database, open_again: Callable[[], Database]
) -> None:
    run(SqlMetadata(database).commit_blob("repo", BLOB, 1))
    run(database.aclose())
    second = open_again()
    assert run(second.migrate()) == len(MIGRATIONS)
    assert run(SqlMetadata(second).linked_blob("repo", BLOB)) is not None


def test_two_handles_on_one_database(
    run: Run, database: Database, open_again: Callable[[], Database]
) -> None:
    """Two processes (or nodes) on the same database see each other's writes."""
    second = open_again()
    run(SqlMetadata(database).commit_blob("repo", BLOB, 1))
    assert run(SqlMetadata(second).any_blob(BLOB)) is not None


# SQLite only --------------------------------------------------------------------------------


def user_version(database: SqliteDatabase) -> int:
    return int(database.connection.execute("PRAGMA user_version").fetchone()[0])


def test_sqlite_version_and_pragmas(db_path: str) -> None:
    database = SqliteDatabase(db_path)
    try:
        conn = database.connection
        assert user_version(database) == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        database.close()


def test_sqlite_creates_parent_directory(tmp_path: Path) -> None:
    database = SqliteDatabase(str(tmp_path / "a" / "b" / "metadata.db"))
    database.close()
    assert (tmp_path / "a" / "b" / "metadata.db").is_file()


def test_sqlite_memory_database() -> None:
    database = SqliteDatabase(":memory:")
    try:
        assert user_version(database) == len(MIGRATIONS)
    finally:
        database.close()


def test_sqlite_failed_commit_is_rolled_back(db_path: str, run: Run) -> None:
    """A COMMIT that fails (a deferred constraint here) leaves no transaction open."""
    database = SqliteDatabase(db_path)
    database.connection.execute("PRAGMA defer_foreign_keys=ON")

    async def work(session: Session) -> None:
        await session.execute(
            "INSERT INTO tags(repository_id, name, manifest_id, updated_at) "
            "VALUES (999, 't', 999, 0)"
        )

    try:
        with pytest.raises(sqlite3.IntegrityError):
            run(database.transaction(work))
        assert not database.connection.in_transaction
    finally:
        database.close()


def test_sqlite_busy_past_the_timeout_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    import asyncio
    import sqlite3

    from dockyard.core.errors import ErrorCode, RegistryError

    database = SqliteDatabase(str(tmp_path / "busy.db"))
    database.connection.execute("PRAGMA busy_timeout=50")
    holder = sqlite3.connect(str(tmp_path / "busy.db"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(RegistryError) as caught:
            asyncio.run(
                database.execute("INSERT INTO repositories(name, created_at) VALUES ('x', 0)")
            )
        assert caught.value.code is ErrorCode.UNAVAILABLE and caught.value.status == 503
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        database.close()
