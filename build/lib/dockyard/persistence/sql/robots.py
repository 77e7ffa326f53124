"""Robot accounts (per project or system-wide), on either backend."""

from __future__ import annotations

import time

from dockyard.core.events import Event
from dockyard.persistence.identity_records import NewRobot, RobotRecord
from dockyard.persistence.sql.identity import bump, contains, flag
from dockyard.persistence.sql.session import Database, Row, Session

_ROBOT = """
SELECT r.id, r.name, p.name, r.description, r.secret_hash, r.access_json, r.expires_at,
    r.disabled, r.created_by, r.created_at, r.updated_at
FROM robots r LEFT JOIN projects p ON p.id = r.project_id
"""
_FIELDS = ("description", "secret_hash", "access_json", "expires_at", "disabled")
ALL_ROBOTS = "*"


def _robot(row: Row) -> RobotRecord:
    return RobotRecord(
        int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6], flag(row[7]), row[8],
        float(row[9]), float(row[10]),
    )  # fmt: skip


class SqlRobotStore:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def create_robot(self, new: NewRobot, *, event: Event | None = None) -> RobotRecord | str:
        """The new robot, or ``exists`` / ``no_project``."""
        now = time.time()

        async def work(session: Session) -> RobotRecord | str:
            project_id = None
            if new.project is not None:
                found = await session.fetchone(
                    "SELECT id FROM projects WHERE name = ?", (new.project,)
                )
                if found is None:
                    return "no_project"
                project_id = found[0]
            row = await session.fetchone(
                "INSERT INTO robots(name, project_id, description, secret_hash, access_json, "
                "expires_at, created_by, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
                (new.name, project_id, new.description, new.secret_hash, new.access_json,
                 new.expires_at, new.created_by, now, now),
            )  # fmt: skip
            if row is None:
                return "exists"
            await bump(session, event)
            created = await session.fetchone(_ROBOT + " WHERE r.id = ?", (row[0],))
            assert created is not None
            return _robot(created)

        return await self.db.transaction(work)

    async def get_robot(self, name: str) -> RobotRecord | None:
        row = await self.db.fetchone(_ROBOT + " WHERE r.name = ?", (name,))
        return _robot(row) if row else None

    async def get_robot_by_id(self, robot_id: int) -> RobotRecord | None:
        row = await self.db.fetchone(_ROBOT + " WHERE r.id = ?", (robot_id,))
        return _robot(row) if row else None

    async def list_robots(
        self, project: str | None, after_id: int, limit: int, query: str = ""
    ) -> list[RobotRecord]:
        """Robots of ``project`` (None: system-wide ones, ``*``: all) whose full name contains
        ``query``, in id order."""
        params: tuple[object, ...] = (after_id,)
        if project == ALL_ROBOTS:
            where = "r.id > ?"
        elif project is None:
            where = "r.project_id IS NULL AND r.id > ?"
        else:
            where, params = "p.name = ? AND r.id > ?", (project, after_id)
        if query:
            where, params = f"{where} AND r.name LIKE ? ESCAPE '!'", (*params, contains(query))
        rows = await self.db.fetchall(
            f"{_ROBOT} WHERE {where} ORDER BY r.id LIMIT ?", (*params, limit)
        )
        return [_robot(r) for r in rows]

    async def update_robot(
        self, robot_id: int, *, event: Event | None = None, **changes: object
    ) -> RobotRecord | None:
        """Set some of ``description``, ``secret_hash``, ``access_json``, ``expires_at``,
        ``disabled``."""
        fields = [key for key in changes if key in _FIELDS]
        if len(fields) != len(changes):
            raise ValueError(f"unknown robot fields: {sorted(set(changes) - set(fields))}")
        assignments = ", ".join(f"{key} = ?" for key in fields)
        values = [int(v) if isinstance(v, bool) else v for v in changes.values()]

        async def work(session: Session) -> RobotRecord | None:
            changed = await session.execute(
                f"UPDATE robots SET {assignments}, updated_at = ? WHERE id = ?",  # noqa: S608
                (*values, time.time(), robot_id),
            )
            if not changed:
                return None
            await bump(session, event)
            row = await session.fetchone(_ROBOT + " WHERE r.id = ?", (robot_id,))
            return _robot(row) if row else None

        return await self.db.transaction(work)

    async def delete_robot(self, robot_id: int, *, event: Event | None = None) -> bool:
        async def work(session: Session) -> bool:
            deleted = await session.execute("DELETE FROM robots WHERE id = ?", (robot_id,)) > 0
            if deleted:
                await bump(session, event)
            return deleted

        return await self.db.transaction(work)
