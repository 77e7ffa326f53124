"""Backup holds and the after-restore reset, in SQL both backends accept.

A hold is the blobs' ordinary GC pin (``pinned_until``) set far beyond any grace period, so a
sweep with any grace (0 included) keeps the blob. Releasing moves exactly those pins (the
ones still equal to the hold's own end) on: to another running backup's hold, or to an
ordinary pin from now; a pin another writer took meanwhile is never moved back.
"""

from __future__ import annotations

from dockyard.persistence.sql.session import Database, Session

HOLD_PREFIX = "backup.hold."
LAST_SUCCESS = "backup.last_success"  # when the newest complete backup finished


class SqlBlobHolds:
    """Holds, and which backups hold: a ``system_settings`` row ``backup.hold.<id>`` per
    running backup, whose value is when its hold ends. A backup that ends hands the pins it
    set to the longest hold still running (so a second backup's blobs stay held), or, with
    none left, turns them into ordinary pins."""

    def __init__(self, database: Database) -> None:
        self.db = database

    async def hold(self, until: float, owner: str) -> None:
        async def work(session: Session) -> None:
            await session.execute(
                "INSERT INTO system_settings(name, value, updated_at, updated_by) "
                "VALUES (?, ?, ?, 'dockyard backup') ON CONFLICT(name) DO UPDATE "
                "SET value = excluded.value, updated_at = excluded.updated_at",
                (HOLD_PREFIX + owner, repr(until), until),
            )
            await session.execute(
                "UPDATE blobs SET pinned_until = ? WHERE state = 'ready' AND pinned_until < ?",
                (until, until),
            )

        await self.db.transaction(work)

    async def ready_digests(self) -> set[str]:
        rows = await self.db.fetchall("SELECT digest FROM blobs WHERE state = 'ready'")
        return {str(row[0]) for row in rows}

    async def release(self, held_until: float, pin_until: float, owner: str, now: float) -> None:
        async def work(session: Session) -> None:
            await session.execute(
                "DELETE FROM system_settings WHERE name = ?", (HOLD_PREFIX + owner,)
            )
            rows = await session.fetchall(
                "SELECT value FROM system_settings WHERE name LIKE ?", (HOLD_PREFIX + "%",)
            )
            running = [float(row[0]) for row in rows if float(row[0]) > now]
            await session.execute(
                "UPDATE blobs SET pinned_until = ? WHERE pinned_until = ?",
                (max(running) if running else pin_until, held_until),
            )

        await self.db.transaction(work)


    async def record_success(self, backup_id: str, finished_at: float) -> None:
        await self.db.execute(
            "INSERT INTO system_settings(name, value, updated_at, updated_by) "
            "VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE "
            "SET value = excluded.value, updated_at = excluded.updated_at, "
            "updated_by = excluded.updated_by",
            (LAST_SUCCESS, repr(finished_at), finished_at, f"dockyard backup {backup_id}"),
        )

    async def last_success(self) -> float | None:
        row = await self.db.fetchone(
            "SELECT value FROM system_settings WHERE name = ?", (LAST_SUCCESS,)
        )
        return float(row[0]) if row else None


async def reset_restored(session: Session) -> int:
    """Requeue running jobs, drop upload sessions and blob rows that are not ready."""
    requeued = await session.execute(
        "UPDATE jobs SET state = 'queued', lease_owner = '', lease_until = 0 "
        "WHERE state = 'running'"
    )
    await session.execute("DELETE FROM uploads")
    await session.execute("DELETE FROM quota_reservations")
    await session.execute(
        "DELETE FROM system_settings WHERE name LIKE ?", (HOLD_PREFIX + "%",)
    )  # the holds of backups running at the time: not ours to keep
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
