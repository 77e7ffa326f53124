"""Upload sessions: bound to a repository and a principal, surviving restarts and nodes."""

from __future__ import annotations

from dockyard.persistence.records import UploadRecord
from dockyard.persistence.sql.session import Database

_COLUMNS = "id, repository, principal, committed_offset, started_at, last_activity"


class SqlUploadStore:
    """Each method is one statement, so each is atomic on its own."""

    def __init__(self, database: Database) -> None:
        self.db = database

    async def create(self, record: UploadRecord) -> None:
        await self.db.execute(
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
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM uploads WHERE id = ?",  # noqa: S608 - constant columns
            (upload_id,),
        )
        return UploadRecord(*row) if row else None

    async def set_offset(self, upload_id: str, offset: int, now: float) -> None:
        await self.db.execute(
            "UPDATE uploads SET committed_offset = ?, last_activity = ? WHERE id = ?",
            (offset, now, upload_id),
        )

    async def delete(self, upload_id: str) -> bool:
        return await self.db.execute("DELETE FROM uploads WHERE id = ?", (upload_id,)) > 0

    async def stale(self, before: float, limit: int = 500) -> list[UploadRecord]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM uploads WHERE last_activity < ? "  # noqa: S608
            "ORDER BY last_activity LIMIT ?",
            (before, limit),
        )
        return [UploadRecord(*row) for row in rows]
