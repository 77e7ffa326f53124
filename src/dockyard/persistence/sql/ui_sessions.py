"""The web UI's sessions and cookie key on either backend (tables in ``ui_sessions_schema``)."""

from __future__ import annotations

from dockyard.persistence.records import UiSessionRecord
from dockyard.persistence.sql.session import Database

_COLUMNS = "id_hash, subject, via, csrf, started_at, last_seen, expires_at"


class SqlUiSessions:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def signing_key(self, name: str, candidate: str) -> str:
        """The stored key ``name``; ``candidate`` becomes it when there is none yet (the
        first process to ask wins, every other one reads the same)."""
        await self.db.execute(
            "INSERT INTO ui_keys(name, secret) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            (name, candidate),
        )
        row = await self.db.fetchone("SELECT secret FROM ui_keys WHERE name = ?", (name,))
        assert row is not None  # just written, and keys are never deleted
        return str(row[0])

    async def create(self, record: UiSessionRecord) -> None:
        await self.db.execute(
            f"INSERT INTO ui_sessions({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            (record.id_hash, record.subject, record.via, record.csrf, record.started_at,
             record.last_seen, record.expires_at),
        )  # fmt: skip

    async def get(self, id_hash: str) -> UiSessionRecord | None:
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM ui_sessions WHERE id_hash = ?",  # noqa: S608
            (id_hash,),
        )
        if row is None:
            return None
        return UiSessionRecord(str(row[0]), str(row[1]), str(row[2]), str(row[3]),
                               float(row[4]), float(row[5]), float(row[6]))  # fmt: skip

    async def touch(self, id_hash: str, now: float) -> None:
        await self.db.execute(
            "UPDATE ui_sessions SET last_seen = ? WHERE id_hash = ? AND last_seen < ?",
            (now, id_hash, now),
        )

    async def delete(self, id_hash: str) -> bool:
        return await self.db.execute("DELETE FROM ui_sessions WHERE id_hash = ?", (id_hash,)) > 0

    async def prune(self, now: float, seen_before: float) -> int:
        """Delete sessions past their end or not seen since ``seen_before``."""
        return await self.db.execute(
            "DELETE FROM ui_sessions WHERE expires_at <= ? OR last_seen < ?", (now, seen_before)
        )
