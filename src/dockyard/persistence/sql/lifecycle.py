"""Runtime settings, quota limits, immutable tag rules, deletion log.

Each method is one statement (atomic on its own) and uses SQL both SQLite and PostgreSQL
accept. (Scheduled jobs moved to the job queue, ``sql/jobs.py``.)
"""

from __future__ import annotations

import time

from dockyard.persistence.lifecycle_records import DeletionRecord, ImmutableRuleRecord
from dockyard.persistence.sql.session import Database

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

    # quota limits -------------------------------------------------------------------------

    async def quota_limits(self) -> dict[str, int | None]:
        rows = await self.db.fetchall("SELECT project, limit_bytes FROM project_quotas")
        return {str(r[0]): None if r[1] is None else int(r[1]) for r in rows}

    async def set_quota_limit(self, project: str, limit_bytes: int | None) -> None:
        await self.db.execute(_SET_QUOTA, (project, limit_bytes, time.time()))

    async def unset_quota_limit(self, project: str) -> bool:
        changed = await self.db.execute("DELETE FROM project_quotas WHERE project = ?", (project,))
        return changed > 0

    # immutable tag rules ------------------------------------------------------------------

    async def immutable_rules(self) -> list[ImmutableRuleRecord]:
        rows = await self.db.fetchall(
            "SELECT id, repositories, tags FROM immutable_tag_rules ORDER BY id"
        )
        return [ImmutableRuleRecord(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    async def add_immutable_rule(self, repositories: str, tags: str) -> int:
        await self.db.execute(
            "INSERT INTO immutable_tag_rules(repositories, tags, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (repositories, tags, time.time()),
        )
        row = await self.db.fetchone(
            "SELECT id FROM immutable_tag_rules WHERE repositories = ? AND tags = ?",
            (repositories, tags),
        )
        assert row is not None
        return int(row[0])

    async def remove_immutable_rule(self, rule_id: int) -> bool:
        changed = await self.db.execute("DELETE FROM immutable_tag_rules WHERE id = ?", (rule_id,))
        return changed > 0

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
