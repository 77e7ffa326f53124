"""What retention, bulk deletion and immutability need to see and change, on either backend.

Deletions here re-check their premise inside the deleting transaction (the tags a manifest
carries, what lists it), so a decision taken on a snapshot never removes something that
changed in the meantime.
"""

from __future__ import annotations

from dockyard.core.events import EventKind, EventOrigin, EventTarget
from dockyard.persistence.lifecycle_records import BlobVeto, ManifestEntry, ManifestFacts, Veto
from dockyard.persistence.sql.event_targets import deleted_manifest
from dockyard.persistence.sql.outbox import emit
from dockyard.persistence.sql.session import Database, Session

_FIND = """
SELECT m.id, m.repository_id, m.media_type, m.size
FROM manifests m JOIN repositories r ON r.id = m.repository_id
WHERE r.name = ? AND m.digest = ?
"""
_PARENTS = """
SELECT p.id, t.name FROM manifest_refs mr JOIN manifests p ON p.id = mr.manifest_id
LEFT JOIN tags t ON t.manifest_id = p.id
WHERE mr.kind = 'manifest' AND mr.digest = ? AND p.repository_id = ?
"""
_MANIFESTS = """
SELECT m.id, m.digest, m.media_type, m.size, m.created_at, m.subject_digest, m.last_pulled_at
FROM manifests m WHERE m.repository_id = ? ORDER BY m.id
"""
_TAGS = "SELECT manifest_id, name, updated_at FROM tags WHERE repository_id = ?"
_CHILDREN = """
SELECT mr.manifest_id, mr.digest FROM manifest_refs mr JOIN manifests m ON m.id = mr.manifest_id
WHERE m.repository_id = ? AND mr.kind = 'manifest' ORDER BY mr.digest
"""
_DELETE_TAG = """
DELETE FROM tags WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND name = ?
AND manifest_id = (SELECT m.id FROM manifests m JOIN repositories r ON r.id = m.repository_id
    WHERE r.name = ? AND m.digest = ?)
"""

_BLOB_USERS = """
SELECT t.name, m.digest FROM manifest_refs mr JOIN manifests m ON m.id = mr.manifest_id
JOIN tags t ON t.manifest_id = m.id
WHERE mr.kind = 'blob' AND mr.digest = ? AND m.repository_id = ?
UNION
SELECT t.name, p.digest FROM manifest_refs mr JOIN manifests m ON m.id = mr.manifest_id
JOIN manifest_refs pr ON pr.kind = 'manifest' AND pr.digest = m.digest
JOIN manifests p ON p.id = pr.manifest_id AND p.repository_id = m.repository_id
JOIN tags t ON t.manifest_id = p.id
WHERE mr.kind = 'blob' AND mr.digest = ? AND m.repository_id = ?
"""
_UNLINK = """
DELETE FROM repository_blobs WHERE repository_id = ?
AND blob_id = (SELECT id FROM blobs WHERE digest = ?)
"""


async def _facts(
    session: Session, manifest_id: int, repository_id: int, digest: str
) -> ManifestFacts:
    rows = await session.fetchall("SELECT name FROM tags WHERE manifest_id = ?", (manifest_id,))
    parents = await session.fetchall(_PARENTS, (digest, repository_id))
    return ManifestFacts(
        tags=sorted(str(r[0]) for r in rows),
        parent_tags=sorted(str(r[1]) for r in parents if r[1] is not None),
        parents=len({r[0] for r in parents}),
    )


class SqlInventory:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def delete_manifest_checked(
        self, repository: str, digest: str, veto: Veto, *, origin: EventOrigin | None = None
    ) -> str:
        """Delete a manifest unless ``veto(facts)`` objects, deciding inside the transaction
        (a ``manifest.deleted`` event with an ``origin``).

        Returns ``"deleted"``, ``"missing"``, or the veto's reason (nothing deleted then).
        """

        async def work(session: Session) -> str:
            row = await session.fetchone(_FIND, (repository, digest))
            if row is None:
                return "missing"
            manifest_id, repository_id = int(row[0]), int(row[1])
            reason = veto(await _facts(session, manifest_id, repository_id, digest))
            if reason is not None:
                return reason
            target = await deleted_manifest(session, manifest_id, digest, str(row[2]), row[3])
            await session.execute("DELETE FROM manifests WHERE id = ?", (manifest_id,))
            await emit(session, origin, EventKind.MANIFEST_DELETED, repository, target)
            return "deleted"

        return await self.db.transaction(work)

    async def unlink_blob_checked(
        self, repository: str, digest: str, veto: BlobVeto, *, origin: EventOrigin | None = None
    ) -> str:
        """Unlink a blob from the repository unless ``veto`` objects to the tags that need it
        ((tag, manifest digest): tags on manifests using it and on indexes listing those),
        deciding inside the transaction. ``"deleted"``, ``"missing"`` or the veto's reason."""

        async def work(session: Session) -> str:
            row = await session.fetchone(
                "SELECT id FROM repositories WHERE name = ?", (repository,)
            )
            if row is None:
                return "missing"
            params = (digest, row[0], digest, row[0])
            users = [(str(r[0]), str(r[1])) for r in await session.fetchall(_BLOB_USERS, params)]
            reason = veto(sorted(users))
            if reason is not None:
                return reason
            changed = await session.execute(_UNLINK, (row[0], digest))
            if not changed:
                return "missing"
            target = EventTarget(digest)
            await emit(session, origin, EventKind.BLOB_DELETED, repository, target)
            return "deleted"

        return await self.db.transaction(work)

    async def delete_tag_if(
        self, repository: str, tag: str, digest: str, *, origin: EventOrigin | None = None
    ) -> bool:
        """Delete ``tag`` if it still points to ``digest`` (one statement), with its
        ``tag.deleted`` event in the same transaction."""

        async def work(session: Session) -> bool:
            if not await session.execute(_DELETE_TAG, (repository, tag, repository, digest)):
                return False
            target = EventTarget(digest, tags=(tag,))
            await emit(session, origin, EventKind.TAG_DELETED, repository, target)
            return True

        return await self.db.transaction(work)

    async def repository_manifests(self, repository: str) -> list[ManifestEntry]:
        """Every manifest of the repository with its tags and the manifests it lists."""
        row = await self.db.fetchone("SELECT id FROM repositories WHERE name = ?", (repository,))
        if row is None:
            return []
        manifests = await self.db.fetchall(_MANIFESTS, (row[0],))
        tags: dict[int, dict[str, float]] = {}
        for manifest_id, name, updated_at in await self.db.fetchall(_TAGS, (row[0],)):
            tags.setdefault(int(manifest_id), {})[str(name)] = float(updated_at)
        children: dict[int, list[str]] = {}
        for manifest_id, child in await self.db.fetchall(_CHILDREN, (row[0],)):
            children.setdefault(int(manifest_id), []).append(str(child))
        return [
            ManifestEntry(
                digest=str(m[1]),
                media_type=str(m[2]),
                size=int(m[3]),
                created_at=float(m[4]),
                subject=None if m[5] is None else str(m[5]),
                tags=tags.get(int(m[0]), {}),
                children=tuple(children.get(int(m[0]), ())),
                last_pulled_at=None if m[6] is None else float(m[6]),
            )
            for m in manifests
        ]
