"""Snapshots and restores of the embedded SQLite database.

A snapshot is SQLite's online backup API run in one step from a connection of its own: the
copy is one consistent read of the database while the server keeps writing (WAL). Restoring
places such a copy at the database path of a data directory that has none yet.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, closing

from dockyard.persistence.backup_records import MetadataSnapshot, SnapshotBlob
from dockyard.persistence.sql.backup import holds_content, reset_restored
from dockyard.persistence.sqlite.database import SqliteDatabase


class _SqliteSnapshot:
    def __init__(self, copy: str, blobs: Sequence[SnapshotBlob]) -> None:
        self._copy = copy
        self._blobs = blobs

    @property
    def blobs(self) -> Sequence[SnapshotBlob]:
        return self._blobs

    async def write(self, path: str) -> None:
        shutil.copyfile(self._copy, path)


class SqliteSnapshotSource:
    kind = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[MetadataSnapshot]:
        with tempfile.TemporaryDirectory(prefix="dockyard-snapshot-") as work:
            copy = os.path.join(work, "metadata.db")
            copy_database(self.path, copy)
            yield _SqliteSnapshot(copy, ready_blobs(copy))


def copy_database(source: str, target: str) -> None:
    """One consistent copy of ``source`` at ``target`` (the online backup API, one step)."""
    with (
        closing(sqlite3.connect(source, timeout=30.0)) as live,
        closing(sqlite3.connect(target)) as copy,
    ):
        live.execute("PRAGMA busy_timeout=30000")
        live.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")


def ready_blobs(path: str) -> list[SnapshotBlob]:
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(
            "SELECT digest, size FROM blobs WHERE state = 'ready' ORDER BY id"
        ).fetchall()
    return [SnapshotBlob(str(row[0]), int(row[1])) for row in rows]


class SqliteRestorer:
    kind = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path

    async def is_empty(self) -> bool:
        if not os.path.exists(self.path):
            return True
        database = SqliteDatabase(self.path)
        try:
            return not await holds_content(database)
        finally:
            database.close()

    async def restore(self, path: str) -> None:
        """Place the copy next to the database path, then rename it over (an empty one)."""
        os.makedirs(os.path.dirname(self.path) or ".", mode=0o700, exist_ok=True)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(self.path + suffix):
                os.unlink(self.path + suffix)
        staged = self.path + ".restoring"
        shutil.copyfile(path, staged)
        os.chmod(staged, 0o600)
        with open(staged, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(staged, self.path)

    async def reset(self) -> int:
        database = SqliteDatabase(self.path)  # opening migrates an older snapshot forward
        try:
            return await database.transaction(reset_restored)
        finally:
            database.close()
