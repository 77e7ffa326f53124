"""When the upstream of the pull-through cache last confirmed a tag (table ``mirror_tags``)."""

from __future__ import annotations

from dockyard.persistence.sql.session import Database

_CONFIRM = """
INSERT INTO mirror_tags(repository, tag, digest, confirmed_at) VALUES (?, ?, ?, ?)
ON CONFLICT (repository, tag) DO UPDATE SET digest = excluded.digest,
    confirmed_at = excluded.confirmed_at
WHERE mirror_tags.confirmed_at < excluded.confirmed_at OR mirror_tags.digest <> excluded.digest
"""


class SqlMirrorTags:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def confirmed(self, repository: str, tag: str) -> tuple[str, float] | None:
        """(digest, when) the upstream last confirmed ``tag``, or None."""
        row = await self.db.fetchone(
            "SELECT digest, confirmed_at FROM mirror_tags WHERE repository = ? AND tag = ?",
            (repository, tag),
        )
        return (str(row[0]), float(row[1])) if row else None

    async def confirm(self, repository: str, tag: str, digest: str, when: float) -> None:
        await self.db.execute(_CONFIRM, (repository, tag, digest, when))
