"""Backup holds and the after-restore reset, in SQL both backends accept.

A hold is the blobs' ordinary GC pin (``pinned_until``) set far beyond any grace period, so a
sweep with any grace (0 included) keeps the blob. Releasing turns exactly those pins (the
ones still equal to the hold's own end) into ordinary pins from now; a pin another writer took
meanwhile is never moved back.
"""

from __future__ import annotations

from dockyard.persistence.sql.session import Database, Session


class SqlBlobHolds:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def hold(self, until: float) -> None:
        await self.db.execute(
            "UPDATE blobs SET pinned_until = ? WHERE state = 'ready' AND pinned_until < ?",
            (until, until),
        )

    async def ready_digests(self) -> set[str]:
        rows = await self.db.fetchall("SELECT digest FROM blobs WHERE state = 'ready'")
        return {str(row[0]) for row in rows}

    async def release(self, held_until: float, pin_until: float) -> None:
        await self.db.execute(
            "UPDATE blobs SET pinned_until = ? WHERE pinned_until = ?", (pin_until, held_until)
        )


async def reset_restored(session: Session) -> int:
    """Requeue running jobs, drop upload sessions and blob rows that are not ready."""
    requeued = await session.execute(
        "UPDATE jobs SET state = 'queued', lease_owner = '', lease_until = 0 "
        "WHERE state = 'running'"
    )
    await session.execute("DELETE FROM uploads")
    await session.execute("DELETE FROM quota_reservations")
    await session.execute(
        "DELETE FROM repository_blobs WHERE blob_id IN "
        "(SELECT id FROM blobs WHERE state <> 'ready')"
    )
    await session.execute("DELETE FROM blobs WHERE state <> 'ready'")
    return requeued


async def holds_content(database: Database) -> bool:
    """True when the database records any repository or blob."""
    for table in ("repositories", "blobs"):
        row = await database.fetchone(f"SELECT 1 FROM {table} LIMIT 1")  # noqa: S608
        if row is not None:
            return True
    return False
