"""What ``dockyard fsck`` reads (blobs, manifests with their references) and the quarantine.

Quarantining a blob follows garbage collection's life cycle: one transaction takes the row to
``deleting`` and removes its repository links (publishers of the same content then wait), the
caller moves the bytes aside, and ``forget_blob`` drops the row; a push of the same content
afterwards publishes it afresh, which is how an image heals.
"""

from __future__ import annotations

from dockyard.persistence.lifecycle_records import StoredManifest
from dockyard.persistence.sql.session import Database, Session

_MANIFESTS = """
SELECT m.id, m.digest, m.media_type, m.content FROM manifests m
JOIN repositories r ON r.id = m.repository_id WHERE r.name = ? ORDER BY m.id
"""
_REFS = """
SELECT mr.manifest_id, mr.digest, mr.kind FROM manifest_refs mr
JOIN manifests m ON m.id = mr.manifest_id JOIN repositories r ON r.id = m.repository_id
WHERE r.name = ? ORDER BY mr.digest
"""
_TAGS = """
SELECT t.manifest_id, t.name FROM tags t JOIN repositories r ON r.id = t.repository_id
WHERE r.name = ? ORDER BY t.name
"""
_LINKED = """
SELECT b.digest, b.size FROM repository_blobs rb JOIN blobs b ON b.id = rb.blob_id
JOIN repositories r ON r.id = rb.repository_id WHERE r.name = ? AND b.state = 'ready'
ORDER BY b.id
"""


class SqlIntegrity:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def blobs(self, after_id: int, limit: int) -> list[tuple[int, str, int]]:
        """(id, digest, size) of published blobs, in id order after ``after_id``."""
        rows = await self.db.fetchall(
            "SELECT id, digest, size FROM blobs WHERE state = 'ready' AND id > ? "
            "ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [(int(r[0]), str(r[1]), int(r[2])) for r in rows]

    async def count_blobs(self) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) FROM blobs WHERE state = 'ready'")
        return int(row[0]) if row else 0

    async def linked_blobs(self, repository: str) -> dict[str, int]:
        """Digest -> size of the published blobs linked into ``repository``."""
        return {str(r[0]): int(r[1]) for r in await self.db.fetchall(_LINKED, (repository,))}

    async def manifests(self, repository: str) -> list[StoredManifest]:
        """Every manifest of the repository: bytes, tags and what it references."""
        rows = await self.db.fetchall(_MANIFESTS, (repository,))
        refs: dict[int, list[tuple[str, str]]] = {}
        for manifest_id, digest, kind in await self.db.fetchall(_REFS, (repository,)):
            refs.setdefault(int(manifest_id), []).append((str(digest), str(kind)))
        tags: dict[int, list[str]] = {}
        for manifest_id, name in await self.db.fetchall(_TAGS, (repository,)):
            tags.setdefault(int(manifest_id), []).append(str(name))
        return [
            StoredManifest(
                digest=str(row[1]),
                media_type=str(row[2]),
                content=bytes(row[3]),
                tags=tuple(tags.get(int(row[0]), ())),
                blobs=tuple(d for d, kind in refs.get(int(row[0]), ()) if kind == "blob"),
                children=tuple(d for d, kind in refs.get(int(row[0]), ()) if kind == "manifest"),
            )
            for row in rows
        ]

    async def quarantine_blob(self, digest: str) -> list[str] | None:
        """Take a published blob to ``deleting`` and unlink it everywhere; the repositories it
        was linked into, or None when it is not a published blob (any more)."""

        async def work(session: Session) -> list[str] | None:
            row = await session.fetchone(
                "SELECT id FROM blobs WHERE digest = ? AND state = 'ready'", (digest,)
            )
            if row is None:
                return None
            names = await session.fetchall(
                "SELECT r.name FROM repository_blobs rb JOIN repositories r "
                "ON r.id = rb.repository_id WHERE rb.blob_id = ? ORDER BY r.name",
                (row[0],),
            )
            await session.execute("DELETE FROM repository_blobs WHERE blob_id = ?", (row[0],))
            await session.execute("UPDATE blobs SET state = 'deleting' WHERE id = ?", (row[0],))
            return [str(n[0]) for n in names]

        return await self.db.transaction(work)

    async def forget_blob(self, digest: str) -> bool:
        changed = await self.db.execute(
            "DELETE FROM blobs WHERE digest = ? AND state = 'deleting'", (digest,)
        )
        return changed > 0

    async def quarantine_manifest(self, repository: str, digest: str) -> bool:
        """Delete a manifest whose bytes were set aside (its tags and references go with it)."""
        changed = await self.db.execute(
            "DELETE FROM manifests WHERE digest = ? AND repository_id = "
            "(SELECT id FROM repositories WHERE name = ?)",
            (digest, repository),
        )
        return changed > 0
