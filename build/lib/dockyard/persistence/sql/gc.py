"""Queries for online garbage collection, on either backend.

A blob row moves ``publishing`` -> ``ready`` -> ``deleting`` -> gone. A sweep takes a blob to
``deleting`` (and removes its repository links) only inside a transaction that re-checks, at
that moment, that no manifest references it and that no upload, mount or manifest push has
pinned it; publishers that find ``deleting`` wait until the row is gone.

A ``publishing`` row is a publisher between placing the bytes and committing them: it is
never swept while its claim holds, whatever the grace period (with a grace of 0 a pin alone
protects nothing), so a sweep cannot delete bytes that were just moved into place. Only a
claim that lapsed a grace period ago (its publisher died) makes the row collectable.
"""

from __future__ import annotations

from dockyard.core.events import EventKind, EventOrigin, EventTarget
from dockyard.persistence.sql.gc_preview import GarbagePreviewQueries
from dockyard.persistence.sql.outbox import emit
from dockyard.persistence.sql.session import Database, Session

_UNREFERENCED = """
b.state <> 'deleting' AND b.pinned_until < ? AND b.committed_at < ?
AND (b.state = 'ready' OR b.pinned_until < ?)
AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.digest = b.digest AND r.kind = 'blob')
"""
_UNTAGGED = """
m.created_at < ?
AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
AND NOT EXISTS (
    SELECT 1 FROM manifest_refs r JOIN manifests p ON p.id = r.manifest_id
    WHERE r.kind = 'manifest' AND r.digest = m.digest AND p.repository_id = m.repository_id)
AND (m.subject_digest IS NULL OR NOT EXISTS (
    SELECT 1 FROM manifests s
    WHERE s.repository_id = m.repository_id AND s.digest = m.subject_digest))
"""

_UNTAGGED_LIST = (
    "SELECT r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id "  # noqa: S608
    f"WHERE {_UNTAGGED} ORDER BY m.id LIMIT ?"
)


class SqlGarbageStore(GarbagePreviewQueries):
    def __init__(self, database: Database) -> None:
        self.db = database

    async def collectable_blobs(
        self, pinned_before: float, committed_before: float, limit: int
    ) -> list[tuple[str, int]]:
        """Blobs no manifest references, unpinned and older than the grace period."""
        rows = await self.db.fetchall(
            f"SELECT b.digest, b.size FROM blobs b WHERE {_UNREFERENCED} "  # noqa: S608
            "ORDER BY b.id LIMIT ?",
            (pinned_before, committed_before, committed_before, limit),
        )
        return [(str(r[0]), int(r[1])) for r in rows]

    async def repositories_linking(self, digest: str) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT r.name FROM blobs b JOIN repository_blobs rb ON rb.blob_id = b.id "
            "JOIN repositories r ON r.id = rb.repository_id WHERE b.digest = ?",
            (digest,),
        )
        return [str(r[0]) for r in rows]

    async def mark_deleting(
        self, digest: str, pinned_before: float, committed_before: float
    ) -> list[str] | None:
        """Re-check and take the blob to ``deleting``, unlinking it everywhere.

        Returns the repositories it was linked into, or None when it is no longer collectable
        (something referenced or pinned it since it was listed).
        """

        async def work(session: Session) -> list[str] | None:
            row = await session.fetchone(
                f"SELECT b.id FROM blobs b WHERE b.digest = ? AND {_UNREFERENCED}",  # noqa: S608
                (digest, pinned_before, committed_before, committed_before),
            )
            if row is None:
                return None
            rows = await session.fetchall(
                "SELECT r.name FROM repository_blobs rb JOIN repositories r "
                "ON r.id = rb.repository_id WHERE rb.blob_id = ?",
                (row[0],),
            )
            await session.execute("DELETE FROM repository_blobs WHERE blob_id = ?", (row[0],))
            await session.execute("UPDATE blobs SET state = 'deleting' WHERE id = ?", (row[0],))
            return [str(r[0]) for r in rows]

        return await self.db.transaction(work)

    async def deleting_blobs(self, limit: int) -> list[tuple[str, int]]:
        """Blobs a sweep took to ``deleting`` but did not finish (a crash, a restart)."""
        rows = await self.db.fetchall(
            "SELECT digest, size FROM blobs WHERE state = 'deleting' ORDER BY id LIMIT ?", (limit,)
        )
        return [(str(r[0]), int(r[1])) for r in rows]

    async def forget_blob(self, digest: str) -> bool:
        """Drop the row of a blob whose bytes are gone."""
        changed = await self.db.execute(
            "DELETE FROM blobs WHERE digest = ? AND state = 'deleting'", (digest,)
        )
        return changed > 0

    async def untagged_manifests(
        self, now: float, grace: float, limit: int
    ) -> list[tuple[str, str]]:
        """(repository, digest) of manifests with no tag, no parent index and no live subject."""
        rows = await self.db.fetchall(_UNTAGGED_LIST, (now - grace, limit))
        return [(str(r[0]), str(r[1])) for r in rows]

    async def delete_untagged(
        self,
        repository: str,
        digest: str,
        now: float,
        grace: float,
        *,
        origin: EventOrigin | None = None,
    ) -> bool:
        """Delete the manifest if it is still untagged and unreferenced, with its
        ``manifest.deleted`` event (with an ``origin``) in the same transaction.

        One statement, but inside a transaction: on PostgreSQL that makes it SERIALIZABLE, so
        it conflicts with a concurrent push of an index listing the manifest (or a tag put on
        it) instead of deleting it under that push's feet, as a bare autocommit (READ
        COMMITTED) statement could.
        """

        async def work(session: Session) -> bool:
            row = await session.fetchone(
                f"DELETE FROM manifests WHERE id IN (SELECT m.id FROM manifests m "  # noqa: S608
                "JOIN repositories r ON r.id = m.repository_id "
                f"WHERE r.name = ? AND m.digest = ? AND {_UNTAGGED}) RETURNING media_type, size",
                (repository, digest, now - grace),
            )
            if row is None:
                return False
            target = EventTarget(digest, str(row[0]), int(row[1]))
            await emit(session, origin, EventKind.MANIFEST_DELETED, repository, target)
            return True

        return await self.db.transaction(work)
