"""Runtime settings, quota limits, immutable tag rules, deletion log.

Each method is one statement (atomic on its own), or one transaction when it also stores the
domain event of its change (``quota.changed``, ``policy.changed``, ``quota.warning``), and uses
SQL both SQLite and PostgreSQL accept. (Scheduled jobs moved to the job queue, ``sql/jobs.py``.)
"""

from __future__ import annotations

import time

from dockyard.core.events import DetailValue, Event, EventKind, EventOrigin, EventTarget
from dockyard.persistence.lifecycle_records import DeletionRecord, ImmutableRuleRecord
from dockyard.persistence.sql.outbox import emit, record
from dockyard.persistence.sql.session import Database, Session

_SET_SETTING = """
INSERT INTO system_settings(name, value, updated_at, updated_by) VALUES (?, ?, ?, ?)
ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,
    updated_by = excluded.updated_by
"""
_SET_QUOTA = """
INSERT INTO project_quotas(project, limit_bytes, updated_at) VALUES (?, ?, ?)
ON CONFLICT(project) DO UPDATE SET limit_bytes = excluded.limit_bytes,
    updated_at = excluded.updated_at
"""
_DELETION_COLUMNS = "repository, digest, tags, rule, reason, actor, created_at"


class SqlLifecycleStore:
    def __init__(self, database: Database) -> None:
        self.db = database

    # runtime settings ---------------------------------------------------------------------

    async def get_setting(self, name: str) -> str | None:
        row = await self.db.fetchone("SELECT value FROM system_settings WHERE name = ?", (name,))
        return str(row[0]) if row else None

    async def set_setting(self, name: str, value: str, *, by: str = "") -> None:
        await self.db.execute(_SET_SETTING, (name, value, time.time(), by))

    async def set_settings(
        self, values: dict[str, str], *, by: str = "", event: Event | None = None
    ) -> None:
        """Several settings at once, with the change's event (``policy.changed``), in one
        transaction."""
        now = time.time()

        async def work(session: Session) -> None:
            for name, value in values.items():
                await session.execute(_SET_SETTING, (name, value, now, by))
            if event is not None:
                await record(session, event)

        await self.db.transaction(work)

    # quota limits -------------------------------------------------------------------------

    async def quota_limits(self) -> dict[str, int | None]:
        rows = await self.db.fetchall("SELECT project, limit_bytes FROM project_quotas")
        return {str(r[0]): None if r[1] is None else int(r[1]) for r in rows}

    async def set_quota_limit(
        self, project: str, limit_bytes: int | None, *, origin: EventOrigin | None = None
    ) -> None:
        """Set (None: unlimited) the project's limit, with a ``quota.changed`` event."""
        detail: dict[str, DetailValue] = (
            {"unlimited": True} if limit_bytes is None else {"limit": limit_bytes}
        )

        async def work(session: Session) -> None:
            await session.execute(_SET_QUOTA, (project, limit_bytes, time.time()))
            await _changed(session, origin, EventKind.QUOTA_CHANGED, project=project, detail=detail)

        await self.db.transaction(work)

    async def unset_quota_limit(self, project: str, *, origin: EventOrigin | None = None) -> bool:
        """Drop the project's stored limit (the configuration's applies again)."""

        async def work(session: Session) -> bool:
            sql = "DELETE FROM project_quotas WHERE project = ?"
            if not await session.execute(sql, (project,)):
                return False
            detail: dict[str, DetailValue] = {"unset": True}
            await _changed(session, origin, EventKind.QUOTA_CHANGED, project=project, detail=detail)
            return True

        return await self.db.transaction(work)

    async def raise_quota_alert(self, project: str, event: Event) -> bool:
        """Note that ``project`` is above its warning threshold, storing ``event`` (its
        ``quota.warning``) with the note; False (no event) when it was noted already."""

        async def work(session: Session) -> bool:
            added = await session.execute(
                "INSERT INTO quota_alerts(project, raised_at) VALUES (?, ?) "
                "ON CONFLICT(project) DO NOTHING",
                (project, event.time),
            )
            if added:
                await record(session, event)
            return added > 0

        return await self.db.transaction(work)

    async def clear_quota_alert(self, project: str) -> bool:
        """The project is below its threshold again: the next crossing warns again."""
        sql = "DELETE FROM quota_alerts WHERE project = ?"
        return await self.db.execute(sql, (project,)) > 0

    async def quota_alerts(self) -> list[str]:
        rows = await self.db.fetchall("SELECT project FROM quota_alerts ORDER BY project")
        return [str(r[0]) for r in rows]

    async def record_event(self, event: Event) -> None:
        """An event that goes with no stored change (``quota.exceeded``: a refused push)."""

        async def work(session: Session) -> None:
            await record(session, event)

        await self.db.transaction(work)

    # immutable tag rules ------------------------------------------------------------------

    async def immutable_rules(self) -> list[ImmutableRuleRecord]:
        rows = await self.db.fetchall(
            "SELECT id, repositories, tags FROM immutable_tag_rules ORDER BY id"
        )
        return [ImmutableRuleRecord(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    async def add_immutable_rule(
        self, repositories: str, tags: str, *, origin: EventOrigin | None = None
    ) -> int:
        """The rule's id; a new rule is a ``policy.changed`` event (``immutability``)."""

        async def work(session: Session) -> int:
            added = await session.execute(
                "INSERT INTO immutable_tag_rules(repositories, tags, created_at) "
                "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (repositories, tags, time.time()),
            )
            row = await session.fetchone(
                "SELECT id FROM immutable_tag_rules WHERE repositories = ? AND tags = ?",
                (repositories, tags),
            )
            assert row is not None
            if added:
                detail: dict[str, DetailValue] = {
                    "action": "added", "rule": int(row[0]),
                    "repositories": repositories, "tags": tags,
                }  # fmt: skip
                await _changed(
                    session, origin, EventKind.POLICY_CHANGED, name="immutability", detail=detail
                )
            return int(row[0])

        return await self.db.transaction(work)

    async def remove_immutable_rule(
        self, rule_id: int, *, origin: EventOrigin | None = None
    ) -> bool:
        async def work(session: Session) -> bool:
            sql = "DELETE FROM immutable_tag_rules WHERE id = ?"
            if not await session.execute(sql, (rule_id,)):
                return False
            detail: dict[str, DetailValue] = {"action": "removed", "rule": rule_id}
            await _changed(
                session, origin, EventKind.POLICY_CHANGED, name="immutability", detail=detail
            )
            return True

        return await self.db.transaction(work)

    # deletion log -------------------------------------------------------------------------

    async def record_deletion(self, record: DeletionRecord) -> None:
        await self.db.execute(
            f"INSERT INTO lifecycle_deletions({_DELETION_COLUMNS}) "  # noqa: S608 - constant
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                record.repository,
                record.digest,
                ",".join(record.tags),
                record.rule[:500],
                record.reason[:2000],
                record.actor[:200],
                record.created_at or time.time(),
            ),
        )

    async def deletions(self, limit: int, repository: str | None = None) -> list[DeletionRecord]:
        sql = f"SELECT {_DELETION_COLUMNS} FROM lifecycle_deletions"  # noqa: S608 - constant
        params: tuple[object, ...] = (limit,)
        if repository is not None:
            sql += " WHERE repository = ?"
            params = (repository, limit)
        rows = await self.db.fetchall(sql + " ORDER BY id DESC LIMIT ?", params)
        return [
            DeletionRecord(
                str(r[0]), str(r[1]), tuple(t for t in str(r[2]).split(",") if t), *r[3:]
            )
            for r in rows
        ]


async def _changed(
    session: Session,
    origin: EventOrigin | None,
    kind: EventKind,
    *,
    project: str = "",
    name: str = "",
    detail: dict[str, DetailValue],
) -> None:
    """A project- or system-level event (no repository) in the change's transaction."""
    target = EventTarget(project=project, name=name, detail=detail)
    await emit(session, origin, kind, "", target)
