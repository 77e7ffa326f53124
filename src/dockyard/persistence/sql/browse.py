"""What the web UI and ``/api/v1`` show of repositories and tags, page by page, on either backend.

Every query is a keyset page on an index: tags by ``(repository_id, name)`` (the primary key),
repositories by their unique ``name``. A page of tags carries each tag's manifest bytes, so
sizes and platforms are computed from one query per page, never from a walk over all tags.
"""

from __future__ import annotations

from dockyard.persistence.records import TagDetail
from dockyard.persistence.sql.identity import contains
from dockyard.persistence.sql.session import Database, Row

_TAG_PAGE = """
SELECT t.name, m.digest, m.media_type, m.artifact_type, m.content, t.updated_at,
    m.created_at, m.last_pulled_at
FROM tags t JOIN manifests m ON m.id = t.manifest_id
WHERE t.repository_id = ? AND t.name > ? ORDER BY t.name LIMIT ?
"""
_TAG_PAGE_BY_PUSH = """
SELECT t.name, m.digest, m.media_type, m.artifact_type, m.content, t.updated_at,
    m.created_at, m.last_pulled_at
FROM tags t JOIN manifests m ON m.id = t.manifest_id
WHERE t.repository_id = ? AND (t.updated_at < ? OR (t.updated_at = ? AND t.name < ?))
ORDER BY t.updated_at DESC, t.name DESC LIMIT ?
"""
_MANIFEST_TIMES = """
SELECT m.created_at, m.last_pulled_at FROM manifests m
JOIN repositories r ON r.id = m.repository_id WHERE r.name = ? AND m.digest = ?
"""
_TAGS_OF = """
SELECT t.name FROM tags t JOIN manifests m ON m.id = t.manifest_id
JOIN repositories r ON r.id = t.repository_id
WHERE r.name = ? AND m.digest = ? ORDER BY t.name LIMIT ?
"""


def _time(value: object) -> float | None:
    return None if value is None else float(str(value))


def _detail(row: Row) -> TagDetail:
    return TagDetail(
        tag=str(row[0]),
        digest=str(row[1]),
        media_type=str(row[2]),
        artifact_type=None if row[3] is None else str(row[3]),
        content=bytes(row[4]),
        tagged_at=float(row[5]),
        pushed_at=float(row[6]),
        pulled_at=_time(row[7]),
    )


class SqlBrowse:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def tag_page(self, repository: str, after: str, limit: int) -> list[TagDetail] | None:
        """Tags after ``after`` in name order with their manifests; None: no such repository."""
        row = await self.db.fetchone("SELECT id FROM repositories WHERE name = ?", (repository,))
        if row is None:
            return None
        rows = await self.db.fetchall(_TAG_PAGE, (row[0], after, limit))
        return [_detail(r) for r in rows]

    async def tag_page_by_push(
        self, repository: str, after: tuple[float, str] | None, limit: int
    ) -> list[TagDetail] | None:
        """Tags newest first (by when the tag last moved, then name, both descending), after
        ``(tagged_at, name)``; None: no such repository. Index ``tags_pushed``."""
        row = await self.db.fetchone("SELECT id FROM repositories WHERE name = ?", (repository,))
        if row is None:
            return None
        moment, name = after if after is not None else (float("inf"), "")
        rows = await self.db.fetchall(_TAG_PAGE_BY_PUSH, (row[0], moment, moment, name, limit))
        return [_detail(r) for r in rows]

    async def manifest_times(
        self, repository: str, digest: str
    ) -> tuple[float, float | None] | None:
        """(pushed, last pulled) of one manifest; None when it is not in ``repository``."""
        row = await self.db.fetchone(_MANIFEST_TIMES, (repository, digest))
        return None if row is None else (float(row[0]), _time(row[1]))

    async def tags_of(self, repository: str, digest: str, limit: int) -> list[str]:
        """The tags that point at ``digest`` (at most ``limit``, in name order)."""
        rows = await self.db.fetchall(_TAGS_OF, (repository, digest, limit))
        return [str(r[0]) for r in rows]

    async def repositories_like(self, after: str, limit: int, text: str) -> list[str]:
        """Repository names after ``after`` that contain ``text``, in name order."""
        rows = await self.db.fetchall(
            "SELECT name FROM repositories WHERE name > ? AND name LIKE ? ESCAPE '!' "
            "ORDER BY name LIMIT ?",
            (after, contains(text), limit),
        )
        return [str(r[0]) for r in rows]
