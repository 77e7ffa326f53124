"""Upload sessions: bound to a repository and a principal, surviving restarts."""

from __future__ import annotations

from dockyard.persistence.records import UploadRecord
from dockyard.persistence.sqlite.database import SqliteDatabase

_COLUMNS = "id, repository, principal, committed_offset, started_at, last_activity"


class SqliteUploadStore:
    def __init__(self, database: SqliteDatabase) -> None:
        self.db = database

    async def create(self, record: UploadRecord) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                f"INSERT INTO uploads({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",  # noqa: S608
                (
                    record.id,
                    record.repository,
                    record.principal,
                    record.offset,
                    record.started_at,
                    record.last_activity,
                ),
            )

    async def get(self, upload_id: str) -> UploadRecord | None:
        row = self.db.connection.execute(
            f"SELECT {_COLUMNS} FROM uploads WHERE id = ?",  # noqa: S608 - constant columns
            (upload_id,),
        ).fetchone()
        return UploadRecord(*row) if row else None

    async def set_offset(self, upload_id: str, offset: int, now: float) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE uploads SET committed_offset = ?, last_activity = ? WHERE id = ?",
                (offset, now, upload_id),
            )

    async def delete(self, upload_id: str) -> bool:
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM uploads WHERE id = ?", (upload_id,)).rowcount > 0

    async def stale(self, before: float, limit: int = 500) -> list[UploadRecord]:
        rows = self.db.connection.execute(
            f"SELECT {_COLUMNS} FROM uploads WHERE last_activity < ? "  # noqa: S608
            "ORDER BY last_activity LIMIT ?",
            (before, limit),
        ).fetchall()
        return [UploadRecord(*row) for row in rows]
