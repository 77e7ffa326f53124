"""Projects, roles, project members and the grants they add up to, on either backend.

Every change bumps the identity generation in the same transaction (``identity.bump``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from dockyard.core.events import Event
from dockyard.persistence.identity_records import (
    GrantRow,
    MemberRecord,
    ProjectRecord,
    RoleRecord,
)
from dockyard.persistence.sql.identity import bump, contains, flag, generation, prefix_bounds
from dockyard.persistence.sql.session import Database, Row, Session, chunks, placeholders

_PROJECT = "id, name, is_public, description, created_by, created_at, updated_at"
_ROLE = "id, name, description, permissions, builtin"
_MEMBER = """
SELECT m.id, p.name, CASE WHEN m.user_id IS NULL THEN 'group' ELSE 'user' END,
    coalesce(u.name, g.name), r.name, m.repositories, m.created_at
FROM project_members m JOIN projects p ON p.id = m.project_id JOIN roles r ON r.id = m.role_id
LEFT JOIN users u ON u.id = m.user_id LEFT JOIN user_groups g ON g.id = m.group_id
"""
_GRANTS = """
SELECT p.name, m.repositories, r.name, r.permissions, r.builtin
FROM project_members m JOIN projects p ON p.id = m.project_id JOIN roles r ON r.id = m.role_id
WHERE m.user_id = ? OR m.group_id IN (SELECT group_id FROM group_members WHERE user_id = ?)
"""
_MEMBER_ID = {"user": "SELECT id FROM users WHERE name = ?",
              "group": "SELECT id FROM user_groups WHERE name = ?"}  # fmt: skip


def _project(row: Row) -> ProjectRecord:
    return ProjectRecord(
        int(row[0]), row[1], flag(row[2]), row[3], row[4], float(row[5]), float(row[6])
    )


def _role(row: Row) -> RoleRecord:
    return RoleRecord(int(row[0]), row[1], row[2], tuple(str(row[3]).split()), flag(row[4]))


def _member(row: Row) -> MemberRecord:
    return MemberRecord(int(row[0]), row[1], row[2], row[3], row[4], row[5], float(row[6]))


class SqlProjectStore:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def generation(self) -> int:
        return await generation(self.db)

    # projects -------------------------------------------------------------------------------

    async def create_project(
        self, name: str, *, public: bool, description: str, created_by: str,
        owner_user_id: int | None = None, event: Event | None = None,
    ) -> ProjectRecord | None:  # fmt: skip
        """The new project (``owner_user_id`` becomes its admin); None when it exists."""
        now = time.time()

        async def work(session: Session) -> ProjectRecord | None:
            row = await session.fetchone(
                f"INSERT INTO projects(name, is_public, description, created_by, created_at, "  # noqa: S608
                f"updated_at) VALUES (?, ?, ?, ?, ?, ?) "
                f"ON CONFLICT DO NOTHING RETURNING {_PROJECT}",
                (name, int(public), description, created_by, now, now),
            )
            if row is None:
                return None
            if owner_user_id is not None:
                await session.execute(
                    "INSERT INTO project_members(project_id, user_id, role_id, created_at) "
                    "SELECT ?, ?, id, ? FROM roles WHERE name = 'admin'",
                    (row[0], owner_user_id, now),
                )
            await bump(session, event)
            return _project(row)

        return await self.db.transaction(work)

    async def get_project(self, name: str) -> ProjectRecord | None:
        row = await self.db.fetchone(f"SELECT {_PROJECT} FROM projects WHERE name = ?", (name,))  # noqa: S608
        return _project(row) if row else None

    async def list_projects(
        self, after: str, limit: int, *, query: str = "", public: bool | None = None,
        names: Sequence[str] | None = None,
    ) -> list[ProjectRecord]:  # fmt: skip
        """A page in name order, optionally only ``names`` (at most a few thousand)."""
        sql = f"SELECT {_PROJECT} FROM projects WHERE name > ?"  # noqa: S608
        params: list[object] = [after]
        if query:
            sql += " AND name LIKE ? ESCAPE '!'"
            params.append(contains(query))
        if public is not None:
            sql += " AND is_public = ?"
            params.append(int(public))
        if names is None:
            rows = await self.db.fetchall(sql + " ORDER BY name LIMIT ?", (*params, limit))
            return [_project(r) for r in rows]
        found: list[ProjectRecord] = []
        for chunk in chunks(sorted(n for n in names if n > after)):
            filtered = f"{sql} AND name IN ({placeholders(len(chunk))}) ORDER BY name LIMIT ?"
            rows = await self.db.fetchall(filtered, (*params, *chunk, limit))
            found += [_project(r) for r in rows]
            if len(found) >= limit:
                break
        return found[:limit]

    async def update_project(
        self,
        name: str,
        *,
        public: bool | None = None,
        description: str | None = None,
        event: Event | None = None,
    ) -> ProjectRecord | None:
        async def work(session: Session) -> ProjectRecord | None:
            row = await session.fetchone(
                f"UPDATE projects SET is_public = coalesce(?, is_public), "  # noqa: S608
                f"description = coalesce(?, description), updated_at = ? WHERE name = ? "
                f"RETURNING {_PROJECT}",
                (None if public is None else int(public), description, time.time(), name),
            )
            if row is not None:
                await bump(session, event)
            return _project(row) if row else None

        return await self.db.transaction(work)

    async def delete_project(self, name: str, *, event: Event | None = None) -> bool:
        async def work(session: Session) -> bool:
            deleted = await session.execute("DELETE FROM projects WHERE name = ?", (name,)) > 0
            if deleted:
                await bump(session, event)
            return deleted

        return await self.db.transaction(work)

    async def public_projects(self) -> list[str]:
        rows = await self.db.fetchall("SELECT name FROM projects WHERE is_public = 1")
        return [r[0] for r in rows]

    async def project_repositories(self, project: str, after: str, limit: int) -> list[str]:
        """Repository names in ``project`` (``project`` itself and ``project/...``)."""
        low, high = prefix_bounds(project)
        rows = await self.db.fetchall(
            "SELECT name FROM repositories WHERE (name = ? OR (name >= ? AND name < ?)) "
            "AND name > ? ORDER BY name LIMIT ?",
            (project, low, high, after, limit),
        )
        return [r[0] for r in rows]

    # roles ----------------------------------------------------------------------------------

    async def list_roles(self) -> list[RoleRecord]:
        rows = await self.db.fetchall(f"SELECT {_ROLE} FROM roles ORDER BY builtin DESC, id")  # noqa: S608
        return [_role(r) for r in rows]

    async def get_role(self, name: str) -> RoleRecord | None:
        row = await self.db.fetchone(f"SELECT {_ROLE} FROM roles WHERE name = ?", (name,))  # noqa: S608
        return _role(row) if row else None

    async def save_role(
        self, name: str, description: str, permissions: Sequence[str], *, create: bool
    ) -> RoleRecord | None:
        """Create a custom role (None when the name is taken) or update one (None when
        missing or built in)."""
        perms = " ".join(sorted(permissions))

        async def work(session: Session) -> RoleRecord | None:
            if create:
                sql = (
                    f"INSERT INTO roles(name, description, permissions, builtin, created_at) "  # noqa: S608
                    f"VALUES (?, ?, ?, 0, ?) ON CONFLICT DO NOTHING RETURNING {_ROLE}"
                )
                row = await session.fetchone(sql, (name, description, perms, time.time()))
            else:
                sql = (
                    f"UPDATE roles SET description = ?, permissions = ? "  # noqa: S608
                    f"WHERE name = ? AND builtin = 0 RETURNING {_ROLE}"
                )
                row = await session.fetchone(sql, (description, perms, name))
            if row is not None:
                await bump(session)
            return _role(row) if row else None

        return await self.db.transaction(work)

    async def delete_role(self, name: str) -> str:
        """``deleted``, ``missing``, ``builtin`` or ``in_use``."""

        async def work(session: Session) -> str:
            row = await session.fetchone("SELECT id, builtin FROM roles WHERE name = ?", (name,))
            if row is None:
                return "missing"
            if row[1]:
                return "builtin"
            used = await session.fetchone(
                "SELECT 1 FROM project_members WHERE role_id = ? LIMIT 1", (row[0],)
            )
            if used is not None:
                return "in_use"
            await session.execute("DELETE FROM roles WHERE id = ?", (row[0],))
            await bump(session)
            return "deleted"

        return await self.db.transaction(work)

    # members --------------------------------------------------------------------------------

    async def add_member(
        self, project: str, kind: str, name: str, role: str, repositories: str,
        *, event: Event | None = None,
    ) -> MemberRecord | str:  # fmt: skip
        """The new membership, or why not: ``no_project``, ``no_member``, ``no_role``,
        ``exists``."""

        async def work(session: Session) -> MemberRecord | str:
            ids = await self._member_ids(session, project, kind, name, role)
            if isinstance(ids, str):
                return ids
            column = "user_id" if kind == "user" else "group_id"
            row = await session.fetchone(
                f"INSERT INTO project_members(project_id, {column}, role_id, repositories, "  # noqa: S608
                f"created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
                (*ids, repositories, time.time()),
            )
            if row is None:
                return "exists"
            await bump(session, event)
            found = await session.fetchone(_MEMBER + " WHERE m.id = ?", (row[0],))
            assert found is not None
            return _member(found)

        return await self.db.transaction(work)

    async def _member_ids(
        self, session: Session, project: str, kind: str, name: str, role: str
    ) -> tuple[int, int, int] | str:
        found = await session.fetchone("SELECT id FROM projects WHERE name = ?", (project,))
        if found is None:
            return "no_project"
        member = await session.fetchone(_MEMBER_ID[kind], (name,))
        if member is None:
            return "no_member"
        role_row = await session.fetchone("SELECT id FROM roles WHERE name = ?", (role,))
        if role_row is None:
            return "no_role"
        return int(found[0]), int(member[0]), int(role_row[0])

    async def list_members(self, project: str) -> list[MemberRecord]:
        rows = await self.db.fetchall(_MEMBER + " WHERE p.name = ? ORDER BY m.id", (project,))
        return [_member(r) for r in rows]

    async def get_member(self, project: str, member_id: int) -> MemberRecord | None:
        row = await self.db.fetchone(
            _MEMBER + " WHERE p.name = ? AND m.id = ?", (project, member_id)
        )
        return _member(row) if row else None

    async def update_member(
        self, project: str, member_id: int, role: str, *, event: Event | None = None
    ) -> MemberRecord | str:
        """``no_member``, ``no_role`` or the updated membership."""

        async def work(session: Session) -> MemberRecord | str:
            role_row = await session.fetchone("SELECT id FROM roles WHERE name = ?", (role,))
            if role_row is None:
                return "no_role"
            changed = await session.execute(
                "UPDATE project_members SET role_id = ? WHERE id = ? AND project_id = "
                "(SELECT id FROM projects WHERE name = ?)",
                (role_row[0], member_id, project),
            )
            if not changed:
                return "no_member"
            await bump(session, event)
            row = await session.fetchone(_MEMBER + " WHERE m.id = ?", (member_id,))
            assert row is not None
            return _member(row)

        return await self.db.transaction(work)

    async def delete_member(
        self, project: str, member_id: int, *, event: Event | None = None
    ) -> bool:
        async def work(session: Session) -> bool:
            deleted = await session.execute(
                "DELETE FROM project_members WHERE id = ? AND project_id = "
                "(SELECT id FROM projects WHERE name = ?)",
                (member_id, project),
            )
            if deleted:
                await bump(session, event)
            return deleted > 0

        return await self.db.transaction(work)

    async def grants_for_user(self, user_id: int) -> list[GrantRow]:
        rows = await self.db.fetchall(_GRANTS, (user_id, user_id))
        return [GrantRow(r[0], r[1], r[2], tuple(str(r[3]).split()), flag(r[4])) for r in rows]
