"""Users, groups, group memberships and personal access tokens, on either backend.

Every change bumps the identity generation in the same transaction (``identity.bump``), so
other processes drop what they cached.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from dockyard.core.events import Event
from dockyard.persistence.identity_records import (
    AccessTokenRecord,
    GroupRecord,
    NewUser,
    UserRecord,
)
from dockyard.persistence.sql.identity import bump, contains, flag
from dockyard.persistence.sql.session import Database, Row, Session

_USER = "id, name, source, password_hash, email, is_admin, disabled, stamp, created_at, updated_at"
_GROUP = "id, name, source, description, created_at"
_PAT_QUERY = (
    "t.id, u.name, t.name, t.secret_hash, t.permissions, t.expires_at, t.created_at "
    "FROM access_tokens t JOIN users u ON u.id = t.user_id"
)
_USER_FIELDS = ("password_hash", "email", "is_admin", "disabled", "stamp")


def _user(row: Row) -> UserRecord:
    return UserRecord(
        int(row[0]), row[1], row[2], row[3], row[4], flag(row[5]), flag(row[6]), row[7],
        float(row[8]), float(row[9]),
    )  # fmt: skip


def _group(row: Row) -> GroupRecord:
    return GroupRecord(int(row[0]), row[1], row[2], row[3], float(row[4]))


def _token(row: Row) -> AccessTokenRecord:
    permissions = tuple(p for p in str(row[4]).split() if p)
    return AccessTokenRecord(row[0], row[1], row[2], row[3], permissions, row[5], float(row[6]))


class SqlAccountStore:
    def __init__(self, database: Database) -> None:
        self.db = database

    # users ----------------------------------------------------------------------------------

    async def create_user(self, new: NewUser, *, event: Event | None = None) -> UserRecord | None:
        """The new user, or None when the name is taken."""
        now = time.time()

        async def work(session: Session) -> UserRecord | None:
            row = await session.fetchone(
                f"INSERT INTO users(name, source, password_hash, email, is_admin, stamp, "  # noqa: S608
                f"created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                f"ON CONFLICT DO NOTHING RETURNING {_USER}",
                (new.name, new.source, new.password_hash, new.email, int(new.admin), new.stamp,
                 now, now),
            )  # fmt: skip
            if row is not None:
                await bump(session, event)
            return _user(row) if row else None

        return await self.db.transaction(work)

    async def get_user(self, name: str) -> UserRecord | None:
        row = await self.db.fetchone(f"SELECT {_USER} FROM users WHERE name = ?", (name,))  # noqa: S608
        return _user(row) if row else None

    async def get_user_by_id(self, user_id: int) -> UserRecord | None:
        row = await self.db.fetchone(f"SELECT {_USER} FROM users WHERE id = ?", (user_id,))  # noqa: S608
        return _user(row) if row else None

    async def list_users(self, after: str, limit: int, query: str = "") -> list[UserRecord]:
        sql = f"SELECT {_USER} FROM users WHERE name > ?"  # noqa: S608
        params: list[object] = [after]
        if query:
            sql += " AND (name LIKE ? ESCAPE '!' OR email LIKE ? ESCAPE '!')"
            params += [contains(query), contains(query)]
        rows = await self.db.fetchall(sql + " ORDER BY name LIMIT ?", (*params, limit))
        return [_user(r) for r in rows]

    async def update_user(
        self, name: str, *, event: Event | None = None, **changes: object
    ) -> UserRecord | None:
        """Set some of ``password_hash``, ``email``, ``is_admin``, ``disabled``, ``stamp``.
        Disabling a user deletes their personal access tokens in the same transaction, so
        enabling them again never brings those back."""
        fields = [key for key in changes if key in _USER_FIELDS]
        if len(fields) != len(changes):
            raise ValueError(f"unknown user fields: {sorted(set(changes) - set(fields))}")
        assignments = ", ".join(f"{key} = ?" for key in fields)
        values = [int(v) if isinstance(v, bool) else v for v in changes.values()]

        async def work(session: Session) -> UserRecord | None:
            row = await session.fetchone(
                f"UPDATE users SET {assignments}, updated_at = ? WHERE name = ? "  # noqa: S608
                f"RETURNING {_USER}",
                (*values, time.time(), name),
            )
            if row is not None:
                if changes.get("disabled"):
                    await session.execute("DELETE FROM access_tokens WHERE user_id = ?", (row[0],))
                await bump(session, event)
            return _user(row) if row else None

        return await self.db.transaction(work)

    async def delete_user(self, name: str, *, event: Event | None = None) -> bool:
        async def work(session: Session) -> bool:
            deleted = await session.execute("DELETE FROM users WHERE name = ?", (name,)) > 0
            if deleted:
                await bump(session, event)
            return deleted

        return await self.db.transaction(work)

    async def count_admins(self) -> int:
        row = await self.db.fetchone(
            "SELECT count(*) FROM users WHERE is_admin = 1 AND disabled = 0"
        )
        return int(row[0]) if row else 0

    async def upsert_external_user(self, new: NewUser, groups: Sequence[str]) -> UserRecord | None:
        """Record (or refresh) a user an external backend vouched for and keep their groups
        from that backend in step; None when a local user already has the name."""

        async def work(session: Session) -> UserRecord | None:
            now = time.time()
            inserted = await session.execute(
                "INSERT INTO users(name, source, email, stamp, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (new.name, new.source, new.email, new.stamp, now, now),
            )
            row = await session.fetchone(f"SELECT {_USER} FROM users WHERE name = ?", (new.name,))  # noqa: S608
            if row is None or row[2] != new.source:
                return None
            user = _user(row)
            if await self._sync_groups(session, user.id, new.source, groups) or inserted:
                await bump(session)
            return user

        return await self.db.transaction(work)

    async def _sync_groups(
        self, session: Session, user_id: int, source: str, groups: Sequence[str]
    ) -> bool:
        current = {
            r[0]
            for r in await session.fetchall(
                "SELECT g.name FROM group_members m JOIN user_groups g ON g.id = m.group_id "
                "WHERE m.user_id = ? AND g.source = ?",
                (user_id, source),
            )
        }
        wanted = set(groups)
        for name in wanted - current:
            await session.execute(
                "INSERT INTO user_groups(name, source, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (name, source, time.time()),
            )
            await session.execute(
                "INSERT INTO group_members(group_id, user_id) SELECT id, ? FROM user_groups "
                "WHERE name = ? AND source = ? ON CONFLICT DO NOTHING",
                (user_id, name, source),
            )
        for name in current - wanted:
            await session.execute(
                "DELETE FROM group_members WHERE user_id = ? AND group_id = "
                "(SELECT id FROM user_groups WHERE name = ?)",
                (user_id, name),
            )
        return wanted != current

    # groups ---------------------------------------------------------------------------------

    async def create_group(
        self, name: str, description: str = "", source: str = "local"
    ) -> GroupRecord | None:
        async def work(session: Session) -> GroupRecord | None:
            row = await session.fetchone(
                f"INSERT INTO user_groups(name, source, description, created_at) "  # noqa: S608
                f"VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING {_GROUP}",
                (name, source, description, time.time()),
            )
            if row is not None:
                await bump(session)
            return _group(row) if row else None

        return await self.db.transaction(work)

    async def get_group(self, name: str) -> GroupRecord | None:
        row = await self.db.fetchone(f"SELECT {_GROUP} FROM user_groups WHERE name = ?", (name,))  # noqa: S608
        return _group(row) if row else None

    async def list_groups(self, after: str, limit: int, query: str = "") -> list[GroupRecord]:
        sql = f"SELECT {_GROUP} FROM user_groups WHERE name > ?"  # noqa: S608
        params: list[object] = [after]
        if query:
            sql += " AND name LIKE ? ESCAPE '!'"
            params.append(contains(query))
        rows = await self.db.fetchall(sql + " ORDER BY name LIMIT ?", (*params, limit))
        return [_group(r) for r in rows]

    async def delete_group(self, name: str) -> bool:
        async def work(session: Session) -> bool:
            deleted = await session.execute("DELETE FROM user_groups WHERE name = ?", (name,)) > 0
            if deleted:
                await bump(session)
            return deleted

        return await self.db.transaction(work)

    async def set_group_member(self, group: str, user: str, *, member: bool) -> bool:
        """Add (or remove) ``user`` to ``group``; False when nothing changed."""

        async def work(session: Session) -> bool:
            if member:
                sql = (
                    "INSERT INTO group_members(group_id, user_id) SELECT g.id, u.id "
                    "FROM user_groups g, users u WHERE g.name = ? AND u.name = ? "
                    "ON CONFLICT DO NOTHING"
                )
            else:
                sql = (
                    "DELETE FROM group_members WHERE group_id = (SELECT id FROM user_groups "
                    "WHERE name = ?) AND user_id = (SELECT id FROM users WHERE name = ?)"
                )
            changed = await session.execute(sql, (group, user)) > 0
            if changed:
                await bump(session)
            return changed

        return await self.db.transaction(work)

    async def group_members(self, group: str) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT u.name FROM group_members m JOIN users u ON u.id = m.user_id "
            "JOIN user_groups g ON g.id = m.group_id WHERE g.name = ? ORDER BY u.name",
            (group,),
        )
        return [r[0] for r in rows]

    async def groups_of(self, user_id: int) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT g.name FROM group_members m JOIN user_groups g ON g.id = m.group_id "
            "WHERE m.user_id = ? ORDER BY g.name",
            (user_id,),
        )
        return [r[0] for r in rows]

    # personal access tokens -----------------------------------------------------------------

    async def create_token(self, record: AccessTokenRecord) -> AccessTokenRecord | None:
        """Store a token for ``record.user``; None when the user does not exist."""

        async def work(session: Session) -> AccessTokenRecord | None:
            changed = await session.execute(
                "INSERT INTO access_tokens(id, user_id, name, secret_hash, permissions, "
                "expires_at, created_at) SELECT ?, id, ?, ?, ?, ?, ? FROM users WHERE name = ?",
                (record.id, record.name, record.secret_hash, " ".join(record.permissions),
                 record.expires_at, record.created_at, record.user),
            )  # fmt: skip
            if changed:
                await bump(session)
            return record if changed else None

        return await self.db.transaction(work)

    async def get_token(self, token_id: str) -> AccessTokenRecord | None:
        row = await self.db.fetchone(f"SELECT {_PAT_QUERY} WHERE t.id = ?", (token_id,))
        return _token(row) if row else None

    async def list_tokens(self, user: str) -> list[AccessTokenRecord]:
        rows = await self.db.fetchall(
            f"SELECT {_PAT_QUERY} WHERE u.name = ? ORDER BY t.created_at, t.id",
            (user,),
        )
        return [_token(r) for r in rows]

    async def delete_token(self, token_id: str) -> bool:
        async def work(session: Session) -> bool:
            deleted = (
                await session.execute("DELETE FROM access_tokens WHERE id = ?", (token_id,)) > 0
            )
            if deleted:
                await bump(session)
            return deleted

        return await self.db.transaction(work)
