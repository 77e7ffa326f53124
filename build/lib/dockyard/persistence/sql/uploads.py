"""Upload sessions: bound to a repository and a principal, surviving restarts and nodes."""

from __future__ import annotations

from dockyard.persistence.records import UploadRecord
from dockyard.persistence.sql.session import Database, Session

_COLUMNS = "id, repository, principal, committed_offset, started_at, last_activity, client"
_INSERT = f"INSERT INTO uploads({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"  # noqa: S608


class SqlUploadStore:
    """Each method is one statement (``create_within`` one transaction), so each is atomic."""

    def __init__(self, database: Database) -> None:
        self.db = database

    async def create(self, record: UploadRecord) -> None:
        await self.db.execute(_INSERT, _row(record))

    async def create_within(
        self, record: UploadRecord, per_repository: int, per_client: int, active_since: float = 0.0
    ) -> bool:
        """Insert ``record`` unless its repository or its client already has as many open
        sessions active since ``active_since`` as allowed (0: no cap); False when refused.
        Count and insert are one transaction (PostgreSQL serializable, SQLite one writer), so
        the caps hold across nodes."""

        async def work(session: Session) -> bool:
            for column, value, cap in (
                ("repository", record.repository, per_repository),
                ("client", record.client, per_client),
            ):
                if cap and await _count(session, column, value, cap, active_since) >= cap:
                    return False
            await session.execute(_INSERT, _row(record))
            return True

        return await self.db.transaction(work)

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

    async def summary(self) -> tuple[int, float | None]:
        """How many upload sessions are open, and when the oldest of them started."""
        row = await self.db.fetchone("SELECT COUNT(*), MIN(started_at) FROM uploads", ())
        return (int(row[0]), None if row[1] is None else float(row[1])) if row else (0, None)

    async def stale(self, before: float, limit: int = 500) -> list[UploadRecord]:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM uploads WHERE last_activity < ? "  # noqa: S608
            "ORDER BY last_activity LIMIT ?",
            (before, limit),
        )
        return [UploadRecord(*row) for row in rows]


def _row(record: UploadRecord) -> tuple[object, ...]:
    return (
        record.id,
        record.repository,
        record.principal,
        record.offset,
        record.started_at,
        record.last_activity,
        record.client,
    )


async def _count(session: Session, column: str, value: str, cap: int, since: float) -> int:
    """Sessions with ``column = value`` active since ``since``, counted no further than ``cap``."""
    row = await session.fetchone(
        "SELECT count(*) FROM (SELECT 1 FROM uploads "  # noqa: S608 - constant column names
        f"WHERE {column} = ? AND last_activity >= ? LIMIT ?) AS open",
        (value, since, cap),
    )
    return int(row[0]) if row else 0
