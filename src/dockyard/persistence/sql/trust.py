"""Trust policies per project, and the facts the signature gate reads: which indexes of a
repository list a manifest (an index's signature vouches for its platform images)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from dockyard.persistence.sql.session import Database, Session

_COLUMNS = (
    "t.id, p.name, t.name, t.repositories, t.mode, t.on_push, t.signers, t.revision, "
    "t.updated_by, t.updated_at"
)
_ALL = f"SELECT {_COLUMNS} FROM trust_policies t JOIN projects p ON p.id = t.project_id"  # noqa: S608
_UPSERT = """
INSERT INTO trust_policies(project_id, name, repositories, mode, on_push, signers, revision,
    updated_by, updated_at)
SELECT id, ?, ?, ?, ?, ?, 1, ?, ? FROM projects WHERE name = ?
ON CONFLICT (project_id, name) DO UPDATE SET repositories = excluded.repositories,
    mode = excluded.mode, on_push = excluded.on_push, signers = excluded.signers,
    revision = trust_policies.revision + 1, updated_by = excluded.updated_by,
    updated_at = excluded.updated_at
"""
_DELETE = """
DELETE FROM trust_policies WHERE name = ?
    AND project_id = (SELECT id FROM projects WHERE name = ?)
"""
_PARENTS = """
SELECT parent.digest FROM manifests child
JOIN repositories r ON r.id = child.repository_id
JOIN manifest_refs ref ON ref.digest = child.digest AND ref.kind = 'manifest'
JOIN manifests parent ON parent.id = ref.manifest_id AND parent.repository_id = r.id
WHERE r.name = ? AND child.digest = ?
ORDER BY parent.id LIMIT 50
"""


@dataclass(frozen=True, slots=True)
class TrustPolicyRow:
    id: int
    project: str
    name: str
    repositories: str
    mode: str
    on_push: bool
    signers_json: str
    revision: int
    updated_by: str
    updated_at: float


def _row(row: tuple[object, ...]) -> TrustPolicyRow:
    return TrustPolicyRow(
        int(str(row[0])),
        str(row[1]),
        str(row[2]),
        str(row[3]),
        str(row[4]),
        bool(row[5]),
        str(row[6]),
        int(str(row[7])),
        str(row[8]),
        float(str(row[9])),
    )


class SqlTrustStore:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def trust_policies(self, project: str | None = None) -> list[TrustPolicyRow]:
        if project is None:
            rows = await self.db.fetchall(_ALL + " ORDER BY p.name, t.name")
        else:
            rows = await self.db.fetchall(_ALL + " WHERE p.name = ? ORDER BY t.name", (project,))
        return [_row(tuple(r)) for r in rows]

    async def put_trust_policy(self, row: TrustPolicyRow) -> TrustPolicyRow | None:
        """Create or replace the project's policy of that name (its revision grows); None
        when there is no such project."""

        async def work(session: Session) -> TrustPolicyRow | None:
            params = (row.name, row.repositories, row.mode, int(row.on_push), row.signers_json)
            changed = await session.execute(
                _UPSERT, (*params, row.updated_by, time.time(), row.project)
            )
            if not changed:
                return None
            found = await session.fetchone(
                _ALL + " WHERE p.name = ? AND t.name = ?", (row.project, row.name)
            )
            return None if found is None else _row(tuple(found))

        return await self.db.transaction(work)

    async def delete_trust_policy(self, project: str, name: str) -> bool:
        return await self.db.execute(_DELETE, (name, project)) > 0

    async def parent_indexes(self, repository: str, digest: str) -> list[str]:
        """Digests of the repository's indexes that list ``digest``."""
        rows = await self.db.fetchall(_PARENTS, (repository, digest))
        return [str(r[0]) for r in rows]
